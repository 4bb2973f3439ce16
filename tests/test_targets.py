"""The kinds of target (ssd/targets.py): their values on constructed outputs, their checks, their seeds
on the heads, and the missed objects' priors on a constructed case."""
import pytest
import torch
from toy_detector import A, C, CONFIG, ToyDetector, prior

import ssd

# one image, 3 priors, 4 classes: logits and deltas with values to read off by hand
LOGITS = torch.tensor([[[0.0, 1.0, 2.0, 3.0], [5.0, -1.0, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0]]])   # [1,3,4]
DELTAS = torch.tensor([[[0.1, 0.2, 0.3, 0.4], [-1.0, -2.0, -3.0, -4.0], [7.0, 8.0, 9.0, 10.0]]])  # [1,3,4]


def test_each_kind_reads_its_outputs_at_its_prior():
    targets = [ssd.Target(0, 3), ssd.BoxTarget(1, "w"), ssd.ContrastTarget(1, 2, 0), (2, 1),
               ssd.BoxTarget(2, "cx"), ssd.BoxTarget(0, "h")]
    got = ssd.score((LOGITS, DELTAS), targets)
    torch.testing.assert_close(got, torch.tensor([[3.0, -3.0, 0.5 - 5.0, 1.0, 7.0, 0.4]]))
    # probabilities: softmax for the class terms; a box term stays the regression output
    p1 = torch.softmax(LOGITS[0, 1], 0)
    got = ssd.score((LOGITS, DELTAS), targets[1:4], "probability")
    torch.testing.assert_close(got, torch.tensor([[-3.0, float(p1[2] - p1[0]), 0.25]]))


def test_class_targets_need_only_the_logits_and_box_targets_say_what_is_missing():
    torch.testing.assert_close(ssd.score(LOGITS, [ssd.ContrastTarget(0, 3, 1)]), torch.tensor([[2.0]]))
    with pytest.raises(ValueError, match="box targets need the box regression output"):
        ssd.score(LOGITS, [ssd.BoxTarget(0, "cx")])


@pytest.mark.parametrize("target, message", [
    (ssd.BoxTarget(0, "x1"), "coordinate must be one of"),
    (ssd.BoxTarget(3, "cx"), "prior index out of range"),
    (ssd.ContrastTarget(0, 1, 1), "other must be a class"),
    (ssd.ContrastTarget(0, 1, 4), "other must be a class"),
    (ssd.ContrastTarget(0, 4, 1), "label out of range"),
])
def test_bad_targets_of_each_kind(target, message):
    with pytest.raises(ValueError, match=message):
        ssd.score((LOGITS, DELTAS), [target])


def test_head_seeds_place_each_term_on_its_head_at_its_location():
    """Prior (1, 0, 1) of the toy: box 1 at row 1, column 0. A contrast seeds +1 and −1 on two channels
    of the class head, a box target 1 on channel a·4 + m of the box head; an unkept head falls back to
    the model output."""
    model = ToyDetector()
    cls_out, box_out = torch.zeros(1, A * C, 2, 2), torch.zeros(1, A * 4, 2, 2)
    kept = {model.cls_heads[0]: cls_out, model.box_heads[0]: box_out}
    p = prior(1, 0, 1)
    contrast, box = ssd.head_seeds(model, kept, None, [ssd.ContrastTarget(p, 2, 1), ssd.BoxTarget(p, "h")])
    assert [(t is cls_out, i, w) for t, i, w in contrast] == [(True, (0, C + 2, 1, 0), 1.0),
                                                              (True, (0, C + 1, 1, 0), -1.0)]
    assert [(t is box_out, i, w) for t, i, w in box] == [(True, (0, 4 + 3, 1, 0), 1.0)]
    logits, deltas = torch.zeros(1, 8, C), torch.zeros(1, 8, 4)
    (fallback,) = ssd.head_seeds(model, {}, (logits, deltas), [ssd.BoxTarget(p, "cy")])
    assert [(t is deltas, i, w) for t, i, w in fallback] == [(True, (0, p, 1), 1.0)]


def _detector_predicting_its_priors():
    """The toy with a zero box head: every prior predicts its own box (deltas 0)."""
    model = ToyDetector()
    with torch.no_grad():
        model.box_heads[0].weight.zero_()
    return model


def test_missed_objects_get_the_prior_whose_predicted_box_overlaps_them_most():
    """Four objects: (0) found by a detection of its class at IoU 0.60 (≥ 0.5): not missed; (1) found
    only by a detection of another class: missed; (2) overlapped at IoU 0.22 by one of its class:
    missed at 0.5, found at 0.2; (3) nothing near it: missed. A missed object's prior is the one whose
    predicted box (here the prior's own box) overlaps it most, which for a box equal to a prior's box
    is that prior."""
    model = _detector_predicting_its_priors()
    x = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    boxes = ssd.predicted_boxes(CONFIG, torch.zeros(1, 8, 4))[0]
    gt = torch.stack([boxes[prior(0, 0, 0)], boxes[prior(0, 1, 1)], boxes[prior(1, 0, 0)], boxes[prior(1, 1, 1)]])
    gt_labels = torch.tensor([1, 2, 1, 2])
    x1, y1, x2, y2 = boxes[prior(0, 0, 0)].tolist()                            # [1,7]²: a 6×6 square
    shifted = torch.tensor([[x1 + 0.8, y1 + 0.8, x2 + 0.8, y2 + 0.8]])        # IoU 5.2²/(72−5.2²) ≈ 0.60
    x1, y1, x2, y2 = boxes[prior(1, 0, 0)].tolist()
    far = torch.tensor([[x1 + 2.4, y1 + 2.4, x2 + 2.4, y2 + 2.4]])           # IoU 3.6²/(72−3.6²) ≈ 0.22
    dets = ssd.Detections(torch.cat([shifted, boxes[prior(0, 1, 1)][None], far]), torch.tensor([0.9, 0.8, 0.7]),
                          torch.tensor([1, 1, 1]), torch.tensor([0, 3, 4]))
    missed = ssd.missed_targets(model, x, dets, gt, gt_labels)
    assert missed == [ssd.Target(prior(0, 1, 1), 2), ssd.Target(prior(1, 0, 0), 1), ssd.Target(prior(1, 1, 1), 2)]
    assert ssd.missed_targets(model, x, dets, gt, gt_labels, iou=0.2) == missed[::2]
    assert ssd.missed_targets(model, x, dets, gt[:1], gt_labels[:1]) == []


def test_missed_targets_use_the_predicted_boxes_not_the_priors():
    """The object sits exactly on prior (0, 1, 0)'s box, but that prior predicts a smaller box and prior
    (0, 0, 0) predicts exactly the object's box (its cx moved by 8 px: d_cx = 8 / (0.1 · 6)): the
    missed object's prior is (0, 0, 0), the one whose *prediction* overlaps it most."""
    model = _detector_predicting_its_priors()
    x = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    deltas = torch.zeros(1, 8, 4, dtype=torch.float64)
    deltas[0, prior(0, 0, 0), 0] = 8 / (0.1 * 6)                               # (0,0,0) predicts (12, 4)
    model.forward = lambda inp: (torch.zeros(inp.shape[0], 8, C, dtype=inp.dtype), deltas.expand(inp.shape[0], -1, -1))
    target_box = ssd.predicted_boxes(CONFIG, torch.zeros(1, 8, 4))[0, prior(0, 1, 0)]   # the box at (12, 4)
    empty = ssd.Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                           torch.zeros(0, dtype=torch.long))
    deltas[0, prior(0, 1, 0), 2] = -3.0                                        # (0,1,0) predicts a smaller box
    assert ssd.missed_targets(model, x, empty, target_box[None], torch.tensor([1])) == [ssd.Target(prior(0, 0, 0), 1)]


def test_pairs_stay_targets():
    assert ssd.as_target((4, 2)) == ssd.Target(4, 2) and isinstance(ssd.as_target((4, 2)), ssd.Target)
    box = ssd.BoxTarget(4, "w")
    assert ssd.as_target(box) is box
