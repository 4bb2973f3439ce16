"""SSD as a score function and the receptive fields of its targets."""
from typing import Sequence

import torch

import ssd

from .receptive_field import POINTWISE, receptive_field_mask


def ssd_layers(model: "ssd.SSD", source: int) -> list:
    """The modules from the input to the class head of source k, in order (the ℓ2-Norm of source 0
    is pointwise over channels and does not change the receptive field)."""
    layers = []
    for block in model.features[:source + 1]:
        layers += list(block.modules())[1:]
    return layers + [model.cls_heads[source]]


def ssd_receptive_fields(model: "ssd.SSD", targets: Sequence["ssd.Target"], size=None, device=None) -> torch.Tensor:
    """Exact theoretical receptive field of each target (any kind: its class and box heads have one
    geometry): bool [T,H,W].

    Target t's outputs are the heads' outputs at (row i, column j) of its prior's source k
    (ssd.prior_location); its field is derived from the kernel, stride, padding and dilation of
    every conv and pool on the path to source k plus the 3×3 head, clipped to the image.
    size: input (H, W), default (config.size, config.size).
    """
    config = model.config
    size = (config.size, config.size) if size is None else tuple(size)
    ssd.check_targets(list(targets), len(ssd.priors(config)), config.num_classes)
    masks = []
    for t in targets:
        k, i, j, _ = ssd.prior_location(config, t.prior)
        masks.append(receptive_field_mask(ssd_layers(model, k), i, j, size, device, POINTWISE + (ssd.L2Norm,)))
    return torch.stack(masks)
