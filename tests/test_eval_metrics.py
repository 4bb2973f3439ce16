"""The comparison metrics on hand-made inputs whose values are known exactly."""
import math

import pytest
import torch

from eval.metrics import auc, box_mask, entropy, group, localization, pixel_flipping
from eval.removal import random_heatmap


def test_entropy_known_histograms(device):
    assert entropy(torch.full((8, 8), 3.5, device=device)) == 0.0
    halves = torch.zeros(8, 8, device=device)
    halves[:, 4:] = 1.0
    assert entropy(halves) == pytest.approx(1.0, abs=1e-12)
    quarters = torch.arange(4, device=device).repeat_interleave(16).reshape(8, 8).float()
    assert entropy(quarters) == pytest.approx(2.0, abs=1e-12)
    # 250 equally large superpixels with distinct values: log2(250) (the LIME bound of section 4.1)
    painted = torch.arange(250, device=device).repeat_interleave(4).float().reshape(25, 40) / 7
    assert entropy(painted) == pytest.approx(math.log2(250), abs=1e-12)
    # unequal shares: p = (3/4, 1/4)
    skew = torch.tensor([0.0, 0.0, 0.0, 1.0], device=device)
    assert entropy(skew) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)), abs=1e-12)


def test_binned_entropy_ignores_invisible_noise(device):
    halves = torch.zeros(16, 16, dtype=torch.float64, device=device)
    halves[:, 8:] = 1.0
    noisy = halves + 1e-6 * torch.randperm(256, device=device).reshape(16, 16)   # all values distinct
    assert entropy(noisy) == pytest.approx(8.0)                        # 256 distinct values: log2 256
    assert entropy(noisy, bins=256) == pytest.approx(1.0, abs=1e-12)   # still two visible halves
    assert entropy(torch.zeros(4, 4, device=device), bins=256) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        entropy(torch.tensor([1.0, math.nan], device=device))


def test_group_sums_per_superpixel_and_spreads_evenly(device):
    segments = torch.tensor([[0, 0, 1], [2, 2, 1]], device=device)
    heatmap = torch.tensor([[1.0, 3.0, 5.0], [-1.0, 0.0, 1.0]], device=device)
    expected = torch.tensor([[2.0, 2.0, 3.0], [-0.5, -0.5, 3.0]], device=device)
    assert torch.equal(group(heatmap, segments), expected)
    assert torch.equal(group(expected, segments), expected)    # superpixel-constant maps are unchanged
    with pytest.raises(ValueError, match="do not match"):
        group(heatmap, segments[:, :2])


def test_auc_of_known_curves():
    assert auc(torch.linspace(1, 0, 101, dtype=torch.float64)) == pytest.approx(0.5, abs=1e-12)
    assert auc(torch.ones(11)) == pytest.approx(1.0, abs=1e-12)
    # trapezoid of (0, 1, 0) over [0, 1] is a triangle of area 1/2
    assert auc(torch.tensor([0.0, 1.0, 0.0])) == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(ValueError):
        auc(torch.tensor([1.0]))


def test_localization_known_share(device):
    heatmap = torch.zeros(10, 10, device=device)
    heatmap[2:4, 2:4] = 1.0       # 4 inside the box
    heatmap[8, 8] = 4.0           # 4 outside
    heatmap[3, 3] = 1.0
    heatmap[2, 2] = -5.0          # negative relevance does not count, inside or out
    # box (2, 2, 4, 4) contains the pixels with centres 2.5 and 3.5, i.e. rows/cols 2 and 3
    assert localization(heatmap, (2, 2, 4, 4)) == pytest.approx(3 / 7)
    mask = torch.zeros(10, 10, dtype=torch.bool, device=device)
    mask[8, 8] = True
    assert localization(heatmap, mask) == pytest.approx(4 / 7)
    assert math.isnan(localization(-heatmap.abs(), (0, 0, 10, 10)))
    assert box_mask((0, 0, 10, 10), (10, 10), device).all()


def _brightness_score(x):
    """Toy score: the mean of the first channel, so flipping pixel p to 0 removes exactly x[p]/HW."""
    return x[:, 0].mean(dim=(1, 2))


def test_pixel_flipping_pixelwise_exact(device):
    H = W = 10
    x = torch.rand(1, 3, H, W, device=device) + 0.5
    heatmap = x[0, 0].clone()              # a perfect explanation of the brightness score
    curve = pixel_flipping(_brightness_score, x, heatmap, steps=10, batch_size=3)
    values = x[0, 0].reshape(-1).sort(descending=True).values
    expected = torch.stack([(values.sum() - values[:10 * k].sum()) / 100 for k in range(11)])
    assert curve.shape == (11,)
    torch.testing.assert_close(curve, expected)
    assert curve[-1] == 0
    # the explanation flips bright pixels first, so it beats every random order on AUC
    for seed in (11, 12, 13):   # (seed 0 would reproduce x itself: the global test seed is 0)
        random_curve = pixel_flipping(_brightness_score, x, random_heatmap((H, W), seed, device=device), steps=10)
        assert auc(curve) < auc(random_curve)
    # batch size does not change the curve
    torch.testing.assert_close(pixel_flipping(_brightness_score, x, heatmap, steps=10, batch_size=64), curve)


def test_pixel_flipping_superpixels_resampled_exact(device):
    # 4×4 image, three superpixels: A = left half (8 px), B = top right (4 px), C = bottom right (4 px)
    segments = torch.tensor([[0, 0, 1, 1]] * 2 + [[0, 0, 2, 2]] * 2, device=device)
    x = torch.ones(1, 3, 4, 4, device=device)
    x[0, 0] = torch.tensor([[1.0, 1, 2, 2]] * 2 + [[1.0, 1, 3, 3]] * 2, device=device)
    heatmap = torch.zeros(4, 4, device=device)
    heatmap[segments == 2] = 1.0           # C first, then B, then A
    heatmap[segments == 1] = 0.5
    curve = pixel_flipping(_brightness_score, x, heatmap, steps=4, segments=segments)
    # grid k/4 of 16 pixels = 0, 4, 8, 12, 16 pixels; whole superpixels only: {}, C, C+B, C+B, all
    total = (8 * 1 + 4 * 2 + 4 * 3) / 16
    expected = torch.tensor([total, total - 12 / 16, total - 20 / 16, total - 20 / 16, 0.0], device=device)
    torch.testing.assert_close(curve, expected)


def test_pixel_flipping_counts_batched_evaluations(device):
    calls = []

    def score(x):
        calls.append(x.shape[0])
        return _brightness_score(x)

    x = torch.rand(1, 3, 8, 8, device=device)
    segments = torch.arange(4, device=device).repeat_interleave(16).reshape(8, 8)   # 4 superpixels
    pixel_flipping(score, x, torch.rand(8, 8, device=device), steps=100, segments=segments, batch_size=4)
    assert sum(calls) == 5 and max(calls) <= 4          # only the 5 distinct prefixes are evaluated


def test_outside_rf_share_is_zero_inside_and_exact_outside(device):
    from eval.metrics import outside_rf
    field = torch.zeros(8, 8, dtype=torch.bool, device=device)
    field[2:6, 1:5] = True
    inside = torch.randn(8, 8, device=device) * field
    assert outside_rf(inside, field) == 0.0
    leaky = inside.clone()
    leaky[0, 7] = 3.0
    leaky[7, 0] = -1.0                                    # |R| counts, whatever the sign
    assert outside_rf(leaky, field) == pytest.approx(4.0 / (inside.abs().sum().item() + 4.0))
    assert math.isnan(outside_rf(torch.zeros(8, 8, device=device), field))


def test_localization_null_is_the_share_of_the_field_in_the_region(device):
    from eval.metrics import localization_null
    field = torch.zeros(10, 10, dtype=torch.bool, device=device)
    field[0:4, 0:5] = True                                # 20 pixels
    mask = torch.zeros(10, 10, dtype=torch.bool, device=device)
    mask[2:8, 3:9] = True                                 # overlaps the field in rows 2-3, cols 3-4: 4 px
    assert localization_null(field, mask) == pytest.approx(4 / 20)
    uniform = field.double()
    assert localization(uniform, mask) == pytest.approx(localization_null(field, mask))
    assert localization_null(field, (0, 0, 5, 4)) == pytest.approx(1.0)    # box covers the field
