"""How similar two heatmaps are: the measures of the model-randomisation sanity checks (Adebayo et
al. 2018). Higher is more similar; identical maps score 1 on each; for unrelated maps the expected
values are 0 (both rank correlations), about 0 (SSIM) and `fraction` (top-k intersection).

For a [H,W] original heatmap a and a randomised model's heatmap b:

    spearman_abs   ρ(|a|, |b|)            Spearman rank correlation (average ranks for ties) of |R|
    spearman       ρ(a, b)                the same of the signed relevance
    ssim           SSIM(a/max|a|, b/max|b|)  scikit-image's structural similarity (uniform 7×7
                                          window, data range 2 for maps in [−1, 1]), mean over the map
    top10          E|T(a) ∩ T(b)| / k     T(r): the k = ⌈0.1·n⌉ pixels of largest |r|; ties at the
                                          threshold broken at random, independently in each map
                                          (the expectation is computed exactly); 1 for equal |a|, |b|

A rank correlation needs an order: where a map is constant the correlation is 0 (it shares no
order with the other map), and 1 when both maps are equal. `region` (y0, y1, x0, x1) restricts
every measure to a rectangle of the maps; the sanity checks pass the target's receptive field,
outside of which back-propagation maps are 0 at every level by the architecture alone.
"""
import math

import numpy as np
from skimage.metrics import structural_similarity

from .maps import as_numpy, normalise
from eval.stats import spearman

from .registry import Metric

# similarity to the original map: no direction in itself (the sanity verdict reads it against floors)
METRICS = (Metric("spearman_abs", "Spearman ρ of |R|", None), Metric("spearman", "Spearman ρ of R", None),
           Metric("ssim", "SSIM", None), Metric("top10", "top-10 % intersection", None))

MEASURES = ("spearman_abs", "spearman", "ssim", "top10")
LABELS = {"spearman_abs": "Spearman ρ of |R|", "spearman": "Spearman ρ of R", "ssim": "SSIM",
          "top10": "top-10 % intersection"}
TOP_FRACTION = 0.1


def rank_correlation(a, b) -> float:
    """Spearman ρ of two maps of one shape (flattened); 0 if one is constant, 1 if they are equal."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in size: {a.shape} and {b.shape}")
    if np.array_equal(a, b):
        return 1.0
    if a.size < 2 or a.min() == a.max() or b.min() == b.max():
        return 0.0
    return spearman(a, b)


def top_k_weights(r, fraction: float = TOP_FRACTION) -> np.ndarray:
    """Probability of each pixel to be among the k = ⌈fraction·n⌉ largest |r| when ties at the
    threshold are broken uniformly at random: 1 above the k-th largest value t, (k − #above)/#tied
    at t, 0 below. Sums to k."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    v = np.abs(np.asarray(r, np.float64).reshape(-1))
    k = math.ceil(fraction * v.size)
    t = np.partition(v, v.size - k)[v.size - k]                 # the k-th largest value
    above, tied = v > t, v == t
    return above + tied * ((k - above.sum()) / tied.sum())


def top_k_intersection(a, b, fraction: float = TOP_FRACTION) -> float:
    """E|T(a) ∩ T(b)| / k = Σ_i w_a(i)·w_b(i) / k: the share of a's top-k pixels (by |R|) that are
    also among b's, ties broken at random independently in each map (`top_k_weights`); 1 for equal maps."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in size: {a.shape} and {b.shape}")
    if np.array_equal(np.abs(a), np.abs(b)):
        return 1.0
    wa, wb = top_k_weights(a, fraction), top_k_weights(b, fraction)
    return float((wa * wb).sum() / wa.sum())


def ssim(a, b) -> float:
    """SSIM of the maps normalised by their own max |R| (module docstring); NaN for maps under 3×3."""
    a, b = normalise(a), normalise(b)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in size: {a.shape} and {b.shape}")
    side = min(a.shape)
    if side < 3:
        return math.nan
    window = min(7, side if side % 2 else side - 1)
    return float(structural_similarity(a, b, win_size=window, data_range=2.0))


def similarities(a, b, region=None) -> dict:
    """{measure: value} of the original map a [H,W] and the randomised map b [H,W], inside `region`
    (y0, y1, x0, x1; default the whole map). Non-finite maps give None for every measure."""
    a, b = as_numpy(a).astype(np.float64), as_numpy(b).astype(np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"two [H,W] maps of one shape needed, got {a.shape} and {b.shape}")
    if region is not None:
        y0, y1, x0, x1 = (int(v) for v in region)
        a, b = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return {m: None for m in MEASURES}
    return {"spearman_abs": rank_correlation(np.abs(a), np.abs(b)), "spearman": rank_correlation(a, b),
            "ssim": ssim(a, b), "top10": top_k_intersection(a, b)}
