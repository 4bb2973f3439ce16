"""Insertion and deletion (Petsiuk et al., RISE, 2018): the target's probability while the most relevant
pixels are removed from the image (deletion, lower is better) or inserted onto the fully removed
canvas (insertion, higher is better), each summarised by its area over the fraction f ∈ [0, 1]
(trapezoid on the curve's points), and their difference (overall, higher is better):

    deletion  D = AUC_f s(x with the first ⌊f·n⌋ pixels of the order removed)     the MoRF curve
    insertion I = AUC_f s(canvas with the first ⌊f·n⌋ pixels of the order put back)
    OA = I − D

Inserting the first k pixels of an order onto the canvas is removing the other n − k, the first
n − k of the reversed order: both curves are removal curves of eval.removal.curves (one
`RemovalCurves`: the same orders, the same passes skipped), with any removal operator as the canvas
(`grey`, the paper's; `blur`, RISE's insertion canvas; `true` on synthetic data).
"""
from typing import Callable, NamedTuple

import torch

from eval.removal.curves import RemovalCurves, counts_at, linear_grid, removal_order
from eval.removal.operators import operators
from perturb import default_batch_size

from .flipping import linear_auc
from .registry import Metric
from .superpixels import check_segments

METRICS = (Metric("insertion", "insertion AUC of the target's probability", True),
           Metric("deletion", "deletion AUC of the target's probability", False),
           Metric("insertion_deletion", "OA = insertion − deletion AUC", True))


class Areas(NamedTuple):
    insertion: float
    deletion: float
    oa: float


def insertion_deletion(score_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, heatmap: torch.Tensor,
                       operator: str = "grey", fractions=None, segments: torch.Tensor | None = None,
                       batch_size: int | None = None, background: torch.Tensor | None = None) -> Areas:
    """(insertion, deletion, OA) of a heatmap [H,W] for the target scored by score_fn(x [B,3,H,W]) -> [B]
    (or [B,1]; its probability, e.g. perturb.ssd_score(model, [target], "probability")) on x [1,3,H,W].

    Pixels go most relevant first (ties in raster order), or whole superpixels by grouped relevance
    with `segments` [H,W] (`removal_order`); points at `fractions` (default 0, 1 %, …, 100 %) of the
    pixels removed / inserted; `operator` names the canvas (eval.removal.operators; `true` needs the
    image without its objects, `background`). Each distinct input is evaluated once, in batches of
    `batch_size` (None: perturb.default_batch_size)."""
    x = x[None] if x.dim() == 3 else x
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"insertion_deletion explains one image: x must be [1,3,H,W], got {tuple(x.shape)}")
    if heatmap.shape != x.shape[-2:]:
        raise ValueError(f"heatmap of shape {tuple(heatmap.shape)} does not match the image {tuple(x.shape[-2:])}")
    if segments is not None:
        check_segments(segments, heatmap.shape)
    fractions = linear_grid(100) if fractions is None else tuple(fractions)
    batch_size = default_batch_size(x.device) if batch_size is None else batch_size
    n = heatmap.numel()
    field = torch.ones(heatmap.shape, dtype=torch.bool, device=x.device)
    curves = RemovalCurves(lambda b: score_fn(b).reshape(-1), x, field, operators([operator], x, background),
                           batch_size)
    order, steps = removal_order(heatmap, "morf", segments, torch.arange(n, device=heatmap.device))
    counts = counts_at(steps, fractions, n)
    deletion = curves.add(operator, order, counts)
    insertion = curves.add(operator, order.flip(0), n - counts)        # keep the first k = remove the rest
    curves.run()
    i, d = linear_auc(curves.curve(insertion), fractions), linear_auc(curves.curve(deletion), fractions)
    return Areas(i, d, i - d)
