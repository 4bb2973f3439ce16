"""The paper's pixel flipping (section 4.2.1, figures 10–11, table 2; lower AUC is better).

The most relevant pixels (or whole superpixels) are set to grey, and the target's probability is
recorded over the flipped fraction 0 … 1; table 2 is the area under that curve. It is MoRF removal
with the `grey` operator and no normalisation, so it runs on the machinery of eval.removal.curves
(same orders, same skipping of repeated inputs); eval.compare records it on the log grid by default
and on the paper's 100 steps of 1 % with --steps 100.
"""
from typing import Callable

import numpy as np
import torch

from eval.removal.curves import RemovalCurves, linear_grid
from eval.removal.operators import Grey
from perturb import default_batch_size

from .registry import Metric
from .superpixels import check_segments

METRICS = (Metric("flipping", "area under the grey pixel-flipping curve (table 2)", False),)


def pixel_flipping(score_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, heatmap: torch.Tensor,
                   steps: int = 100, segments: torch.Tensor | None = None, batch_size: int | None = None,
                   fractions=None) -> torch.Tensor:
    """The target's score while the most relevant pixels are set to grey: curve [F] (float32).

    x [1,3,H,W] (or [3,H,W]) model input, heatmap [H,W], score_fn(x [B,3,H,W]) -> [B] (or [B,1]).
    Points: `fractions` (default k/steps, k = 0 … steps); c_0 is the unperturbed image, c at 1 the
    all-grey one. Pixel-wise: pixels by decreasing relevance (ties in raster order), the first
    ⌊f·HW⌋ flipped. Per superpixel (`segments` [H,W]): superpixels by decreasing grouped relevance
    R_s/|s|, flipped whole; the longest prefix covering at most f of the pixels. Each distinct input
    is evaluated once, in batches of `batch_size` (None: perturb.default_batch_size).
    """
    x = x[None] if x.dim() == 3 else x
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"pixel_flipping explains one image: x must be [1,3,H,W], got {tuple(x.shape)}")
    if heatmap.shape != x.shape[-2:]:
        raise ValueError(f"heatmap of shape {tuple(heatmap.shape)} does not match the image {tuple(x.shape[-2:])}")
    if fractions is None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        fractions = linear_grid(steps)
    if segments is not None:
        check_segments(segments, heatmap.shape)
    batch_size = default_batch_size(x.device) if batch_size is None else batch_size
    field = torch.ones(heatmap.shape, dtype=torch.bool, device=x.device)
    rc = RemovalCurves(lambda b: score_fn(b).reshape(-1), x, field, {"grey": Grey(x)}, batch_size)
    request = rc.add_heatmap("grey", heatmap, "morf", fractions, segments)
    rc.run()
    return torch.tensor(rc.curve(request), dtype=torch.float32, device=x.device)


def auc(curve: torch.Tensor) -> float:
    """Area under a flipping curve [K+1] over the flipped fraction 0 … 1 (trapezoid rule, step 1/K):
    AUC = Σ_k (c_k + c_{k+1}) / 2 · 1/K.  Lower means a more faithful explanation."""
    curve = torch.as_tensor(curve, dtype=torch.float64)
    if curve.dim() != 1 or curve.numel() < 2:
        raise ValueError(f"auc needs a curve of at least 2 points, got shape {tuple(curve.shape)}")
    return linear_auc(curve.tolist(), linear_grid(curve.numel() - 1))

def linear_auc(curve, fractions) -> float:
    """Area under a curve over the removed fraction f ∈ [0, 1] (trapezoid): the paper's table 2."""
    f = np.asarray(fractions, dtype=np.float64)
    c = np.asarray(curve, dtype=np.float64)
    return float(np.sum((c[1:] + c[:-1]) / 2 * np.diff(f)))

