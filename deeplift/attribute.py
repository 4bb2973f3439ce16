"""deeplift.attribute: contributions of an input's difference from a reference (paper section 2.2).

    Δt = Σ_i C_{Δa_i Δt} = Σ_i m_{Δa_i Δt} · Δa_i,     m_{Δa_i Δt} = Σ_j m_{Δa_i Δy_j} m_{Δy_j Δt}

The chain rule for multipliers is autograd's chain rule once the rules (rules.py) have replaced each
layer's local gradient by its multiplier. Two forward passes share one call's hooks (`lrp.hooks`):
the reference pass (no graph) lets each rule record what it needs, the input pass replaces outputs
by stand-ins. The input is x + (unit − 1) ⊙ Δx (`lrp.hooks.leaf`), so the gradient at the all-ones
leaf is C = Δx ⊙ m itself. Only the input row carries a graph: a backward pass costs one row, not the
two of a batch [input; reference].
"""
from collections import deque

import torch
from torch import nn

from lrp import backward_pass
from lrp.hooks import Hooks, forward, leaf
from ssd.checks import check_tensor

from .composite import composite
from .rules import Unsupported


def attribute(model: nn.Module, x: torch.Tensor, reference: torch.Tensor, seed, rules=None,
              batched: bool = False, backward: str = "auto") -> torch.Tensor:
    """DeepLIFT contributions C shaped like x [N,...] (row n explains row n of x with row n of seed).

    C = (x − reference) ⊙ m, where m is the multiplier of the seeded output Σ seed ⊙ f. With the
    linear rule without γ and no max-pooling (or MaxPoolRescale), summation-to-delta holds:

        Σ C[n] = Σ seed[n] ⊙ (f(x)[n] − f(reference)[n])

    reference: [N,...] or [1,...] (one reference for all rows). seed: shaped like the model output;
    for a model that returns a tuple (SSD: logits, deltas), a tuple with one tensor or None per
    output; with `batched`, each seed has a leading dimension K and C is [K, *x.shape] (K backward
    passes of one forward pass, `backward`: "loop", "vmap" or "auto", see `lrp.backward_pass.backward`).
    rules(name, module) -> rule: `deeplift.composite(...)` (default: Rescale, linear rule, gradient
    through max-pooling). x and reference must be finite. The model and its parameters are left as
    they were, also on errors.
    """
    if backward not in backward_pass.BACKWARDS:
        raise ValueError(f"unknown backward mode {backward!r}: use one of {backward_pass.BACKWARDS}")
    unit, output = prepare(model, x, reference, composite() if rules is None else rules)
    return backward_pass.backward(unit, backward_pass.seeded(output, seed, batched), batched, False, backward)


def prepare(model: nn.Module, x: torch.Tensor, reference: torch.Tensor, rules, keep: dict | None = None):
    """The reference pass and the input pass of `model` with the rules' hooks -> (unit, output):
    the all-ones leaf [N,...] whose gradient is the contribution, and the input pass's output.
    `keep`: {module: …} receives those modules' outputs of the input pass (`lrp.hooks.Hooks`)."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError("DeepLIFT runs on autograd: call it outside torch.inference_mode()")
    x = check_tensor(x, "x").detach()
    reference = _check_reference(x, reference)
    bad = [f"{name or 'model'} ({type(m).__name__})" for name, m in model.named_modules()
           if isinstance(rules(name, m), Unsupported)]
    if bad:
        raise ValueError("deeplift has no rule for these modules: " + ", ".join(bad)
                         + "; supported: Conv2d, Linear, ReLU, max/avg-pooling, Flatten, Identity, Dropout, "
                           "BatchNorm2d, and the types given to deeplift.composite(layers=...)")
    x = x.clone() if x.is_inference() else x
    records: dict[nn.Module, deque] = {}
    phase = ["reference"]

    def apply(hooks, module, rule, a, z):
        if phase[0] == "reference":
            records.setdefault(module, deque()).append(rule.record(module, a, z, hooks))
            return None
        if not records.get(module):
            raise RuntimeError("the model called its layers differently for the input and the reference")
        return rule(module, a, z, records[module].popleft(), hooks)

    unit, model_input = leaf(x, x - reference)
    with Hooks(model, rules, apply, keep) as hooks:
        with torch.no_grad():
            forward(hooks, reference)
        phase[0] = "input"
        output = forward(hooks, model_input, unit)
    if any(records.values()):
        raise RuntimeError("the model called its layers differently for the input and the reference")
    return unit, output


def _check_reference(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(reference):
        raise ValueError(f"reference must be a tensor, got {type(reference).__name__}")
    if reference.dim() != x.dim() or reference.shape[0] not in (1, x.shape[0]) or reference.shape[1:] != x.shape[1:]:
        raise ValueError(f"reference shape {tuple(reference.shape)} does not match x {tuple(x.shape)} "
                         "(use the same shape, or batch size 1)")
    return check_tensor(reference.detach().to(device=x.device, dtype=x.dtype), "reference")
