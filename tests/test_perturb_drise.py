"""D-RISE's matched score and saliency (perturb/ssd_matched.py, perturb/drise.py) on the toy detector,
where the detections, and what moves them, are known by construction."""
import pytest
import torch
from toy_detector import C, ToyDetector, prior

import perturb
import ssd

ONES = torch.ones(1, 3, 16, 16, dtype=torch.float64)


def detector(cls: dict, box: dict | None = None) -> ToyDetector:
    """The toy with S = (x0, x1) and head weights {(head row, source channel): value} spread evenly over
    the 8×8 kernel (so the output is value × the quadrant's mean of that channel)."""
    model = ToyDetector().eval()
    with torch.no_grad():
        for conv in (model.body, *model.cls_heads, *model.box_heads):
            conv.weight.zero_()
        model.body.weight[0, 0] = model.body.weight[1, 1] = 1
        for head, rows in ((model.cls_heads[0], cls), (model.box_heads[0], box or {})):
            for (row, channel), value in rows.items():
                head.weight[row, channel] = value / 64
    return model


def test_a_perturbation_that_moves_the_detection_to_another_prior():
    """Both boxes of location (0, 0) read class 'a' (logit 10 × the quadrant's mean): box 0 from x0,
    box 1 from x1. Removing x0 in that quadrant leaves box 0 with logits (0, 0, 0): its vector is
    uniform, cos ≈ 1/√3 ≈ 0.58 < 0.75, while box 1 still has the original vector (cos 1) and overlaps box 0 at
    IoU 6²/(√48)² = 0.75: the best match moves to box 1, with similarity exactly 0.75."""
    model = detector({(0 * C + 1, 0): 10.0, (1 * C + 1, 1): 10.0})
    target = ssd.Target(prior(0, 0, 0), 1)
    f = perturb.matched_score(model, ONES, [target])
    moved = ONES.clone()
    moved[0, 0, :8, :8] = 0
    score = f(torch.cat([ONES, moved]))
    torch.testing.assert_close(score, torch.tensor([[1.0], [0.75]], dtype=torch.float64))
    assert f.best.tolist() == [[prior(0, 0, 0)], [prior(0, 0, 1)]]
    assert f.moved_share().tolist() == [0.5]
    other_quadrant = ONES.clone()
    other_quadrant[0, 0, 8:, 8:] = 0                         # another location's pixels: nothing changes
    torch.testing.assert_close(f(other_quadrant), torch.ones(1, 1, dtype=torch.float64))
    assert f.moved_share().tolist() == [1 / 3]


def test_the_matched_score_drives_lime_and_shap_and_counts_every_pass():
    model = detector({(0 * C + 1, 0): 10.0, (1 * C + 1, 1): 10.0})
    targets = [ssd.Target(prior(0, 0, 0), 1), ssd.BoxTarget(prior(1, 1, 0), "cx")]
    quadrants = torch.arange(4).view(2, 2).repeat_interleave(8, 0).repeat_interleave(8, 1)
    f = perturb.matched_score(model, ONES, targets)
    lime = perturb.explain(model, ONES, targets, method="lime", segments=quadrants, n_samples=12, score=f)
    assert lime.shape == (2, 16, 16) and torch.isfinite(lime).all()
    assert len(torch.cat(f.moved)) == 12
    shap = perturb.explain(model, ONES, targets, method="shap", segments=quadrants, n_permutations=2,
                           score="matched")
    # efficiency: per target the values sum to f(x) − f(baseline); each quadrant paints 64 pixels
    ends = perturb.matched_score(model, ONES, targets)(torch.cat([ONES, torch.zeros_like(ONES)]))
    torch.testing.assert_close(shap.sum(dim=(1, 2)) / 64, (ends[0] - ends[1]).to(shap.dtype))
    with pytest.raises(ValueError, match="built for other targets"):
        perturb.explain(model, ONES, targets[:1], method="lime", segments=quadrants, n_samples=4, score=f)


def test_drise_concentrates_on_the_region_the_score_depends_on():
    """Location (0, 0) reads only the top-left quadrant, and its box shrinks as that quadrant's x0
    dims (d_w = d_h = −5 × mean): the matched similarity of its detection depends on that quadrant
    alone, so D-RISE's map there stands far above the map on the opposite quadrant."""
    model = detector({(0 * C + 1, 0): 10.0}, {(2, 0): -5.0, (3, 0): -5.0})
    target = ssd.Target(prior(0, 0, 0), 1)
    saliency = perturb.explain_drise(model, ONES, [target], n_masks=2000, grid=4, batch_size=250)[0]
    inside, opposite = saliency[:8, :8], saliency[8:, 8:]
    assert inside.mean() > opposite.mean() + 5 * opposite.std()
    assert inside.mean() > 1.15 * opposite.mean()


def test_masks_are_smooth_seeded_and_independent_of_the_batch_size():
    cells, shifts = perturb.draw_masks(64, 4, 0.3, (16, 16), seed=5)
    masks = perturb.masks_of(cells, shifts, (16, 16))
    assert masks.shape == (64, 16, 16) and masks.min() >= 0 and masks.max() <= 1
    assert abs(float(cells.float().mean()) - 0.3) < 0.08 and shifts.min() >= 0 and shifts.max() < 4
    assert ((masks > 0) & (masks < 1)).any()                                    # bilinear: not binary
    f = lambda b: b.sum(dim=(1, 2, 3))[:, None] ** 2                          # noqa: E731  any score
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    small, large = (perturb.drise(f, x, 10, grid=4, seed=2, batch_size=b) for b in (3, 10))
    torch.testing.assert_close(small, large)


def test_with_every_cell_kept_the_map_is_the_score_everywhere():
    """p = 1: every mask is all ones, every masked input is x, so S = f(x) at every pixel."""
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    f = lambda b: torch.stack([b.sum(dim=(1, 2, 3)), -b[:, 0, 0, 0]], dim=1)   # noqa: E731
    saliency = perturb.drise(f, x, 5, grid=3, p=1.0, batch_size=2)
    expected = f(x)[0][:, None, None].expand(2, 16, 16)
    torch.testing.assert_close(saliency, expected)


@pytest.mark.parametrize("kwargs, message", [(dict(n_masks=0), "n_masks must be an integer ≥ 1"),
                                             (dict(p=0.0), r"p must be a finite number in \(0, 1\]"),
                                             (dict(grid=1.5), "grid must be an integer"),
                                             (dict(score="best"), "unknown score")])
def test_bad_settings(kwargs, message):
    model = detector({})
    with pytest.raises(ValueError, match=message):
        perturb.explain_drise(model, ONES, [ssd.Target(0, 1)], **kwargs)
