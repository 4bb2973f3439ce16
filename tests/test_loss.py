"""SSD loss: matching and the multibox objective, on hand-computed cases."""
import math

import torch

from ssd.boxes import encode
from ssd.loss import match, multibox_loss

# priors (cx, cy, w, h): the four quadrants of the unit square, plus the top-left one shifted right
PRIORS = [(0.25, 0.25, 0.5, 0.5), (0.75, 0.25, 0.5, 0.5), (0.25, 0.75, 0.5, 0.5), (0.75, 0.75, 0.5, 0.5),
          (0.3, 0.25, 0.5, 0.5)]


def test_match_threshold_and_forced_best_prior(device):
    priors = torch.tensor(PRIORS, device=device)
    boxes = torch.tensor([[0.0, 0.0, 0.5, 0.5],     # IoU 1 with prior 0, 0.818 with prior 4
                          [0.5, 0.5, 0.8, 0.8]],    # IoU 0.36 with prior 3: below 0.5, matched as its best
                         device=device)
    labels, deltas = match(boxes, torch.tensor([2, 5], device=device), priors)
    assert labels.tolist() == [2, 0, 0, 5, 2]
    torch.testing.assert_close(deltas[0], torch.zeros(4, device=device))
    expected = torch.tensor([-0.1 / 0.05, -0.1 / 0.05, math.log(0.6) / 0.2, math.log(0.6) / 0.2], device=device)
    torch.testing.assert_close(deltas[3], expected)
    torch.testing.assert_close(deltas[4], encode(boxes[0], priors[4]))


def test_match_without_objects_is_all_background(device):
    labels, deltas = match(torch.zeros(0, 4, device=device), torch.zeros(0, dtype=torch.long, device=device),
                           torch.tensor(PRIORS, device=device))
    assert labels.tolist() == [0] * 5 and deltas.abs().sum() == 0


def test_multibox_loss_hand_computed(device):
    P, C = 10, 3
    logits = torch.zeros(1, P, C, device=device)
    logits[0, :, 0] = 2.0                       # confident background …
    logits[0, [2, 5, 7], 0] = torch.tensor([-1.0, -2.0, -0.5], device=device)  # … except three hard negatives
    logits[0, 4, 0] = 1.0                       # the fourth hardest: not selected (1 positive × 3)
    logits[0, 0] = torch.tensor([0.0, 1.0, 0.0], device=device)
    labels = torch.zeros(1, P, dtype=torch.long, device=device)
    labels[0, 0] = 1
    deltas = torch.zeros(1, P, 4, device=device)
    target = torch.zeros(1, P, 4, device=device)
    target[0, 0] = torch.tensor([0.5, -2.0, 0.0, 1.0], device=device)
    loc, conf = multibox_loss(logits, deltas, labels, target)
    ce = lambda z, y: -torch.log_softmax(z, -1)[y]
    expected_conf = ce(logits[0, 0], 1) + sum(ce(logits[0, i], 0) for i in (2, 5, 7))
    torch.testing.assert_close(conf, expected_conf)
    torch.testing.assert_close(loc, torch.tensor(0.125 + 1.5 + 0.0 + 0.5, device=device))  # smooth-L1


def test_negatives_are_counted_per_image(device):
    """Image 1 has no object: it contributes no negatives; the sums are divided by all positives."""
    torch.manual_seed(0)
    logits = torch.randn(2, 20, 4, device=device)
    labels = torch.zeros(2, 20, dtype=torch.long, device=device)
    labels[0, [3, 8]] = torch.tensor([1, 3], device=device)
    deltas, target = torch.randn(2, 20, 4, device=device), torch.randn(2, 20, 4, device=device)
    loc, conf = multibox_loss(logits, deltas, labels, target)
    bg = -torch.log_softmax(logits[0], -1)[:, 0]
    bg[[3, 8]] = -1
    negatives = bg.topk(6).indices
    lsm = torch.log_softmax(logits[0], -1)
    expected = -(lsm[3, 1] + lsm[8, 3] + lsm[negatives, 0].sum()) / 2
    torch.testing.assert_close(conf, expected)
    expected_loc = torch.nn.functional.smooth_l1_loss(deltas[0, [3, 8]], target[0, [3, 8]], reduction="sum") / 2
    torch.testing.assert_close(loc, expected_loc)


def test_loss_without_any_positive_is_finite(device):
    logits = torch.randn(1, 5, 3, device=device, requires_grad=True)
    loc, conf = multibox_loss(logits, torch.zeros(1, 5, 4, device=device),
                              torch.zeros(1, 5, dtype=torch.long, device=device), torch.zeros(1, 5, 4, device=device))
    assert loc.item() == 0 and conf.item() == 0
    (loc + conf).backward()
    assert torch.isfinite(logits.grad).all()
