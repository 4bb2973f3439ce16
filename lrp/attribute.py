"""`lrp.attribute`: the relevance of every input value for relevance placed on the model output.

Rules are attached as forward hooks for the duration of one forward pass; autograd then carries
relevance per activation (see `redistribute`) back to an all-ones tensor `unit` that multiplies the
input, so that the gradient reaching `unit` is the input relevance R = x ⊙ c itself.
"""
from typing import Callable

import torch
from torch import nn

from .redistribute import safe_divide
from .rules import Rule

Rules = Callable[[str, nn.Module], Rule | None]


def _hook(rule: Rule, model_input: torch.Tensor, unit: torch.Tensor):
    def hook(module, inputs, output):
        a = inputs[0]
        return rule(module, a, output, unit if a is model_input else None)
    return hook


def prepare(model: nn.Module, x: torch.Tensor, rules: Rules):
    """One forward pass of `model` on x [N,...] with the rules' hooks in place.

    Returns (unit, output): the all-ones leaf [N,...] whose gradient will be the relevance, and the
    model output (a tensor or a tuple of tensors) whose graph carries the rules. The hooks are
    removed before returning, also when the forward pass raises.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError("LRP runs on autograd: call it outside torch.inference_mode()")
    if not torch.is_floating_point(x):
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    x = x.detach().clone() if x.is_inference() else x.detach()   # an inference tensor cannot join a graph
    unit = torch.ones_like(x, requires_grad=True)
    model_input = x * unit
    handles = []
    try:
        for name, module in model.named_modules():
            rule = rules(name, module)
            if rule is not None:
                handles.append(module.register_forward_hook(_hook(rule, model_input, unit)))
        with torch.enable_grad():
            output = model(model_input)
    finally:
        for handle in handles:
            handle.remove()
    return unit, output


def propagate(unit: torch.Tensor, output, seed, batched: bool = False,
              retain_graph: bool = False) -> torch.Tensor:
    """Relevance [N,...] (or [K,N,...] if `batched`) at the input for relevance `seed` on `output`.

    seed: shaped like output, or [K, *output.shape] with `batched=True` (K seeds, one batched backward
    pass); for a tuple output, a tuple of such seeds with None where no relevance is placed.
    The gradient placed on the output is seed / output (relevance per activation); relevance seeded
    on an output value that is exactly 0 is dropped.
    """
    outputs, seeds = (list(output), list(seed)) if isinstance(output, (tuple, list)) else ([output], [seed])
    if len(outputs) != len(seeds):
        raise ValueError(f"the model returns {len(outputs)} outputs but {len(seeds)} seeds were given")
    pairs = [(o, s) for o, s in zip(outputs, seeds) if s is not None]
    if not pairs:
        raise ValueError("no seed given: every seed is None")
    for o, s in pairs:
        expected = ((s.shape[0],) if batched else ()) + tuple(o.shape)
        if tuple(s.shape) != expected:
            raise ValueError(f"seed shape {tuple(s.shape)} does not match the output: expected {expected}"
                             + (" ([K, *output.shape] because batched=True)" if batched else ""))
    grads = [safe_divide(s.to(o.dtype), o.detach()) for o, s in pairs]
    (relevance,) = torch.autograd.grad([o for o, _ in pairs], unit, grads, retain_graph=retain_graph,
                                       is_grads_batched=batched, allow_unused=True)
    if relevance is None:  # the seeded outputs do not depend on the input
        shape = ((seeds[0].shape[0],) if batched else ()) + tuple(unit.shape)
        relevance = unit.new_zeros(shape)
    return relevance


def attribute(model: nn.Module, x: torch.Tensor, seed, rules: Rules, batched: bool = False) -> torch.Tensor:
    """LRP relevance of x [N,...] for relevance `seed` on the model output -> shaped like x.

    rules(name, module) -> Rule | None picks the rule of each module (e.g. `lrp.composite(...)`);
    None leaves the module's own gradient, which is right for ReLU, routes relevance winner-takes-all
    through max-pooling, proportionally to the inputs (LRP-0) through average pooling, and is LRP-0
    (no stabiliser) for a Conv2d/Linear. Row n of x is explained with row n of the seed. With
    `batched=True` the seed is [K, *output.shape] and the result [K, *x.shape], from one forward and
    one batched backward pass. The model's parameters and their .grad are left untouched.
    """
    unit, output = prepare(model, x, rules)
    return propagate(unit, output, seed, batched=batched)
