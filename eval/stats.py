"""Means with 95 % intervals that respect how the samples were drawn: the cluster bootstrap.

Several detections of one image are not independent (same background, same neighbours, often the
same superpixels), so resampling detections would understate the uncertainty. The cluster
bootstrap resamples *images* with replacement and keeps all samples of each drawn image:

    for b = 1..B:   draw G image indices g_1..g_G uniformly with replacement from the G images
                    m_b = Σ_k Σ_{i ∈ g_k} v_i / Σ_k |g_k|        (mean over the samples of the draw)
    ci95 = [2.5th, 97.5th] percentile of m_1..m_B                  (percentile interval)

The point estimate is the plain mean over all samples. When every image holds k copies of one
value, m_b equals the mean of the drawn image values, so the interval is exactly that of the
images alone: repeated samples never make it narrower. A paired difference (method A − method B)
is the same computation on the per-sample differences a_i − b_i of samples that have both values;
"A differs from B" is claimed only when that interval excludes 0.

Every result is a cell {"mean", "ci95": [lo, hi], "n" (samples), "n_images"}; non-finite values
are left out (and counted in "undefined"); with fewer than 2 images the interval is None.
"""
import math
from typing import Callable, Hashable, Sequence

import numpy as np

N_BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0


def _finite(values, clusters) -> tuple[np.ndarray, np.ndarray, int]:
    """(values float64 [n'], cluster codes 0..G-1 [n'], number left out) of the finite values."""
    values = np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1)
    labels = np.array([str(c) for c in clusters], dtype=object)
    if len(labels) != len(values):
        raise ValueError(f"{len(values)} values but {len(labels)} cluster labels")
    keep = np.isfinite(values)
    codes = np.unique(labels[keep], return_inverse=True)[1].reshape(-1) if keep.any() else np.zeros(0, np.int64)
    return values[keep], codes.astype(np.int64), int((~keep).sum())


def _draws(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap draws of cluster indices: int [B, G]."""
    return np.random.default_rng(seed).integers(0, n_clusters, size=(n_boot, n_clusters))


def cluster_bootstrap(values: Sequence[float], clusters: Sequence[Hashable], n_boot: int = N_BOOTSTRAP,
                      seed: int = BOOTSTRAP_SEED) -> dict:
    """Mean of `values` [n] with a 95 % cluster-bootstrap interval over `clusters` [n] (image ids).

    Returns {"mean", "ci95", "n", "n_images", "undefined"} (module docstring); mean None for n = 0.
    """
    v, codes, undefined = _finite(values, clusters)
    n = len(v)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0, "n_images": 0, "undefined": undefined}
    g = int(codes.max()) + 1
    sums = np.bincount(codes, weights=v, minlength=g)          # per-image sums and counts
    counts = np.bincount(codes, minlength=g).astype(np.float64)
    cell = {"mean": float(v.mean()), "ci95": None, "n": n, "n_images": g, "undefined": undefined}
    if g >= 2:
        draws = _draws(g, n_boot, seed)
        means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        cell["ci95"] = [float(lo), float(hi)]
    return cell


def cluster_bootstrap_statistic(statistic: Callable[[np.ndarray], float], data: np.ndarray,
                                clusters: Sequence[Hashable], n_boot: int = N_BOOTSTRAP,
                                seed: int = BOOTSTRAP_SEED) -> dict:
    """Any statistic of rows of `data` [n, ...] (e.g. a rank correlation of two columns) with a 95 %
    cluster-bootstrap interval: the statistic of all rows, and the percentiles of the statistic of
    the rows of B resampled image sets. Rows with a non-finite entry are left out."""
    data = np.asarray(data, dtype=np.float64)
    keep = np.isfinite(data.reshape(len(data), -1)).all(axis=1)
    clusters = np.array([str(c) for c in clusters], dtype=object)
    if len(clusters) != len(data):
        raise ValueError(f"{len(data)} rows but {len(clusters)} cluster labels")
    data, clusters = data[keep], clusters[keep]
    n = len(data)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0, "n_images": 0, "undefined": int((~keep).sum())}
    names, codes = np.unique(clusters, return_inverse=True)
    rows_of = [np.nonzero(codes == k)[0] for k in range(len(names))]
    value = float(statistic(data))
    cell = {"mean": value if math.isfinite(value) else None, "ci95": None, "n": n, "n_images": len(names),
            "undefined": int((~keep).sum())}
    if len(names) >= 2:
        stats = [statistic(data[np.concatenate([rows_of[k] for k in draw])])
                 for draw in _draws(len(names), n_boot, seed)]
        stats = np.asarray(stats, dtype=np.float64)
        stats = stats[np.isfinite(stats)]
        if len(stats):
            lo, hi = np.percentile(stats, [2.5, 97.5])
            cell["ci95"] = [float(lo), float(hi)]
    return cell


def paired_difference(a: dict, b: dict, cluster_of: dict, n_boot: int = N_BOOTSTRAP,
                      seed: int = BOOTSTRAP_SEED) -> dict:
    """Mean of a_i − b_i over the samples i present (and finite) in both {sample: value} dicts, with
    its cluster-bootstrap interval (`cluster_of` {sample: image}). Adds "excludes_zero": whether the
    interval lies entirely above or below 0 (False when there is no interval)."""
    common = [s for s in a if s in b and a[s] is not None and b[s] is not None]
    cell = cluster_bootstrap([a[s] - b[s] for s in common], [cluster_of[s] for s in common], n_boot, seed)
    cell["mean_diff"] = cell.pop("mean")
    ci = cell["ci95"]
    cell["excludes_zero"] = bool(ci is not None and (ci[0] > 0 or ci[1] < 0))
    return cell


def spearman(x, y) -> float:
    """Spearman rank correlation of two sequences (average ranks for ties); NaN if either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"spearman needs two 1-d sequences of one length, got {x.shape} and {y.shape}")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denominator) if denominator > 0 else math.nan


def rankdata(values) -> np.ndarray:
    """Ranks 1..n of `values` [n], ties given the mean of the ranks they span (as scipy's 'average')."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]                # a new value starts here
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(values)] - 1
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((starts + ends) / 2 + 1)[np.cumsum(first) - 1]
    return ranks
