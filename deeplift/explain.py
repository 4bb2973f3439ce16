"""DeepLIFT heatmaps of SSD detections (paper section 3.2.2): one heatmap per target."""
from typing import Sequence

import torch
from torch import nn

from ssd.inputs import check_input, check_tensor
from ssd.targets import Target, check_targets

from .attribute import contributions
from .blur import blur


def explain(model: nn.Module, x: torch.Tensor, targets: Sequence[Target], gamma: float = 0.1,
            first: str | None = "flat", reference="blur", rule: str = "rescale", maxpool: str = "gradient",
            chunk: int = 8) -> torch.Tensor:
    """Heatmaps [K,H,W] of the K targets of one image x [1,3,H,W] (colour channels summed).

    The paper's setting: reference = Gaussian blur of the image (σ 12, 80×80; "zeros" is the
    dataset-mean grey, or give a tensor [1,3,H,W]), γ = 0.1 on every convolution, ♭ rule on the
    first. Target k's seed is one-hot at its class logit at its prior, so with γ = 0 and
    maxpool="rescale" the heatmap sums to Δlogit = logit(x) − logit(reference) (with the default
    maxpool="gradient" only approximately). `rule`, `maxpool`: see deeplift.attribute. All targets
    share one forward pass; their backward passes run batched, `chunk` at a time (memory grows
    with `chunk`). x is checked first (`ssd.check_input`: the model's size, dtype and device, finite
    values), and so is a reference tensor (finite, x's shape).
    """
    if not torch.is_tensor(x) or x.dim() != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"explain expects one image x [1,3,H,W], got {tuple(x.shape) if torch.is_tensor(x) else type(x)}")
    check_input(model, x)
    if int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}")
    targets = [Target(*t) for t in targets]
    if not targets:
        check_targets(targets, 0, 0)   # raises the "no targets" error
    ref = reference_image(x, reference)
    batched = len(targets) > 1

    def make_seeds(outputs):
        logits = outputs[0]
        if logits.dim() != 3:
            raise ValueError(f"the model's first output must be logits [N,P,C], got {tuple(logits.shape)}")
        check_targets(targets, logits.shape[1], logits.shape[2])
        seeds = []
        for start in range(0, len(targets), chunk):
            part = targets[start:start + chunk]
            seed = torch.zeros((len(part),) + logits.shape, device=logits.device, dtype=logits.dtype)
            for k, t in enumerate(part):
                seed[k, 0, t.prior, t.label] = 1.0
            seeds.append(((seed if batched else seed[0]),) + (None,) * (len(outputs) - 1))
        return seeds

    parts = contributions(model, x, ref, make_seeds, gamma, first, rule, maxpool, batched)
    # [K,1,3,H,W] per chunk (or [1,3,H,W] for one target) -> [K,H,W]
    return torch.cat([c.reshape(-1, *x.shape[1:]).sum(dim=1) for c in parts])


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
