"""Faithfulness by localization (paper section 4.2.2, table 3; higher is better, against its null).

A target's relevance can only lie in its receptive field, so even a map that spreads relevance
uniformly over that field puts a share |field ∩ region| / |field| inside the region
(`localization_null`); `localization − localization_null` is what the method adds to that."""
import math

import torch

from .registry import Metric

METRICS = (Metric("localization_box", "share of positive relevance in the predicted box", True),
           Metric("localization_mask", "share of positive relevance in the object mask", True),
           Metric("localization_box_gain", "share in the box above a receptive-field-uniform map", True),
           Metric("localization_mask_gain", "share in the mask above a receptive-field-uniform map", True),
           Metric("tag", "share of positive relevance on the Clever-Hans tag", True),
           Metric("rank_corr_tag_drop", "rank correlation of the tag share with the causal drop", True),
           Metric("tag_superpixel_rank", "rank of the tag's superpixel by grouped relevance (1 = first)", False),
           Metric("causal_split_distance", "|a map's tag / (tag + object) − the causal (Shapley) tag share|", False))


def box_mask(box, shape, device=None) -> torch.Tensor:
    """Boolean [H,W] mask of the pixels whose centre (j+0.5, i+0.5) lies in box (x1, y1, x2, y2),
    given in pixels of the heatmap."""
    H, W = shape
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x1 <= x2 and y1 <= y2):
        raise ValueError(f"box {tuple(box)} is not (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2")
    cy = torch.arange(H, device=device, dtype=torch.float32) + 0.5
    cx = torch.arange(W, device=device, dtype=torch.float32) + 0.5
    return ((cy >= y1) & (cy <= y2))[:, None] & ((cx >= x1) & (cx <= x2))[None, :]


def region_mask(region, shape, device=None) -> torch.Tensor:
    """A box (x1, y1, x2, y2) or a bool mask [H,W] as a bool mask [H,W]."""
    if isinstance(region, torch.Tensor) and region.dim() == 2:
        if tuple(region.shape) != tuple(shape):
            raise ValueError(f"mask of shape {tuple(region.shape)} does not match the heatmap {tuple(shape)}")
        return region.to(device=device, dtype=torch.bool)
    if len(region) != 4:
        raise ValueError(f"region must be a box (x1, y1, x2, y2) or an [H,W] mask, got {region!r}")
    return box_mask(region, shape, device)


def localization_null(field: torch.Tensor, region) -> float:
    """The localization of a heatmap uniform over the bool receptive field [H,W]: |field ∩ region| / |field|."""
    mask = region_mask(region, field.shape, field.device)
    size = int(field.sum())
    return float((field & mask).sum()) / size if size else math.nan


def localization(heatmap: torch.Tensor, region) -> float:
    """Share of the positive relevance that lies inside a region (table 3):

        L = Σ_{p ∈ region} max(R_p, 0) / Σ_p max(R_p, 0)

    heatmap [H,W]; region is a box (x1, y1, x2, y2) in heatmap pixels (the detection's box) or a
    boolean mask [H,W] (the ground-truth object mask of the synthetic data). NaN when the heatmap has
    no positive relevance at all (the share is undefined; tables count such samples separately).
    """
    mask = region_mask(region, heatmap.shape, heatmap.device)
    positive = heatmap.detach().clamp(min=0).double()
    total = positive.sum()
    if total <= 0:
        return math.nan
    return float(positive[mask].sum() / total)
