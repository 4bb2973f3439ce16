"""Removal curves (MoRF, LeRF, gap) and the removal operators, on scores whose right answer is known."""
import numpy as np
import pytest
import torch

from eval.metrics import faithfulness
from eval.removal import curves
from eval.removal import operators as removal


def _blocks(size=16, block=4):
    rows = torch.arange(size) // block
    return rows[:, None] * (size // block) + rows[None, :]                  # 16 square superpixels


def _linear_score(weights_per_segment, segments):
    """score(x) = Σ_s w_s · mean of superpixel s of channel 0: the true relevance of s is w_s·mean."""
    sizes = torch.bincount(segments.flatten()).double()

    def score(x):
        sums = torch.zeros(x.shape[0], len(sizes), dtype=torch.float64)
        sums.index_add_(1, segments.flatten(), x[:, 0].reshape(x.shape[0], -1).double())
        return (sums / sizes) @ weights_per_segment
    return score


def test_true_ordering_falls_fastest_and_the_reversed_one_has_the_lowest_gap():
    segments = _blocks()
    weights = torch.linspace(-1.0, 3.0, 16, dtype=torch.float64)[torch.randperm(16, generator=torch.Generator().manual_seed(3))]
    x = torch.ones(1, 3, 16, 16)
    score = _linear_score(weights, segments)
    truth = weights[segments].float()                                       # w_s on every pixel of s
    field = torch.ones(16, 16, dtype=torch.bool)
    rc = curves.RemovalCurves(score, x, field, removal.operators(["grey"], x))
    grid = (0.0,) + curves.LOG_GRID
    ties = curves.tie_breaker(256, 0)
    ids = {}
    for name, heatmap in {"true": truth, "reversed": -truth}.items():
        for direction in curves.DIRECTIONS:
            ids[name, direction] = rc.add_heatmap("grey", heatmap, direction, grid, segments, ties)
    for seed in range(20):
        for direction in curves.DIRECTIONS:
            ids["random", direction, seed] = rc.add_heatmap(
                "grey", curves.random_heatmap((16, 16), seed, segments), direction, grid, segments, ties)
    rc.run()
    s0, s_all = rc.ends("grey")
    assert s0 == pytest.approx(float(weights.sum())) and s_all == 0.0

    def auc(key):
        c = faithfulness.normalised(rc.curve(ids[key]), s0, s_all)
        assert c[0] == pytest.approx(1.0) and c[-1] == pytest.approx(0.0)   # s_0 -> 1, all removed -> 0
        return faithfulness.log_auc(c[1:], grid[1:])
    morf = {k: auc((k, "morf")) for k in ("true", "reversed")}
    lerf = {k: auc((k, "lerf")) for k in ("true", "reversed")}
    random_morf = np.mean([auc(("random", "morf", s)) for s in range(20)])
    random_lerf = np.mean([auc(("random", "lerf", s)) for s in range(20)])
    assert morf["true"] < random_morf < morf["reversed"]                   # MoRF: truth falls fastest
    assert lerf["true"] > random_lerf > lerf["reversed"]                   # LeRF: truth falls slowest
    assert lerf["true"] - morf["true"] > 0 > lerf["reversed"] - morf["reversed"]
    assert abs(random_lerf - random_morf) < 0.1 * (lerf["true"] - morf["true"])


def test_skipped_passes_give_the_same_curves_and_the_hand_counted_skips():
    # 4×4 image, field = the left two columns (8 pixels), raster order, every count 0..16.
    x = torch.arange(1.0, 17.0).view(1, 1, 4, 4).expand(1, 3, 4, 4).contiguous()
    field = torch.zeros(4, 4, dtype=torch.bool)
    field[:, :2] = True
    weights = torch.arange(1.0, 17.0).view(4, 4) * field

    def score(inputs):
        return (inputs[:, 0] * weights).sum(dim=(1, 2))
    ops = removal.operators(["grey"], x)
    rc = curves.RemovalCurves(score, x, field, ops, batch_size=3)
    order = torch.arange(16)
    request = rc.add("grey", order, torch.arange(17))
    rc.run()
    # removed field pixels after c = 0..16: 0,1,2,2,2,3,4,4,4,5,6,6,6,7,8,8,8 -> 9 distinct inputs
    assert rc.passes_run == 9 and rc.passes_skipped == 8
    direct = []
    for c in range(17):
        mask = torch.zeros(16, dtype=torch.bool)
        mask[order[:c]] = True
        direct.append(float(score(ops["grey"](mask.view(4, 4)))))
    assert rc.curve(request) == direct                                      # bit for bit


def test_background_pixels_are_free_under_true_removal():
    x = torch.rand(1, 3, 8, 8)
    background = x.clone()
    background[..., 2:4, 2:4] = 0.0                                          # the only object pixels
    ops = removal.operators(["true"], x, background)
    assert int(ops["true"].changes().sum()) == 4
    rc = curves.RemovalCurves(lambda b: b[:, 0].sum(dim=(1, 2)), x, torch.ones(8, 8, dtype=torch.bool), ops)
    rc.add("true", torch.arange(64), torch.arange(65))
    rc.run()
    assert rc.passes_run == 5                                               # 0, 1, 2, 3, 4 object pixels removed
    s0, s_all = rc.ends("true")
    assert s_all == pytest.approx(float(background[:, 0].sum()))


def test_superpixel_order_removes_whole_superpixels_within_the_fraction():
    segments = _blocks()
    heatmap = segments.float()                                              # superpixel 15 most relevant
    order, steps = curves.removal_order(heatmap, "morf", segments, torch.arange(256))
    assert set(order[:16].tolist()) == set(torch.nonzero(segments.flatten() == 15).flatten().tolist())
    assert steps.tolist() == list(range(0, 257, 16))
    # 10 % of 256 px = 25.6 px: one superpixel (16 px), never a part of the second
    assert curves.counts_at(steps, [0.1, 0.125, 1.0], 256).tolist() == [16, 32, 256]


def test_operators_keep_kept_pixels_and_fill_as_documented():
    x = torch.randn(1, 3, 32, 32)
    removed = torch.zeros(2, 32, 32, dtype=torch.bool)
    removed[0, 8:20, 4:30] = True
    removed[1] = torch.rand(32, 32) < 0.5
    ops = removal.operators(["grey", "blur", "inpaint"], x)
    for name, op in ops.items():
        out = op(removed)
        kept = ~removed[:, None].expand_as(out)
        assert torch.equal(out[kept], x.expand_as(out)[kept]), name
    assert torch.equal(ops["grey"](removed)[removed[:, None].expand(-1, 3, -1, -1)], torch.zeros(int(removed.sum()) * 3))
    flat = torch.full((1, 3, 32, 32), 0.7)
    torch.testing.assert_close(removal.operators(["inpaint"], flat)["inpaint"](removed), flat.expand(2, -1, -1, -1))
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32)
    filled = removal.operators(["inpaint"], ramp)["inpaint"](removed[:1])
    assert (filled - ramp).abs().max() < 0.1                                # smooth fill, no new edge
    with pytest.raises(ValueError, match="synthetic"):
        removal.operators(["true"], x)
    with pytest.raises(ValueError, match="unknown removal"):
        removal.operators(["black"], x)


@pytest.mark.parametrize("operator", removal.OPERATORS)
@pytest.mark.parametrize("unit", curves.UNITS)
def test_every_stored_point_equals_a_direct_evaluation_of_its_input(operator, unit):
    """Each point a curve stores (computed once per key, reused for equal keys) equals the score of
    the input it stands for, evaluated directly. The score reads a 16×16 field of a 32×32 image whose
    pixels outside the field are textured: inpaint fills a removed field pixel from kept pixels
    outside the field, so every removal anywhere can change the score. (Before: once every field
    pixel was removed, the inpaint curve reused the fully removed score: [757, 767, 0, 0, 0] against
    a direct [757, 767, 776, 778, 0].)"""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32, generator=g) * 100
    background = torch.rand(1, 3, 32, 32, generator=g) * 100
    field = torch.zeros(32, 32, dtype=torch.bool)
    field[8:24, 8:24] = True

    def score(b):                                       # reads the field only: a weighted sum of its pixels
        w = torch.linspace(-1, 2, 16 * 16 * 3, dtype=torch.float64).view(3, 16, 16)
        return (b[:, :, 8:24, 8:24].double() * w).sum(dim=(1, 2, 3))
    ops = removal.operators([operator], x, background if operator == "true" else None)
    rc = curves.RemovalCurves(score, x, field, ops, batch_size=5)
    segments = _blocks(32, 4) if unit == "superpixels" else None
    heatmap = field.float() * 10 + torch.rand(32, 32, generator=g)          # the field first, then the rest
    ties = curves.tie_breaker(32 * 32, 1)
    fractions = (0.0, 0.05, 0.2, 0.25, 0.3, 0.5, 0.8, 1.0)
    requests = {d: rc.add_heatmap(operator, heatmap, d, fractions, segments, ties) for d in curves.DIRECTIONS}
    rc.run()
    for direction, request in requests.items():
        order, steps = curves.removal_order(heatmap, direction, segments, ties)
        for count, stored in zip(curves.counts_at(steps, fractions, 32 * 32).tolist(), rc.curve(request)):
            mask = torch.zeros(32 * 32, dtype=torch.bool)
            mask[order[:count]] = True
            direct = float(score(ops[operator](mask.view(32, 32)))[0])
            assert stored == pytest.approx(direct, rel=1e-6, abs=1e-6), (operator, unit, direction, count)
    assert rc.passes_run <= rc.points
