"""The cluster bootstrap, paired differences and rank statistics of eval.stats."""
import math

import numpy as np
import pytest

from eval import stats


def test_copies_of_one_image_do_not_narrow_the_interval():
    rng = np.random.default_rng(1)
    per_image = rng.normal(size=12)
    alone = stats.cluster_bootstrap(per_image, range(12))
    copies = stats.cluster_bootstrap(np.repeat(per_image, 4), np.repeat(np.arange(12), 4))
    assert copies["n"] == 48 and copies["n_images"] == 12
    assert copies["mean"] == pytest.approx(alone["mean"])
    assert copies["ci95"] == pytest.approx(alone["ci95"])       # same draws of images, same means
    # treating the 48 copies as independent samples would give a far narrower interval
    naive = stats.cluster_bootstrap(np.repeat(per_image, 4), range(48))
    assert naive["ci95"][1] - naive["ci95"][0] < 0.7 * (copies["ci95"][1] - copies["ci95"][0])


def test_interval_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(2)
    covered, trials = 0, 300
    for t in range(trials):
        # 20 images, 1-5 samples each, an image effect and a sample effect
        sizes = rng.integers(1, 6, size=20)
        image_effect = rng.normal(scale=1.0, size=20)
        values = np.concatenate([0.5 + e + rng.normal(scale=0.5, size=k) for e, k in zip(image_effect, sizes)])
        clusters = np.repeat(np.arange(20), sizes)
        ci = stats.cluster_bootstrap(values, clusters, n_boot=400, seed=t)["ci95"]
        covered += ci[0] <= 0.5 <= ci[1]
    assert 0.88 <= covered / trials <= 0.98      # nominal 0.95; percentile intervals run a little short


def test_non_finite_values_are_left_out_and_counted():
    cell = stats.cluster_bootstrap([1.0, math.nan, 3.0, None], ["a", "a", "b", "c"])
    assert cell["mean"] == 2.0 and cell["n"] == 2 and cell["n_images"] == 2 and cell["undefined"] == 2
    assert stats.cluster_bootstrap([], [])["mean"] is None
    assert stats.cluster_bootstrap([4.0], ["a"])["ci95"] is None       # one image: no interval


def test_paired_difference_uses_common_samples_and_says_whether_zero_is_excluded():
    a = {f"s{i}": 1.0 + 0.1 * i for i in range(10)}
    b = {f"s{i}": 0.1 * i for i in range(10)}
    b["extra"] = 5.0
    image = {s: s for s in list(a) + ["extra"]}
    d = stats.paired_difference(a, b, image)
    assert d["mean_diff"] == pytest.approx(1.0) and d["n"] == 10 and d["excludes_zero"]
    noisy = {s: v + (-1) ** i for i, (s, v) in enumerate(b.items())}
    assert not stats.paired_difference(b, noisy, image)["excludes_zero"]


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
    assert cell["n"] == 20 and cell["n_images"] == 10
