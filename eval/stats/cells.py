"""Cells: a mean with its clustered interval (cluster-t by default, eval.stats), a paired difference
with its p-value, equivalence (TOST) and the minimum detectable effect; the hierarchical bootstrap
of several models."""
import math
from typing import Callable, Hashable, Sequence

import numpy as np

from .student_t import t_cdf, t_quantile

N_BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0
MIN_IMAGES = 8
ALPHA = 0.05


def _finite(values, clusters) -> tuple[np.ndarray, np.ndarray, int]:
    """(values float64 [n'], cluster codes 0..G-1 [n'], number left out) of the finite values."""
    values = np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1)
    labels = np.array([str(c) for c in clusters], dtype=object)
    if len(labels) != len(values):
        raise ValueError(f"{len(values)} values but {len(labels)} cluster labels")
    keep = np.isfinite(values)
    codes = np.unique(labels[keep], return_inverse=True)[1].reshape(-1) if keep.any() else np.zeros(0, np.int64)
    return values[keep], codes.astype(np.int64), int((~keep).sum())


def cluster_standard_error(image_sums: np.ndarray, image_counts: np.ndarray) -> tuple[float, float, float]:
    """(μ̂, se, ν) of the mean of all samples from per-image sums S_g and counts n_g [G], G ≥ 2:
    μ̂ = ΣS_g/N, se² = Σ_g (S_g − n_g μ̂)² / (1 − h_g) / N², ν = 1/(Σh_g² + (Σq_g)² − Σq_g²),
    h_g = n_g/N, q_g = h_g²/(1 − h_g) (module docstring)."""
    total = image_counts.sum()
    mean = image_sums.sum() / total
    share = image_counts / total
    residual = image_sums - image_counts * mean
    variance = (residual ** 2 / (1.0 - share)).sum() / total ** 2
    q = share ** 2 / (1.0 - share)
    df = 1.0 / ((share ** 2).sum() + q.sum() ** 2 - (q ** 2).sum())
    return float(mean), float(math.sqrt(variance)), float(df)


def t_interval(mean: float, se: float, df: float, level: float = 0.95) -> list[float]:
    """mean ± t_{(1+level)/2, ν} · se."""
    half = t_quantile((1.0 + level) / 2.0, df) * se
    return [mean - half, mean + half]


def t_test_p(mean: float, se: float, df: float) -> float:
    """Two-sided p of mean 0: 2·(1 − F_ν(|mean|/se)); with se = 0, 0 for a mean ≠ 0 and 1 for 0."""
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return 2.0 * (1.0 - t_cdf(abs(mean) / se, df))


def _draws(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap draws of cluster indices: int [B, G]."""
    return np.random.default_rng(seed).integers(0, n_clusters, size=(n_boot, n_clusters))


def _percentile_interval(image_sums: np.ndarray, image_counts: np.ndarray, n_boot: int, seed: int) -> list[float]:
    """[2.5th, 97.5th] percentile of the means of B image sets drawn with replacement."""
    draws = _draws(len(image_sums), n_boot, seed)
    means = image_sums[draws].sum(axis=1) / image_counts[draws].sum(axis=1)
    return [float(q) for q in np.percentile(means, [2.5, 97.5])]


def cluster_bootstrap(values: Sequence[float], clusters: Sequence[Hashable], n_boot: int = N_BOOTSTRAP,
                      seed: int = BOOTSTRAP_SEED, method: str = "t") -> dict:
    """Mean of `values` [n] with a 95 % interval clustered by `clusters` [n] (image ids): the
    cluster-t interval (method "t", the default) or the percentile cluster bootstrap ("percentile",
    which alone uses n_boot and seed). The name stays for the callers.

    Returns {"mean", "ci95", "n", "n_images", "undefined", "se", "df", "method", "too_few_images"}
    (module docstring); mean None for n = 0, ci95/se/df None for fewer than 2 images.
    """
    if method not in ("t", "percentile"):
        raise ValueError(f"method is 't' or 'percentile', got {method!r}")
    v, codes, undefined = _finite(values, clusters)
    n_images = int(codes.max()) + 1 if len(v) else 0
    cell = {"mean": float(v.mean()) if len(v) else None, "ci95": None, "n": len(v), "n_images": n_images,
            "undefined": undefined, "se": None, "df": None, "method": method,
            "too_few_images": n_images < MIN_IMAGES}
    if n_images >= 2:
        sums = np.bincount(codes, weights=v, minlength=n_images)
        counts = np.bincount(codes, minlength=n_images).astype(np.float64)
        _, cell["se"], cell["df"] = cluster_standard_error(sums, counts)
        cell["ci95"] = (t_interval(cell["mean"], cell["se"], cell["df"]) if method == "t"
                        else _percentile_interval(sums, counts, n_boot, seed))
    return cell


def cluster_bootstrap_statistic(statistic: Callable[[np.ndarray], float], data: np.ndarray,
                                clusters: Sequence[Hashable], n_boot: int = N_BOOTSTRAP,
                                seed: int = BOOTSTRAP_SEED) -> dict:
    """Any statistic of rows of `data` [n, ...] (e.g. a rank correlation of two columns) with a 95 %
    percentile cluster-bootstrap interval: the statistic of all rows, and the percentiles of the
    statistic of the rows of B resampled image sets. Rows with a non-finite entry are left out.
    Caveat: the percentile cluster bootstrap runs short of 95 % at few images (module docstring), so
    read the interval as descriptive there; "too_few_images" marks cells below MIN_IMAGES."""
    data = np.asarray(data, dtype=np.float64)
    keep = np.isfinite(data.reshape(len(data), -1)).all(axis=1)
    clusters = np.array([str(c) for c in clusters], dtype=object)
    if len(clusters) != len(data):
        raise ValueError(f"{len(data)} rows but {len(clusters)} cluster labels")
    data, clusters = data[keep], clusters[keep]
    n = len(data)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0, "n_images": 0, "undefined": int((~keep).sum()),
                "method": "percentile", "too_few_images": True}
    names, codes = np.unique(clusters, return_inverse=True)
    rows_of = [np.nonzero(codes == k)[0] for k in range(len(names))]
    value = float(statistic(data))
    cell = {"mean": value if math.isfinite(value) else None, "ci95": None, "n": n, "n_images": len(names),
            "undefined": int((~keep).sum()), "method": "percentile", "too_few_images": len(names) < MIN_IMAGES}
    if len(names) >= 2:
        stats = [statistic(data[np.concatenate([rows_of[k] for k in draw])])
                 for draw in _draws(len(names), n_boot, seed)]
        stats = np.asarray(stats, dtype=np.float64)
        stats = stats[np.isfinite(stats)]
        if len(stats):
            lo, hi = np.percentile(stats, [2.5, 97.5])
            cell["ci95"] = [float(lo), float(hi)]
    return cell


def _differences(a: dict, b: dict, cluster_of: dict) -> tuple[list, list]:
    """(a_i − b_i, image of i) over the samples i present (and not None) in both dicts."""
    common = [s for s in a if s in b and a[s] is not None and b[s] is not None]
    return [a[s] - b[s] for s in common], [cluster_of[s] for s in common]


def paired_difference(a: dict, b: dict, cluster_of: dict, n_boot: int = N_BOOTSTRAP,
                      seed: int = BOOTSTRAP_SEED, method: str = "t") -> dict:
    """Mean of a_i − b_i over the samples i present (and finite) in both {sample: value} dicts, with
    its clustered 95 % interval (`cluster_of` {sample: image}; `method` as in cluster_bootstrap).
    Adds "p" (two-sided cluster-t test of mean difference 0, always from the t statistic),
    "excludes_zero" (the interval lies entirely above or below 0; False without an interval or with
    too few images) and "note" (why no claim may be made, else None)."""
    cell = cluster_bootstrap(*_differences(a, b, cluster_of), n_boot, seed, method)
    cell["mean_diff"] = cell.pop("mean")
    ci = cell["ci95"]
    cell["p"] = t_test_p(cell["mean_diff"], cell["se"], cell["df"]) if cell["se"] is not None else None
    cell["excludes_zero"] = bool(ci is not None and (ci[0] > 0 or ci[1] < 0) and not cell["too_few_images"])
    cell["note"] = (f"{cell['n_images']} images < {MIN_IMAGES}: no claim from this interval"
                    if cell["too_few_images"] else None)
    return cell


def tost_p(mean: float, se: float, df: float, margin: float) -> float:
    """max(1 − F_ν((mean + Δ)/se), F_ν((mean − Δ)/se)); with se = 0, 0 inside (−Δ, Δ) and 1 outside."""
    if se == 0:
        return 0.0 if abs(mean) < margin else 1.0
    return max(1.0 - t_cdf((mean + margin) / se, df), t_cdf((mean - margin) / se, df))


def equivalence(a: dict, b: dict, cluster_of: dict, margin: float) -> dict:
    """TOST of |mean(a_i − b_i)| < margin (module docstring) with the cluster-t se and ν.

    Returns {"mean_diff", "se", "df", "margin", "p_tost", "ci90", "equivalent", "n", "n_images",
    "too_few_images"}; "equivalent" = p_tost < 0.05 and n_images ≥ MIN_IMAGES; p_tost, ci90, se, df
    None with fewer than 2 images."""
    if not margin > 0:
        raise ValueError(f"an equivalence margin must be > 0, got {margin}")
    cell = cluster_bootstrap(*_differences(a, b, cluster_of))
    out = {"mean_diff": cell["mean"], "se": cell["se"], "df": cell["df"], "margin": margin, "p_tost": None,
           "ci90": None, "equivalent": False, "n": cell["n"], "n_images": cell["n_images"],
           "too_few_images": cell["too_few_images"]}
    if cell["se"] is not None:
        out["p_tost"] = tost_p(cell["mean"], cell["se"], cell["df"], margin)
        out["ci90"] = t_interval(cell["mean"], cell["se"], cell["df"], level=0.90)
        out["equivalent"] = out["p_tost"] < ALPHA and not cell["too_few_images"]
    return out


def minimum_detectable_effect(se: float, df: float, alpha: float = ALPHA, power: float = 0.8) -> float:
    """(t_{1−α/2,ν} + t_{power,ν}) · se: the true difference a two-sided level-α test detects with
    the given power (approximately; module docstring)."""
    return (t_quantile(1.0 - alpha / 2.0, df) + t_quantile(power, df)) * se


def paired_minimum_detectable_effect(a: dict, b: dict, cluster_of: dict, alpha: float = ALPHA,
                                     power: float = 0.8) -> float | None:
    """minimum_detectable_effect of the paired difference a − b with its cluster-t se and ν from the
    data (None with fewer than 2 images)."""
    cell = cluster_bootstrap(*_differences(a, b, cluster_of))
    return None if cell["se"] is None else minimum_detectable_effect(cell["se"], cell["df"], alpha, power)


def hierarchical_bootstrap(values: Sequence[float], models: Sequence[Hashable], clusters: Sequence[Hashable],
                           n_boot: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> dict:
    """Mean of `values` [n] pooled over models, with a 95 % interval from a two-stage bootstrap:
    draw M models with replacement, within each drawn model draw its images with replacement, keep
    every sample of a drawn image; percentile interval of the pooled means. With few models (3 in the
    project's result) the model stage has few distinct draws, so read the interval as coarse; whether a
    claim *replicates* (holds on each model on its own) is the stronger statement.
    Returns {"mean", "ci95", "n", "n_images", "n_models", "undefined", "method": "hierarchical"}."""
    v = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
    keep = np.isfinite(v)
    models = np.array([str(m) for m in models], dtype=object)[keep]
    clusters = np.array([f"{m}/{c}" for m, c in zip(models, np.array([str(c) for c in clusters], dtype=object)[keep])],
                        dtype=object)
    v = v[keep]
    cell = {"mean": float(v.mean()) if len(v) else None, "ci95": None, "n": len(v),
            "n_images": len(set(clusters)), "n_models": len(set(models)), "undefined": int((~keep).sum()),
            "method": "hierarchical"}
    names = sorted(set(models))
    if len(names) < 2 or len(v) == 0:
        return cell
    rng = np.random.default_rng(seed)
    images_of = {m: sorted(set(clusters[models == m])) for m in names}
    sums = {c: (v[clusters == c].sum(), (clusters == c).sum()) for c in set(clusters)}
    means = []
    for _ in range(n_boot):
        total = count = 0.0
        for m in rng.choice(names, size=len(names)):
            for c in rng.choice(images_of[m], size=len(images_of[m])):
                total += sums[c][0]
                count += sums[c][1]
        means.append(total / count)
    lo, hi = np.percentile(means, [2.5, 97.5])
    cell["ci95"] = [float(lo), float(hi)]
    return cell
