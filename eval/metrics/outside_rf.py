"""Relevance outside the receptive field (lower is better; 0 is the only correct value).

The target's logit provably depends only on the pixels of its receptive field (computed exactly
from the kernels, strides, paddings and dilations on its path: perturb.ssd_receptive_fields), so
relevance anywhere else is an artefact of the method (LIME's joint perturbations, superpixels that
straddle the field's border):

    outside = Σ_{p ∉ field} |R_p| / Σ_p |R_p|        (NaN for an all-zero heatmap)
"""
import math

import torch

from .registry import Metric

METRICS = (Metric("outside_rf", "share of |relevance| outside the receptive field (0 is correct)", False),)


def outside_rf(heatmap: torch.Tensor, field: torch.Tensor) -> float:
    """Share of |relevance| of heatmap [H,W] outside the bool field [H,W]."""
    if heatmap.shape != field.shape:
        raise ValueError(f"field {tuple(field.shape)} does not match the heatmap {tuple(heatmap.shape)}")
    magnitude = heatmap.detach().abs().double()
    total = magnitude.sum()
    if total <= 0:
        return math.nan
    return float(magnitude[~field.to(device=heatmap.device, dtype=torch.bool)].sum() / total)
