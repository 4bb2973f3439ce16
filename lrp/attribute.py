"""`lrp.attribute`: the relevance of every input value for relevance placed on the model output.

Rules are attached as forward hooks for the duration of one forward pass (`lrp.hooks`); autograd
then carries relevance per activation (see `redistribute`) back to the all-ones leaf `unit` of
`lrp.hooks.leaf` (Δ = x), so that the gradient reaching `unit` is the input relevance R = x ⊙ c itself.
"""
from typing import Callable

import torch
from torch import nn

from ssd.checks import check_tensor

from . import backward_pass
from .hooks import AtInput, Hooks, forward, leaf
from .redistribute import safe_divide
from .rules import Rule

Rules = Callable[[str, nn.Module], Rule | AtInput | None]


def _apply(hooks: Hooks, module: nn.Module, rule: Rule, a: torch.Tensor, z: torch.Tensor):
    return rule(module, a, z, hooks.unit if hooks.at_input(a) else None)


def prepare(model: nn.Module, x: torch.Tensor, rules: Rules, keep: dict | None = None):
    """One forward pass of `model` on x [N,...] with the rules' hooks in place.

    Returns (unit, output): the all-ones leaf [N,...] whose gradient will be the relevance, and the
    model output (a tensor or a tuple of tensors) whose graph carries the rules. `keep`: {module: …}
    receives those modules' outputs (`Hooks`). The hooks are removed before returning, also
    when the forward pass raises.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError("LRP runs on autograd: call it outside torch.inference_mode()")
    check_tensor(x, "x")
    x = x.detach().clone() if x.is_inference() else x.detach()   # an inference tensor cannot join a graph
    unit, model_input = leaf(x, x)
    with Hooks(model, rules, _apply, keep) as hooks:
        output = forward(hooks, model_input, unit)
    return unit, output


def propagate(unit: torch.Tensor, output, seed, batched: bool = False,
              retain_graph: bool = False, backward: str = "auto") -> torch.Tensor:
    """Relevance [N,...] (or [K,N,...] if `batched`) at the input for relevance `seed` on `output`.

    seed: shaped like output, or [K, *output.shape] with `batched=True` (K seeds); for a tuple output,
    a tuple of such seeds with None where no relevance is placed. The gradient placed on the output
    is seed / output (relevance per activation); relevance seeded on an output value that is exactly
    0 is dropped. backward: "auto", "loop" or "vmap" (`lrp.backward_pass.backward`; same result).
    """
    pairs = [(o, safe_divide(s, o.detach())) for o, s in backward_pass.seeded(output, seed, batched)]
    return backward_pass.backward(unit, pairs, batched, retain_graph, backward)


def attribute(model: nn.Module, x: torch.Tensor, seed, rules: Rules, batched: bool = False,
              backward: str = "auto") -> torch.Tensor:
    """LRP relevance of x [N,...] for relevance `seed` on the model output -> shaped like x.

    rules(name, module) -> Rule | None picks the rule of each module (e.g. `lrp.composite(...)`);
    None leaves the module's own gradient, which is right for ReLU, routes relevance winner-takes-all
    through max-pooling, proportionally to the inputs (LRP-0) through average pooling, and is LRP-0
    (no stabiliser) for a Conv2d/Linear. Row n of x is explained with row n of the seed. With
    `batched=True` the seed is [K, *output.shape] and the result [K, *x.shape], from one forward pass
    and K backward passes (`backward`: "loop", "vmap" or "auto", see `lrp.backward_pass.backward`). x must be
    finite. The model's parameters and their .grad are left untouched.
    """
    if backward not in backward_pass.BACKWARDS:
        raise ValueError(f"unknown backward mode {backward!r}: use one of {backward_pass.BACKWARDS}")
    unit, output = prepare(model, x, rules)
    return propagate(unit, output, seed, batched=batched, backward=backward)
