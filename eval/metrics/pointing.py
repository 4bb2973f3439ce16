"""The pointing game (Zhang et al., "Top-down neural attention by excitation backprop", 2016/2018;
higher is better): does the heatmap's maximum lie on the object?

    hit = |M ∩ dilate(mask, 15 px)| > |M| / 2,     M = the pixels holding the map's maximum

The mask is dilated by Zhang et al.'s tolerance of 15 pixels (isotropic: every pixel within
Euclidean distance 15 of the object, skimage.morphology.isotropic_dilation). Ties at the maximum (a
flat top; an all-zero map, where every pixel holds it) are decided by the majority of the tied
pixels, and exactly half is a miss. Averaged over samples, hits are the pointing accuracy.
"""
import numpy as np
import torch
from skimage.morphology import isotropic_dilation

from ssd.checks import check_integer, check_tensor

from .localization import region_mask
from .registry import Metric

METRICS = (Metric("pointing", "pointing game: share of maps whose maximum lies on the object (15 px)", True),)

TOLERANCE = 15      # pixels, Zhang et al.


def pointing_game(heatmap: torch.Tensor, region, tolerance: int = TOLERANCE) -> float:
    """1.0 (hit) or 0.0 (miss) for heatmap [H,W] and the object's region: its ground-truth mask bool
    [H,W] (or a box (x1, y1, x2, y2) in heatmap pixels), dilated by `tolerance` pixels."""
    check_tensor(heatmap, "heatmap")
    tolerance = check_integer(tolerance, "tolerance", 0)
    mask = region_mask(region, heatmap.shape, heatmap.device).cpu().numpy()
    near = torch.from_numpy(np.ascontiguousarray(isotropic_dilation(mask, tolerance) if tolerance else mask))
    top = (heatmap == heatmap.max()).cpu()
    return float(2 * int((top & near).sum()) > int(top.sum()))
