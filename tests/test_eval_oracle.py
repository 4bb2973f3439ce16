"""The oracle ordering (eval.removal.oracle) on scores whose best order is known."""
import itertools

import pytest
import torch

from eval.metrics import faithfulness
from eval.removal import curves
from eval.removal import operators as removal
from eval.removal.oracle import active_superpixels, greedy_order, pixel_order

GRID = (0.0,) + curves.LOG_GRID


def _scene(weights):
    """A 16×16 image of 16 square superpixels; superpixels 0–5 hold an object (x = 2, background 0)
    whose removal truly changes the image, the others are background (removal changes nothing).
    score = Σ_s w_s · mean of superpixel s (an additive score: greedy is optimal for it)."""
    rows = torch.arange(16) // 4
    segments = rows[:, None] * 4 + rows[None, :]
    on_object = (segments < 6)[None, None].expand(1, 3, 16, 16)
    x = torch.where(on_object, torch.full((1, 3, 16, 16), 2.0), torch.ones(1, 3, 16, 16))
    background = torch.where(on_object, torch.zeros_like(x), x)
    sizes = torch.bincount(segments.flatten()).double()

    def score(b):
        sums = torch.zeros(b.shape[0], 16, dtype=torch.float64).index_add_(1, segments.flatten(),
                                                                             b[:, 0].reshape(b.shape[0], -1).double())
        return (sums / sizes) @ weights
    return segments, x, background, score


def _areas(rc, request, s0, s_all):
    c = faithfulness.normalised(rc.curve(request), s0, s_all)
    return faithfulness.log_auc(c[1:], GRID[1:])


@pytest.mark.parametrize("direction", curves.DIRECTIONS)
def test_the_oracle_beats_every_ordering_of_an_additive_score_and_never_scores_inert_superpixels(direction):
    weights = torch.tensor([3.0, -1.0, 0.5, 2.0, 1.5, 0.25] + [7.0] * 10, dtype=torch.float64)   # 7: inert
    segments, x, background, score = _scene(weights)
    op = removal.operators(["true"], x, background)["true"]
    field = torch.ones(16, 16, dtype=torch.bool)
    active = active_superpixels(segments, field, op.changes())
    assert active.tolist() == [True] * 6 + [False] * 10
    rc = curves.RemovalCurves(score, x, field, {"true": op}, batch_size=16)
    all_removed = torch.ones(256, dtype=torch.long).cumsum(0) - 1
    rc.add("true", all_removed, torch.tensor([0, 256]))
    rc.run()
    s0, s_all = rc.ends("true")
    order, passes = greedy_order(score, op, segments, active, direction, s0, s_all, GRID, batch_size=4)
    assert sorted(order.tolist()) == list(range(16)) and passes <= len(GRID) * 6
    best = rc.add("true", *_points(order, segments))
    others = [rc.add("true", *_points(torch.tensor(list(p) + list(range(6, 16))), segments))
              for p in itertools.permutations(range(6))]
    others += [rc.add("true", *_points(torch.tensor(list(range(6, 16)) + list(p)), segments))
               for p in itertools.permutations(range(6))]
    rc.run()
    oracle = _areas(rc, best, s0, s_all)
    rest = [_areas(rc, r, s0, s_all) for r in others]
    if direction == "morf":
        assert oracle <= min(rest) + 1e-12                  # the steepest fall of all orderings
    else:
        assert oracle >= max(rest) - 1e-12                  # the flattest


def _points(order, segments):
    pixels, steps = pixel_order(order, segments)
    return pixels, curves.counts_at(steps, GRID, segments.numel())


def test_bad_direction_is_refused():
    segments, x, background, score = _scene(torch.ones(16, dtype=torch.float64))
    op = removal.operators(["true"], x, background)["true"]
    with pytest.raises(ValueError, match="unknown direction"):
        greedy_order(score, op, segments, torch.ones(16, dtype=torch.bool), "middle", 1.0, 0.0, GRID)
