"""The clustered intervals, paired differences, equivalence, Holm and claims of eval.stats.

`python tests/test_eval_stats.py` (cwd = the repository) measures the coverage of the 95 % intervals in
the simulation of test_cluster_t_interval_keeps_its_coverage_at_ten_images and prints it.
"""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval import stats  # noqa: E402


def test_copies_of_one_image_do_not_narrow_the_interval():
    rng = np.random.default_rng(1)
    per_image = rng.normal(size=12)
    for method in ("t", "percentile"):
        alone = stats.cluster_bootstrap(per_image, range(12), method=method)
        copies = stats.cluster_bootstrap(np.repeat(per_image, 4), np.repeat(np.arange(12), 4), method=method)
        assert copies["n"] == 48 and copies["n_images"] == 12
        assert copies["mean"] == pytest.approx(alone["mean"])
        assert copies["ci95"] == pytest.approx(alone["ci95"])       # same draws of images, same means
        # treating the 48 copies as independent samples would give a far narrower interval
        naive = stats.cluster_bootstrap(np.repeat(per_image, 4), range(48), method=method)
        assert naive["ci95"][1] - naive["ci95"][0] < 0.7 * (copies["ci95"][1] - copies["ci95"][0])
    # equal image sizes: the cluster-t interval is the one-sample t interval of the 12 image means
    half = 2.200985 * per_image.std(ddof=1) / math.sqrt(12)            # t_{0.975, 11} from a table
    assert copies["df"] == pytest.approx(11.0)
    assert stats.cluster_bootstrap(np.repeat(per_image, 4), np.repeat(np.arange(12), 4))["ci95"] == pytest.approx(
        [per_image.mean() - half, per_image.mean() + half], rel=1e-6)


def test_percentile_interval_covers_the_true_mean_at_about_the_nominal_rate_at_20_images():
    rng = np.random.default_rng(2)
    covered, trials = 0, 300
    for t in range(trials):
        # 20 images, 1-5 samples each, an image effect and a sample effect
        sizes = rng.integers(1, 6, size=20)
        image_effect = rng.normal(scale=1.0, size=20)
        values = np.concatenate([0.5 + e + rng.normal(scale=0.5, size=k) for e, k in zip(image_effect, sizes)])
        clusters = np.repeat(np.arange(20), sizes)
        ci = stats.cluster_bootstrap(values, clusters, n_boot=400, seed=t, method="percentile")["ci95"]
        covered += ci[0] <= 0.5 <= ci[1]
    assert 0.88 <= covered / trials <= 0.98      # nominal 0.95; percentile intervals run a little short


def simulate(n_images: int, repetitions: int, seed: int, skewed: bool = False):
    """(values, clusters) of `repetitions` data sets with true mean 0.5: n_images images of 1-4 samples,
    an image effect (sd 1) plus a sample effect (sd 0.5), normal or centred exponential (skewed)."""
    rng = np.random.default_rng(seed)
    for _ in range(repetitions):
        sizes = rng.integers(1, 5, size=n_images)
        if skewed:
            image_effect, noise = rng.exponential(size=n_images) - 1.0, rng.exponential(0.5, size=sizes.sum()) - 0.5
        else:
            image_effect, noise = rng.normal(size=n_images), rng.normal(scale=0.5, size=sizes.sum())
        yield 0.5 + np.repeat(image_effect, sizes) + noise, np.repeat(np.arange(n_images), sizes)


def coverage(interval, n_images: int = 10, repetitions: int = 2000, seed: int = 0, skewed: bool = False) -> float:
    """Share of the simulated data sets whose interval(values, clusters) = [lo, hi] holds 0.5."""
    hits = 0
    for values, clusters in simulate(n_images, repetitions, seed, skewed):
        lo, hi = interval(values, clusters)
        hits += lo <= 0.5 <= hi
    return hits / repetitions


def test_cluster_t_interval_keeps_its_coverage_at_ten_images():
    # Measured by `python tests/test_eval_stats.py` (2000 data sets, seed 0, 10 images, 1-4 samples each):
    #                              normal effects   skewed (exponential) effects
    #   cluster-t (default)             0.9500             0.8955
    #   CR1 with G − 1 df               0.9450             0.8875
    #   percentile bootstrap (B=2000)   0.8935             0.8480
    # Seeds 1-3 give the cluster-t 0.946, 0.949, 0.948 on the normal effects.
    assert coverage(lambda v, c: stats.cluster_bootstrap(v, c)["ci95"]) >= 0.94


def test_student_t_against_table_values_and_closed_forms():
    table = {(0.975, 9): 2.262157, (0.975, 1): 12.7062, (0.975, 30): 2.042272, (0.8, 9): 0.883404,
             (0.95, 9): 1.833113, (0.995, 9): 3.249836, (0.975, 11): 2.200985, (0.975, 1e7): 1.959964}
    for (p, df), t in table.items():
        assert stats.t_quantile(p, df) == pytest.approx(t, abs=1e-4 if t > 10 else 1e-6)
        assert stats.t_quantile(1 - p, df) == pytest.approx(-t, abs=1e-4 if t > 10 else 1e-6)
        assert stats.t_cdf(t, df) == pytest.approx(p, abs=1e-6)
    assert stats.t_quantile(0.5, 3) == 0.0
    for t in (-7.0, -1.0, 0.3, 2.5, 40.0):
        assert stats.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, rel=1e-12)   # Cauchy
        assert stats.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), rel=1e-12)
        # Abramowitz & Stegun 26.7.3 for odd ν = 9, θ = atan(t/3)
        theta = math.atan(t / 3)
        c = math.cos(theta)
        series = c + 2 / 3 * c ** 3 + 8 / 15 * c ** 5 + 48 / 105 * c ** 7
        assert stats.t_cdf(t, 9) == pytest.approx(0.5 + (theta + math.sin(theta) * series) / math.pi, rel=1e-12)
    for x in (0.05, 0.5, 0.93):      # I_x(a, 1) = x^a and I_x(1, b) = 1 − (1 − x)^b
        assert stats.regularized_beta(x, 3.5, 1) == pytest.approx(x ** 3.5, rel=1e-12)
        assert stats.regularized_beta(x, 1, 4.5) == pytest.approx(1 - (1 - x) ** 4.5, rel=1e-12)


def test_cluster_t_against_hand_values():
    # images a: [1, 3], b: [2], c: [6]: N = 4, μ̂ = 12/4 = 3, û = (4−6, 2−3, 6−3) = (−2, −1, 3),
    # h = (1/2, 1/4, 1/4): se² = (4/(1/2) + 1/(3/4) + 9/(3/4)) / 16 = 4/3,
    # q = h²/(1−h) = (1/2, 1/12, 1/12): ν = 1 / (3/8 + (2/3)² − (1/4 + 2/144)) = 1.8
    cell = stats.cluster_bootstrap([1, 3, 2, 6], ["a", "a", "b", "c"])
    assert cell["mean"] == 3 and cell["se"] == pytest.approx(math.sqrt(4 / 3)) and cell["df"] == pytest.approx(1.8)
    half = stats.t_quantile(0.975, 1.8) * math.sqrt(4 / 3)
    assert cell["ci95"] == pytest.approx([3 - half, 3 + half]) and cell["method"] == "t"
    assert cell["too_few_images"]


def test_degrees_of_freedom_are_satterthwaites_for_the_quadratic_form():
    # se² = ε'Aε with A = R' W R / N², R = I − 11'/N the residual maker, W the image blocks weighted
    # 1/(1−h_g); Satterthwaite: ν = tr(A)² / tr(A²) for independent samples of one variance
    sizes = np.array([1, 4, 2, 7, 1, 3])
    clusters = np.repeat(np.arange(len(sizes)), sizes)
    n = sizes.sum()
    same_image = (clusters[:, None] == clusters[None, :]).astype(float)
    weights = 1.0 / (1.0 - sizes[clusters] / n)
    residual_maker = np.eye(n) - 1.0 / n
    a = residual_maker @ (same_image * weights[:, None]) @ residual_maker / n ** 2
    values = np.random.default_rng(3).normal(size=n)
    cell = stats.cluster_bootstrap(values, clusters)
    assert cell["df"] == pytest.approx(np.trace(a) ** 2 / np.trace(a @ a))
    assert cell["se"] ** 2 == pytest.approx(values @ a @ values)
    assert cell["df"] < len(sizes) - 1                      # unequal images: fewer effective images


def test_non_finite_values_are_left_out_and_counted():
    cell = stats.cluster_bootstrap([1.0, math.nan, 3.0, None], ["a", "a", "b", "c"])
    assert cell["mean"] == 2.0 and cell["n"] == 2 and cell["n_images"] == 2 and cell["undefined"] == 2
    assert stats.cluster_bootstrap([], [])["mean"] is None
    assert stats.cluster_bootstrap([4.0], ["a"])["ci95"] is None       # one image: no interval
    assert stats.cluster_bootstrap([4.0], ["a"], method="percentile")["ci95"] is None


def test_paired_difference_uses_common_samples_and_says_whether_zero_is_excluded():
    a = {f"s{i}": 1.0 + 0.1 * i for i in range(10)}
    b = {f"s{i}": 0.1 * i for i in range(10)}
    b["extra"] = 5.0
    image = {s: s for s in list(a) + ["extra"]}
    for method in ("t", "percentile"):
        d = stats.paired_difference(a, b, image, method=method)
        assert d["mean_diff"] == pytest.approx(1.0) and d["n"] == 10 and d["excludes_zero"]
        noisy = {s: v + (-1) ** i for i, (s, v) in enumerate(b.items())}
        assert not stats.paired_difference(b, noisy, image, method=method)["excludes_zero"]


def _constructed_differences(mean: float, n_images: int = 10) -> tuple[dict, dict, dict]:
    """(a, b, image) with one sample per image and a − b = mean ± 0.3 alternating: for 10 images
    s² = 10·0.09/9 = 0.1, se = √(0.1/10) = 0.1, ν = 9."""
    a = {f"s{i}": 2.0 + mean + (0.3 if i % 2 else -0.3) for i in range(n_images)}
    b = {s: 2.0 for s in a}
    return a, b, {s: f"image-{s}" for s in a}


def test_paired_difference_p_value_against_hand_values():
    # mean 0.1, se 0.1, ν = 9: t = 1, two-sided p = 0.3434 (t table); ci95 = 0.1 ± 2.262157·0.1
    d = stats.paired_difference(*_constructed_differences(0.1))
    assert d["mean_diff"] == pytest.approx(0.1) and d["se"] == pytest.approx(0.1) and d["df"] == pytest.approx(9)
    assert d["p"] == pytest.approx(0.343436, abs=1e-6) and d["ci95"] == pytest.approx([-0.1262157, 0.3262157])
    assert not d["excludes_zero"] and d["note"] is None and not d["too_few_images"]
    # mean 0.3: t = 3, p = 0.014956, and p < 0.05 exactly when the interval excludes 0
    d = stats.paired_difference(*_constructed_differences(0.3))
    assert d["p"] == pytest.approx(0.014956, abs=1e-6) and d["excludes_zero"]


def test_no_claim_from_fewer_than_eight_images():
    d = stats.paired_difference(*_constructed_differences(1.0, n_images=7))
    assert d["too_few_images"] and d["ci95"][0] > 0 and d["p"] < 0.001     # the interval is kept …
    assert not d["excludes_zero"] and "7 images" in d["note"]              # … but no claim is made
    assert not stats.paired_difference(*_constructed_differences(1.0, n_images=8))["too_few_images"]
    assert stats.MIN_IMAGES == 8


def test_holm_against_a_hand_example():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.01, None, math.nan, 0.02]) == [pytest.approx(0.02), None, None, pytest.approx(0.02)]
    assert stats.holm([0.3, 0.6]) == [0.6, 0.6] and stats.holm([0.9, 0.8]) == [1.0, 1.0]
    assert stats.holm([]) == []


def test_equivalence_against_a_constructed_case():
    a, b, image = _constructed_differences(0.1)          # mean 0.1, se 0.1, ν = 9
    # margin 0.5: t = (0.1 − 0.5)/0.1 = −4 and (0.1 + 0.5)/0.1 = 6; p_tost = F_9(−4) = 0.0015552
    e = stats.equivalence(a, b, image, margin=0.5)
    assert e["p_tost"] == pytest.approx(0.0015552, abs=1e-7) and e["equivalent"] and e["margin"] == 0.5
    assert e["ci90"] == pytest.approx([0.1 - 0.1833113, 0.1 + 0.1833113])       # t_{0.95, 9} = 1.833113
    # margin 0.2: p_tost = F_9(−1) = 0.171718; the 90 % interval reaches past 0.2
    e = stats.equivalence(a, b, image, margin=0.2)
    assert e["p_tost"] == pytest.approx(0.171718, abs=1e-6) and not e["equivalent"]
    assert not stats.equivalence(*_constructed_differences(0.0, n_images=6), margin=1.0)["equivalent"]


def test_minimum_detectable_effect_against_hand_values():
    # (t_{0.975, 9} + t_{0.8, 9}) · se = (2.262157 + 0.883404) · se
    assert stats.minimum_detectable_effect(1.0, 9) == pytest.approx(3.145561, abs=1e-6)
    assert stats.minimum_detectable_effect(0.1, 9) == pytest.approx(0.3145561, abs=1e-7)
    assert stats.paired_minimum_detectable_effect(*_constructed_differences(0.1)) == pytest.approx(0.3145561, abs=1e-7)
    assert stats.paired_minimum_detectable_effect({"s": 1.0}, {"s": 0.0}, {"s": "i"}) is None


def test_claims_adjust_within_the_family_and_name_the_winner():
    def comparison(mean, n_images=10, margin=None, a="A", b="B", higher_is_better=True):
        values_a, values_b, image = _constructed_differences(mean, n_images)
        return {"metric": "gap", "operator": "blur", "unit": "superpixels", "a": a, "b": b,
                "higher_is_better": higher_is_better, "values_a": values_a, "values_b": values_b,
                "cluster_of": image, "margin": margin}
    family = [comparison(0.3),                                   # p = 0.014956 → Holm 3·0.014956
              comparison(0.3, higher_is_better=False, a="C"),     # lower is better: B wins
              comparison(0.1, margin=0.5),                        # p = 0.3434; TOST p 0.0015552
              comparison(2.0, n_images=7)]                        # strong, but only 7 images
    out = stats.claims("headline", family)
    assert [set(e) for e in out] == [{"family", "metric", "operator", "unit", "a", "b", "mean_diff", "ci95", "p",
                                      "p_holm", "supported", "equivalent", "margin", "n", "n_images", "better",
                                      "too_few_images"}] * 4
    assert [e["p_holm"] for e in out] == pytest.approx(stats.holm([e["p"] for e in out]))
    assert out[0]["p_holm"] == pytest.approx(3 * 0.014956, abs=1e-5)    # the 7-image p is the smallest
    assert out[0]["supported"] and out[0]["better"] == "A"
    assert out[1]["supported"] and out[1]["better"] == "B"
    assert not out[2]["supported"] and out[2]["better"] is None and out[2]["equivalent"]   # one TOST: Holm = raw
    assert out[3]["too_few_images"] and not out[3]["supported"] and out[3]["better"] is None
    assert not any(e["equivalent"] for e in out if e["margin"] is None)
    assert {e["family"] for e in out} == {"headline"}


def test_rank_statistics_against_hand_values():
    assert stats.rankdata([10, 30, 20, 20]).tolist() == [1.0, 4.0, 2.5, 2.5]
    # d = rank differences (0, 1, -1, 0): rho = 1 - 6·Σd² / (n(n²-1)) = 1 - 12/60 = 0.8
    assert stats.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert stats.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))


def test_bootstrap_of_a_statistic_resamples_images():
    x = np.arange(20, dtype=float)
    data = np.stack([x, 2 * x + 1], axis=1)
    cell = stats.cluster_bootstrap_statistic(lambda d: stats.spearman(d[:, 0], d[:, 1]), data, x // 2)
    assert cell["mean"] == pytest.approx(1.0) and cell["ci95"] == pytest.approx([1.0, 1.0])
    assert cell["n"] == 20 and cell["n_images"] == 10 and not cell["too_few_images"]


def _cr1_interval(values, clusters) -> list[float]:
    """The CR1 alternative, for the measurement only: μ̂ ± t_{0.975, G−1} · √(G/(G−1) · Σ_g û_g²) / N."""
    sums, counts = np.bincount(clusters, weights=values), np.bincount(clusters)
    g, mean = len(sums), values.mean()
    se = math.sqrt(g / (g - 1) * ((sums - counts * mean) ** 2).sum()) / len(values)
    return stats.t_interval(mean, se, g - 1)


if __name__ == "__main__":
    intervals = {"cluster-t (default)": lambda v, c: stats.cluster_bootstrap(v, c)["ci95"],
                 "CR1 with G − 1 df": _cr1_interval,
                 "percentile bootstrap (B=2000)":
                     lambda v, c: stats.cluster_bootstrap(v, c, method="percentile")["ci95"]}
    for name, interval in intervals.items():
        print(f"{name:32s} normal {coverage(interval):.4f}   skewed {coverage(interval, skewed=True):.4f}")
    print("cluster-t, seeds 1-3:", [coverage(intervals["cluster-t (default)"], seed=s) for s in (1, 2, 3)])


def test_hierarchical_bootstrap_pools_models_and_resamples_them():
    # two models whose images are identical within a model: the pooled interval spans the model means
    values = [1.0] * 6 + [3.0] * 6
    models = ["a"] * 6 + ["b"] * 6
    images = [0, 0, 1, 1, 2, 2] * 2
    cell = stats.hierarchical_bootstrap(values, models, images, n_boot=400)
    assert cell["mean"] == pytest.approx(2.0) and cell["n_models"] == 2 and cell["n_images"] == 6
    assert cell["ci95"][0] == pytest.approx(1.0) and cell["ci95"][1] == pytest.approx(3.0)   # aa … bb draws
    one = stats.hierarchical_bootstrap([1.0, 2.0], ["a", "a"], [0, 1])
    assert one["ci95"] is None and one["n_models"] == 1                                     # no model stage
