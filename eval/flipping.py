"""Faithfulness by pixel flipping (paper section 4.2.1, figures 10–11, table 2)."""
from typing import Callable

import torch

from perturb import default_batch_size

from .superpixels import check_segments, superpixel_sums


def pixel_flipping(score_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, heatmap: torch.Tensor,
                   steps: int = 100, segments: torch.Tensor | None = None, baseline: float = 0.0,
                   batch_size: int | None = None) -> torch.Tensor:
    """The target's score while the most relevant pixels are set to grey, most relevant first.

    x [1,3,H,W] (or [3,H,W]) model input, heatmap [H,W], score_fn(x [B,3,H,W]) -> [B] (or [B,1]),
    returns the curve [steps+1]: c_k = score of x with the first k/steps of the pixels flipped, for
    k = 0 … steps (c_0 is the unperturbed image, c_steps the all-grey one). Flipping sets a pixel to
    `baseline` in all channels (0 in model input = the data set's mean grey).

    Pixel-wise (`segments=None`): pixels ordered by decreasing relevance (ties by position); step k
    flips the first ⌊k·HW/steps⌋ of them.
    Per superpixel (`segments` [H,W]): superpixels ordered by decreasing grouped relevance R_s/|s|
    (as in superpixels.group), flipped whole, one at a time; the curve is resampled onto the same grid
    of flipped fractions: c_k is the score with the longest prefix of superpixels flipped that covers
    at most k/steps of the pixels. Equal prefixes are evaluated once; all evaluations run in batches
    of `batch_size` (None: perturb.default_batch_size of x's device).
    """
    x = x[None] if x.dim() == 3 else x
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"pixel_flipping explains one image: x must be [1,3,H,W], got {tuple(x.shape)}")
    H, W = x.shape[-2:]
    if heatmap.shape != (H, W):
        raise ValueError(f"heatmap of shape {tuple(heatmap.shape)} does not match the image {H}×{W}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    n = H * W
    batch_size = default_batch_size(x.device) if batch_size is None else batch_size
    grid = torch.arange(steps + 1, device=x.device)
    if segments is None:
        order = torch.argsort(heatmap.reshape(-1), descending=True, stable=True)  # [HW] pixel indices
        counts = grid * n // steps                                               # pixels flipped at k
    else:
        check_segments(segments, heatmap.shape)
        labels = segments.reshape(-1).long()
        sizes = torch.bincount(labels)
        value_of = superpixel_sums(heatmap, segments) / sizes.clamp(min=1)     # R_s / |s|
        present = torch.nonzero(sizes > 0).squeeze(1)
        sp_order = present[torch.argsort(value_of[present], descending=True, stable=True)]
        # pixels sorted by the rank of their superpixel: flipping a prefix of superpixels = a prefix here
        rank = torch.empty_like(sizes)
        rank[sp_order] = torch.arange(sp_order.numel(), device=x.device)
        order = torch.argsort(rank[labels], stable=True)
        covered = torch.cat([torch.zeros(1, dtype=sizes.dtype, device=x.device), sizes[sp_order].cumsum(0)])
        # longest prefix of superpixels covering <= k/steps of the pixels (exact integer comparison)
        prefix = torch.searchsorted(covered * steps, grid * n, right=True) - 1
        counts = covered[prefix]
    unique_counts, which = torch.unique(counts, return_inverse=True)
    scores = torch.empty(unique_counts.numel(), dtype=torch.float32, device=x.device)
    position = torch.empty_like(order)
    position[order] = torch.arange(n, device=x.device)                          # pixel -> place in order
    grey = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    for start in range(0, unique_counts.numel(), batch_size):
        chunk = unique_counts[start:start + batch_size]
        # keep [B,1,H,W]: 1 where the pixel is not yet flipped; lerp is exact at 0 and 1
        keep = (position[None] >= chunk[:, None]).to(x.dtype).view(len(chunk), 1, H, W)
        batch = torch.lerp(grey, x, keep)
        with torch.no_grad():
            s = score_fn(batch)
        scores[start:start + len(chunk)] = s.reshape(len(chunk)).float()
    return scores[which]


def auc(curve: torch.Tensor) -> float:
    """Area under a flipping curve [K+1] over the flipped fraction 0 … 1 (trapezoid rule, step 1/K):
    AUC = Σ_k (c_k + c_{k+1}) / 2 · 1/K.  Lower means a more faithful explanation."""
    curve = torch.as_tensor(curve, dtype=torch.float64)
    if curve.dim() != 1 or curve.numel() < 2:
        raise ValueError(f"auc needs a curve of at least 2 points, got shape {tuple(curve.shape)}")
    return float(((curve[1:] + curve[:-1]) / 2).sum() / (curve.numel() - 1))


def random_heatmap(shape, seed: int, segments: torch.Tensor | None = None, device=None) -> torch.Tensor:
    """A heatmap [H,W] whose flipping order is uniformly random (the baseline row of table 2):
    i.i.d. uniform values per pixel, or with `segments` one value per superpixel."""
    g = torch.Generator().manual_seed(seed)
    if segments is None:
        return torch.rand(tuple(shape), generator=g).to(device)
    values = torch.rand(int(segments.max()) + 1, generator=g).to(segments.device)
    return values[segments.long()]
