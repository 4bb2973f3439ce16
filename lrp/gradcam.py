"""Grad-CAM for an SSD's detections (Selvaraju et al. 2017), and ODAM (Zhao et al., ICLR 2023) as an
option: class-activation maps at the feature map each target's head reads.

A target of source k (`ssd.targets`: a class logit, a box output or a contrast at its prior) is a
linear function of that source's feature map A [C,h,w] (conv4_3 after the ℓ2-Norm, fc7, or an extra
block's output), read by the 3×3 heads at the prior's location. With the gradient G = ∂s/∂A:

    Grad-CAM:  M = ReLU( Σ_c α_c A_c ),   α_c = 1/(h·w) Σ_ij G_cij     (channel weights: mean gradient)
    ODAM:      M = ReLU( Σ_c G_c ⊙ A_c )                               (the gradient kept per location)

and M [h,w] is upsampled bilinearly to the input size. Grad-CAM is the default: it is the reference
the field compares against. At an SSD source its weights α are averaged from the 3×3 window the
head reads, and the map then shows everywhere those channels fire (also other objects of the
class); ODAM keeps the window itself, so its map is instance-specific but at an SSD source never
leaves the head's 3×3 cells around the prior (conv4_3: 24×24 pixels): it can say which of those
cells mattered and nothing else.

No hooks: the sources come from the model's own `sources`, without a graph; each needed source is
then a leaf of a graph through the heads only, so a target's backward pass is one head's input
gradient. Parameters and their .grad are never touched.
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

import ssd
from ssd.checks import check_maps
from ssd.targets import terms

MODES = ("gradcam", "odam")


def cam(activation: torch.Tensor, gradient: torch.Tensor, mode: str = "gradcam") -> torch.Tensor:
    """The class-activation map of each gradient (module docstring): activation A [C,h,w], gradients
    G [K,C,h,w] -> M [K,h,w] (≥ 0)."""
    if mode == "gradcam":
        alpha = gradient.mean(dim=(2, 3), keepdim=True)                               # [K,C,1,1]
        return torch.relu((alpha * activation).sum(dim=1))
    if mode == "odam":
        return torch.relu((gradient * activation).sum(dim=1))
    raise ValueError(f"unknown mode {mode!r}: use one of {MODES}")


def gradcam(model: nn.Module, x: torch.Tensor, targets: Sequence, mode: str = "gradcam") -> torch.Tensor:
    """Grad-CAM (or ODAM, `mode="odam"`) maps [K,H,W] of the K targets (any kind, `ssd.targets`; (prior,
    label) pairs too) of one image x [1,3,H,W], on x's device: each target's map at its source,
    upsampled bilinearly to H × W. x and the targets are checked first."""
    ssd.check_input(model, x)
    if x.shape[0] != 1:
        raise ValueError(f"gradcam takes one image x [1,3,H,W], got shape {tuple(x.shape)}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {MODES}")
    config = model.config
    targets = [ssd.as_target(t) for t in targets]
    ssd.check_targets(targets, len(ssd.priors(config)), config.num_classes)
    source_of = [ssd.prior_location(config, t.prior)[0] for t in targets]
    reads = {}                                          # source k -> the heads its targets read (CLS, BOX)
    for t, k in zip(targets, source_of):
        reads.setdefault(k, set()).update(out for out, _, _ in terms(t))
    with torch.no_grad():
        sources = model.sources(x)
    leaves, kept = {}, {}
    with torch.enable_grad():
        for k, outs in reads.items():
            leaves[k] = sources[k].detach().requires_grad_(True)
            for out in outs:
                head = (model.cls_heads, model.box_heads)[out][k]
                kept[head] = head(leaves[k])
        maps = []
        for k, seed in zip(source_of, ssd.head_seeds(model, kept, None, targets)):
            value = sum(weight * out[index] for out, index, weight in seed)
            (gradient,) = torch.autograd.grad(value, leaves[k], retain_graph=True)
            maps.append(cam(leaves[k].detach()[0], gradient, mode)[0])
    maps = torch.stack([F.interpolate(m[None, None], size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
                        for m in maps])
    return check_maps(maps, "gradcam", {"mode": mode}, targets)
