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
from .cells import (
                    ALPHA,
                    BOOTSTRAP_SEED,
                    MIN_IMAGES,
                    N_BOOTSTRAP,
                    cluster_bootstrap,
                    cluster_bootstrap_statistic,
                    cluster_standard_error,
                    equivalence,
                    hierarchical_bootstrap,
                    minimum_detectable_effect,
                    paired_difference,
                    paired_minimum_detectable_effect,
                    t_interval,
                    t_test_p,
                    tost_p,
)
from .claims import claims, holm
from .ranks import rankdata, spearman
from .student_t import regularized_beta, t_cdf, t_pdf, t_quantile

__all__ = ["ALPHA", "BOOTSTRAP_SEED", "MIN_IMAGES", "N_BOOTSTRAP", "cluster_bootstrap", "cluster_bootstrap_statistic",
           "cluster_standard_error", "equivalence", "hierarchical_bootstrap", "minimum_detectable_effect",
           "paired_difference", "paired_minimum_detectable_effect", "t_interval", "t_test_p", "tost_p", "claims",
           "holm", "rankdata", "spearman", "regularized_beta", "t_cdf", "t_pdf", "t_quantile"]
