"""Means, differences and claims with intervals that respect how the samples were drawn.

Several detections of one image are not independent (same background, same neighbours, often the
same superpixels), so every interval here treats the *image* as the unit that was drawn at random.

Notation: samples i = 1..N in images g = 1..G, n_g samples in image g, S_g = Σ_{i∈g} v_i,
h_g = n_g / N (the share, or leverage, of image g).

## The mean and its cluster-t interval (the default)

    μ̂ = Σ_g S_g / N                  the plain mean of all samples: the image means ȳ_g weighted by n_g
                                      (the ratio estimator)
    û_g = S_g − n_g μ̂                image g's summed residual (μ̂ − μ = Σ_g u_g / N, the u_g independent)
    V = Σ_g û_g² / (1 − h_g) / N²     CR2 cluster-robust variance of μ̂, se = √V
    ν = 1 / (Σ_g h_g² + (Σ_g q_g)² − Σ_g q_g²),  q_g = h_g² / (1 − h_g)   (Bell–McCaffrey degrees of freedom)
    ci95 = μ̂ ± t_{0.975, ν} · se

Why these pieces: û_g is a residual around the fitted μ̂, so Σ_g û_g² runs short of Σ_g u_g²; dividing by
1 − h_g (CR2) makes V unbiased when samples are independent with one variance (the CR1 alternative,
G/(G−1)·Σ_g û_g²/N², is the same when all n_g are equal). V is a quadratic form ε'Aε in the sample
errors; matching its mean and variance to a scaled χ²_ν under that working model gives Satterthwaite's
ν = tr(A)²/tr(A²), which for a mean reduces to the formula above. With equal n_g, ν = G − 1 and the
interval is exactly the one-sample t interval of the G image means (repeated samples never make it
narrower); with unequal n_g, ν < G − 1: a few large images carry most of the weight, and the wider
t quantile makes up for it. It was chosen over CR1 with G − 1 df because that ignores unequal image
sizes and covered less in the simulation of tests/test_eval_stats.py (which measures both, and the
percentile bootstrap below, at 10 images), and over a studentised bootstrap because it needs no draws
(every table cell gets it at no cost, deterministically) and is exact for normal image means of equal
sizes. Strongly skewed values at 10 images still cover less than 95 % (so does every interval measured there).

## Paired differences, p-values, equivalence and power

A difference of method A and method B is the same computation on d_i = a_i − b_i of the samples that
have both. Its p-value is the two-sided test of mean difference 0 with the same statistic:
p = 2·(1 − F_ν(|μ̂| / se)), F_ν the Student-t CDF, so p < 0.05 exactly when ci95 excludes 0.

"A and B do not differ" is never read off overlapping intervals (absence of evidence). It needs an
equivalence test against a margin Δ declared in advance (TOST: two one-sided tests):

    p_tost = max(1 − F_ν((μ̂ + Δ)/se), F_ν((μ̂ − Δ)/se))        H0: |δ| ≥ Δ against H1: |δ| < Δ

p_tost < 0.05 exactly when the 90 % interval μ̂ ± t_{0.95,ν}·se lies inside (−Δ, Δ).
The minimum detectable effect of a two-sided level-α test with power 1 − β is approximately
(t_{1−α/2,ν} + t_{1−β,ν})·se (the normal-theory formula with t quantiles; it ignores the far tail and
the noncentral t): a difference smaller than this is likely to be missed.

## Claims: families and Holm

One run makes dozens of paired tests; at 5 % each, some "support" comes from chance alone. A table
builder therefore declares *families* of comparisons that answer one question together (e.g. the six
pairs of four methods on the headline metric, or each method against random and against each negative
control) and `claims` makes claims only from such a family. Within a family the p-values are adjusted
by Holm's step-down: with p_(1) ≤ … ≤ p_(m),

    p̃_(k) = min(1, max_{j ≤ k} (m − j + 1) · p_(j))

which keeps the chance of any false claim in the family below 5 % for any dependence among the tests.
The TOST p-values of the family are adjusted the same way.

## No claim from fewer than MIN_IMAGES images

Below 8 images the interval rests almost wholly on the image means being near normal, which so few
images cannot check, so a cell with n_images < MIN_IMAGES = 8 carries "too_few_images": True; its
interval is still reported (it is informative) but a paired difference then has excludes_zero False
and a note, and `claims` makes no claim from it.

## Cells

`cluster_bootstrap` returns {"mean", "ci95": [lo, hi], "n" (samples), "n_images", "undefined"
(non-finite values left out), "se", "df", "method", "too_few_images"}; with fewer than 2 images the
interval (and se, df) is None. `paired_difference` adds "mean_diff" (in place of "mean"), "p",
"excludes_zero" and "note". method="percentile" gives the older percentile cluster bootstrap instead:

    for b = 1..B:   draw G image indices g_1..g_G uniformly with replacement
                    m_b = Σ_k S_{g_k} / Σ_k n_{g_k}
    ci95 = [2.5th, 97.5th] percentile of m_1..m_B

It runs short of 95 % at few images (measured in tests/test_eval_stats.py); `cluster_bootstrap_statistic`
(any statistic of the rows, e.g. a rank correlation, that has no standard error formula here) still
uses it, so read its interval as descriptive at few images.
"""
import functools
import math
from typing import Callable, Hashable, Sequence

import numpy as np

N_BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0
MIN_IMAGES = 8
ALPHA = 0.05


# --- Student-t distribution -------------------------------------------------------------------

def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) = B(x; a, b) / B(a, b), by the continued fraction of the incomplete beta function,
    evaluated where it converges fast (x < (a+1)/(a+b+2)) and otherwise via I_x(a,b) = 1 − I_{1−x}(b,a)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - regularized_beta(1.0 - x, b, a)
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    return math.exp(log_front) / a * _beta_continued_fraction(x, a, b)


def _beta_continued_fraction(x: float, a: float, b: float, tolerance: float = 1e-15) -> float:
    """1 / (1 + d_1 / (1 + d_2 / (1 + …))) with d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)) and
    d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)), by the modified Lentz method."""
    tiny = 1e-300

    def guard(value):
        return value if abs(value) > tiny else tiny

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    fraction = d
    for m in range(1, 1000):
        for coefficient in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 / guard(1.0 + coefficient * d)
            c = guard(1.0 + coefficient / c)
            fraction *= c * d
        if abs(c * d - 1.0) < tolerance:
            break
    return fraction


def t_cdf(t: float, df: float) -> float:
    """F_ν(t) of Student's t with ν = df > 0 degrees of freedom: for t ≥ 0,
    F_ν(t) = 1 − ½ I_{ν/(ν+t²)}(ν/2, ½), and F_ν(−t) = 1 − F_ν(t)."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t > 0 else tail


def t_pdf(t: float, df: float) -> float:
    """f_ν(t) = Γ((ν+1)/2) / (√(νπ) Γ(ν/2)) · (1 + t²/ν)^(−(ν+1)/2)."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


@functools.lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """t with F_ν(t) = p: Newton steps on the CDF, kept inside a bracket that halves when a step
    would leave it; t_{1−p} = −t_p."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile needs 0 < p < 1, got {p}")
    if p <= 0.5:
        return 0.0 if p == 0.5 else -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2.0 * high
    t = (low + high) / 2
    for _ in range(200):
        excess = t_cdf(t, df) - p
        step = excess / t_pdf(t, df)
        if abs(step) <= 1e-14 * max(1.0, t) or high - low <= 1e-14 * high:
            return t - step
        low, high = (low, t) if excess > 0 else (t, high)
        t = t - step if low < t - step < high else (low + high) / 2
    return t


# --- the cluster-t interval -------------------------------------------------------------------

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


# --- paired differences -----------------------------------------------------------------------

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


# --- multiplicity and claims --------------------------------------------------------------------

def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment: p̃_(k) = min(1, max_{j ≤ k} (m − j + 1) p_(j)) over the m
    p-values that are numbers, in their original order; None and NaN stay None."""
    present = [(p, k) for k, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    adjusted: list[float | None] = [None] * len(p_values)
    running_max = 0.0
    for rank, (p, k) in enumerate(sorted(present)):
        running_max = max(running_max, (len(present) - rank) * p)
        adjusted[k] = min(1.0, running_max)
    return adjusted


def claims(family: str, comparisons: list[dict]) -> list[dict]:
    """The claims of one declared family of paired comparisons (module docstring: families and Holm).

    Each comparison: {"metric", "operator", "unit", "a", "b" (names), "higher_is_better" (bool),
    "values_a", "values_b" ({sample: value}), "cluster_of" ({sample: image}), "margin" (equivalence
    margin Δ > 0, or None for no equivalence test)}.
    Returns per comparison {"family", "metric", "operator", "unit", "a", "b", "mean_diff" (a − b),
    "ci95", "p", "p_holm", "supported", "equivalent", "margin", "n", "n_images", "better",
    "too_few_images"}: supported = p_holm < 0.05 and n_images ≥ MIN_IMAGES, better = the winner's
    name when supported (else None), equivalent = Holm-adjusted TOST p < 0.05 and n_images ≥ MIN_IMAGES.
    """
    differences = [paired_difference(c["values_a"], c["values_b"], c["cluster_of"]) for c in comparisons]
    tost = [equivalence(c["values_a"], c["values_b"], c["cluster_of"], c["margin"])["p_tost"]
            if c.get("margin") is not None else None for c in comparisons]
    out = []
    for c, d, p_holm, tost_holm in zip(comparisons, differences, holm([d["p"] for d in differences]), holm(tost)):
        enough = not d["too_few_images"]
        supported = p_holm is not None and p_holm < ALPHA and enough
        a_wins = (d["mean_diff"] > 0) == bool(c["higher_is_better"]) if supported else None
        out.append({"family": family, "metric": c["metric"], "operator": c.get("operator"), "unit": c.get("unit"),
                    "a": c["a"], "b": c["b"], "mean_diff": d["mean_diff"], "ci95": d["ci95"], "p": d["p"],
                    "p_holm": p_holm, "supported": supported,
                    "equivalent": tost_holm is not None and tost_holm < ALPHA and enough,
                    "margin": c.get("margin"), "n": d["n"], "n_images": d["n_images"],
                    "better": None if a_wins is None else (c["a"] if a_wins else c["b"]),
                    "too_few_images": d["too_few_images"]})
    return out


# --- several models --------------------------------------------------------------------------------

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


# --- rank statistics ------------------------------------------------------------------------------

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
