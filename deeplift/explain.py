"""DeepLIFT heatmaps of SSD detections (paper section 3.2.2): one heatmap per target."""
from typing import Sequence

import torch
from torch import nn

import ssd
from lrp.backward_pass import BACKWARDS, target_maps
from ssd.checks import check_hyperparameter, check_maps, check_tensor

from .attribute import prepare
from .blur import blur
from .composite import composite
from .rules import Flat, Gradient, L2NormRescale, Linear, MaxPoolRescale, Rescale, RevealCancel

RULES = {"rescale": Rescale, "revealcancel": RevealCancel}
MAXPOOL_RULES = {"gradient": Gradient, "rescale": MaxPoolRescale}


def explain(model: nn.Module, x: torch.Tensor,
            targets: Sequence[ssd.Target | ssd.BoxTarget | ssd.ContrastTarget | tuple[int, int]], gamma: float = 0.1,
            first: str | None = "flat", reference="blur", rule: str = "rescale", maxpool: str = "gradient",
            chunk: int = 8, backward: str = "auto") -> torch.Tensor:
    """Heatmaps [K,H,W] of the K targets (ssd.Target or (prior, label) pairs, ssd.BoxTarget,
    ssd.ContrastTarget, in any mix) of one image x [1,3,H,W] (colour channels summed).

    The paper's setting: reference = Gaussian blur of the image (σ 12, 80×80; "zeros" is the
    dataset-mean grey, or give a tensor [1,3,H,W]), γ = 0.1 on every convolution (`deeplift.Linear`),
    ♭ rule on the first (`first="flat"`), Rescale for the ReLUs (`rule="revealcancel"`: RevealCancel)
    and for the ℓ2-Norm (`deeplift.L2NormRescale`), max-pooling by its gradient (`maxpool="rescale"`:
    `deeplift.MaxPoolRescale`). Target k's seed is its weights on the head outputs it is made of
    (`ssd.targets`: 1 on the class logit, 1 on the regression output in the box head, +1 and −1 on the
    two logits of a contrast), so with γ = 0 and maxpool="rescale" the heatmap sums to the target's
    change Δs = s(x) − s(reference) (e.g. Δlogit[label] − Δlogit[other]). All targets share one
    forward pass; their backward passes run `chunk` at a time, as a loop or batched (`backward`, see
    `lrp.backward_pass.backward`; same result). x is checked first (`ssd.check_input`),
    and so is a reference tensor (finite, x's shape), and γ (`gamma_limit`). A map holding NaN or
    ±inf is a ValueError naming the settings and the target (`ssd.checks.check_maps`).
    """
    if not torch.is_tensor(x) or x.dim() != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"explain expects one image x [1,3,H,W], got {tuple(x.shape) if torch.is_tensor(x) else type(x)}")
    ssd.check_input(model, x)
    if int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}")
    if backward not in BACKWARDS:
        raise ValueError(f"unknown backward mode {backward!r}: use one of {BACKWARDS}")
    if rule not in RULES:
        raise ValueError(f"unknown DeepLIFT rule {rule!r}: use one of {tuple(RULES)}")
    if maxpool not in MAXPOOL_RULES:
        raise ValueError(f"unknown max-pooling rule {maxpool!r}: use one of {tuple(MAXPOOL_RULES)}")
    if first not in (None, "flat"):
        raise ValueError(f"unknown first-layer rule {first!r}: use None or 'flat'")
    limit, layers = gamma_limit(model, first)
    if check_hyperparameter("gamma", gamma) > limit:
        dtype = next(model.parameters()).dtype
        raise ValueError(f"gamma={gamma:g} is too large for this network: the γ rule multiplies the positive "
                         f"weights by 1+γ in each of its {layers} layers, and (1+γ)^{layers} overflows {dtype} "
                         f"(max {torch.finfo(dtype).max:.1e}); use gamma ≤ {limit:.3g}")
    targets = [ssd.as_target(t) for t in targets]
    if not targets:
        ssd.check_targets(targets, 0, 0)   # raises the "no targets" error
    rules = composite(linear=Linear(gamma), relu=RULES[rule](), first=Flat() if first == "flat" else None,
                      maxpool=MAXPOOL_RULES[maxpool](), layers={ssd.L2Norm: L2NormRescale()})
    heads = {head: None for head in (*model.cls_heads, *model.box_heads)}   # their outputs, to seed there
    unit, output = prepare(model, x, reference_image(x, reference), rules, keep=heads)
    logits = output[0]
    if logits.dim() != 3:
        raise ValueError(f"the model's first output must be logits [N,P,C], got {tuple(logits.shape)}")
    ssd.check_targets(targets, logits.shape[1], logits.shape[2])
    maps = target_maps(unit, ssd.head_seeds(model, heads, output, targets), chunk, backward)
    settings = {"gamma": gamma, "first": first, "reference": reference if isinstance(reference, str) else "tensor",
                "rule": rule, "maxpool": maxpool}
    return check_maps(maps, "deeplift", settings, targets)


def gamma_limit(model: nn.Module, first: str | None = "flat") -> tuple[float, int]:
    """(γ_max, L): the γ rule's multipliers w + γw⁺ are not renormalised (unlike LRP's), so along a
    path of L layers with γ they grow by up to (1+γ)^L. L counts the layers of the deepest path (an
    ssd.SSD: its body and extras in sequence, and a head; another network: every Conv2d and Linear,
    a bound on any path), less the first layer where ♭ replaces γ; γ_max is the largest γ with
    (1+γ)^L ≤ the largest float of the model's dtype."""
    if hasattr(model, "features"):
        layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.features.modules()) + 1
    else:
        layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    layers -= first == "flat"
    dtype = next(model.parameters()).dtype
    return torch.finfo(dtype).max ** (1 / layers) - 1, layers


def reference_image(x: torch.Tensor, reference) -> torch.Tensor:
    """The reference [1,3,H,W] for x [1,3,H,W]: "blur", "zeros" or a tensor."""
    if isinstance(reference, str):
        if reference == "blur":
            return blur(x)
        if reference == "zeros":
            return torch.zeros_like(x)
        raise ValueError(f"unknown reference {reference!r}: use 'blur', 'zeros' or a tensor")
    if not torch.is_tensor(reference):
        raise ValueError(f"reference must be 'blur', 'zeros' or a tensor, got {type(reference).__name__}")
    check_tensor(reference, "reference")
    if reference.dim() == 3:
        reference = reference.unsqueeze(0)
    if reference.shape != x.shape:
        raise ValueError(f"reference shape {tuple(reference.shape)} does not match the image {tuple(x.shape)}")
    return reference.to(device=x.device, dtype=x.dtype)
