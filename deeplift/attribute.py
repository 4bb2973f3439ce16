"""deeplift.attribute: contributions of an input's difference from a reference (paper section 2.2).

    Δt = Σ_i C_{Δa_i Δt} = Σ_i m_{Δa_i Δt} · Δa_i,     m_{Δa_i Δt} = Σ_j m_{Δa_i Δy_j} m_{Δy_j Δt}

The chain rule for multipliers is autograd's chain rule once hooks.py has replaced each layer's
local gradient by its DeepLIFT multiplier (linear rule: w; Rescale, eq. 2.2: Δy/Δx; RevealCancel).
"""
from typing import Callable, Sequence

import torch
from torch import nn

from .flat import spread_flat
from .hooks import DeepLiftHooks

FIRST_RULES = (None, "flat")


def attribute(model: nn.Module, x: torch.Tensor, reference: torch.Tensor, seed, gamma: float = 0.0,
              first: str | None = None, rule: str = "rescale", maxpool: str = "gradient") -> torch.Tensor:
    """DeepLIFT contributions C shaped like x [N,...] (row n explains row n of x with row n of seed).

    C = (x − reference) ⊙ m, where m is the multiplier of the seeded output Σ seed ⊙ f. With
    gamma = 0 and no max-pooling (or maxpool="rescale"), summation-to-delta holds:

        Σ C[n] = Σ seed[n] ⊙ (f(x)[n] − f(reference)[n])

    Arguments:
        reference: [N,...] or [1,...] (one reference for all rows).
        seed: shaped like the model output ([N,...]); for a model that returns a tuple (SSD:
            logits, deltas), a tuple with one tensor or None per output.
        gamma: the linear rule uses (1+γ)w for w > 0 in every Conv2d/Linear, backward only.
        first: "flat" spreads the first layer's contributions over its receptive fields (flat.py).
        rule: "rescale" (eq. 2.2) or "revealcancel" (Shrikumar et al. 2017, section 3.5.3) for ReLUs.
        maxpool: "gradient" (own gradient at the input) or "rescale" (conserving, maxpool.py).
    The model must be in eval mode; its hooks are removed afterwards, also on errors.
    """
    return contributions(model, x, reference, lambda outputs: [seed], gamma, first, rule, maxpool, batched=False)[0]


def contributions(model: nn.Module, x: torch.Tensor, reference: torch.Tensor,
                  make_seeds: Callable[[tuple], Sequence], gamma: float, first: str | None, rule: str,
                  maxpool: str, batched: bool) -> list[torch.Tensor]:
    """Contributions for several seeds from ONE forward pass.

    `make_seeds(outputs)` gets the model outputs (a tuple) and returns a list of seeds; with
    `batched`, each seed has a leading dimension K (K backward passes run as one vmapped pass,
    `is_grads_batched`) and gives contributions [K, *x.shape]; else each gives [*x.shape].
    """
    if first not in FIRST_RULES:
        raise ValueError(f"unknown first-layer rule {first!r}: use None or 'flat'")
    reference = _check_reference(x, reference)
    with DeepLiftHooks(model, rule=rule, gamma=gamma, flat=first == "flat", maxpool=maxpool) as hooks:
        output = hooks.run(x, reference)
    outputs = tuple(output) if isinstance(output, (tuple, list)) else (output,)
    seeds = make_seeds(outputs)
    results = []
    for i, seed in enumerate(seeds):
        pairs = _seeded_outputs(outputs, seed, batched)
        grad = torch.autograd.grad([o for o, _ in pairs], hooks.leaf, [s for _, s in pairs],
                                   retain_graph=i < len(seeds) - 1, is_grads_batched=batched,
                                   allow_unused=True)[0]
        if grad is None:   # the seeded outputs do not depend on the input
            lead = pairs[0][1].shape[:1] if batched else ()
            grad = torch.zeros(lead + hooks.leaf.shape, device=x.device, dtype=x.dtype)
        c = grad * hooks.leaf_delta
        if first == "flat":
            lead = grad.shape[:1 + batched]                    # [K,N] or [N]
            per_row = c.reshape(-1, *c.shape[1 + batched:])    # [K·N, Cout, H', W']
            c = spread_flat(hooks.first, per_row, (per_row.shape[0], *x.shape[1:])).reshape(*lead, *x.shape[1:])
        results.append(c)
    return results


def _check_reference(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError("x must be a floating-point tensor")
    if not torch.is_tensor(reference):
        raise ValueError(f"reference must be a tensor, got {type(reference).__name__}")
    if reference.dim() != x.dim() or reference.shape[0] not in (1, x.shape[0]) or reference.shape[1:] != x.shape[1:]:
        raise ValueError(f"reference shape {tuple(reference.shape)} does not match x {tuple(x.shape)} "
                         "(use the same shape, or batch size 1)")
    return reference.detach().to(device=x.device, dtype=x.dtype)


def _seeded_outputs(outputs: tuple, seed, batched: bool) -> list:
    """Pairs (output, seed) for the outputs that have a seed, with shapes checked."""
    seeds = tuple(seed) if isinstance(seed, (tuple, list)) else (seed,)
    if len(seeds) != len(outputs):
        raise ValueError(f"the model returns {len(outputs)} outputs but {len(seeds)} seeds were given "
                         "(give a tuple with one tensor or None per output)")
    pairs = []
    for o, s in zip(outputs, seeds):
        if s is None:
            continue
        s = torch.as_tensor(s, device=o.device, dtype=o.dtype)
        if (s.shape[1:] if batched else s.shape) != o.shape:
            raise ValueError(f"seed shape {tuple(s.shape)} does not match the output shape {tuple(o.shape)}"
                             + (" with a leading batch of seeds" if batched else ""))
        pairs.append((o, s))
    if not pairs:
        raise ValueError("every seed is None: nothing to explain")
    return pairs
