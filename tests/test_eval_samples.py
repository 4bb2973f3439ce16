"""Deterministic sample selection: greedy same-class matching at IoU ≥ 0.5 of detections ≥ 0.5."""
import numpy as np
import pytest
import torch

import eval_oracle
import ssd
from eval.run.samples import match, select, synthetic_images


def _dets(boxes, scores, labels, device):
    n = len(scores)
    return ssd.Detections(torch.tensor(boxes, dtype=torch.float32, device=device).reshape(n, 4),
                          torch.tensor(scores, device=device), torch.tensor(labels, device=device),
                          torch.arange(n, device=device))


def test_match_is_greedy_same_class_and_thresholded(device):
    gt = torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=torch.float32, device=device)
    gt_labels = torch.tensor([1, 2], device=device)
    dets = _dets([[0, 0, 10, 10],      # 0: exact hit of object 0, but the lower score
                  [0, 0, 10, 9],       # 1: IoU 0.9 with object 0, higher score: takes it first
                  [20, 20, 30, 30],    # 2: exact box of object 1 but the wrong class
                  [20, 20, 30, 25],    # 3: class 2, IoU 0.5 with object 1: matched (≥ 0.5)
                  [20, 20, 30, 24]],   # 4: class 2, IoU 0.4: no
                 [0.8, 0.9, 0.95, 0.7, 0.99], [1, 1, 1, 2, 2], device)
    found = match(dets, gt, gt_labels)
    assert [(d, g) for d, g, _ in found] == [(1, 0), (3, 1)]
    assert found[0][2] == pytest.approx(0.9) and found[1][2] == pytest.approx(0.5)
    # below the score threshold nothing counts
    assert match(dets, gt, gt_labels, score_threshold=0.999) == []
    assert match(_dets([], [], [], device), gt, gt_labels) == []


def test_select_is_deterministic_and_stops_at_n(tmp_path):
    eval_oracle.save_tiny_model(tmp_path / "tiny.pt")
    model = ssd.load(tmp_path / "tiny.pt")

    def run(n):
        images, detect = eval_oracle.oracle()
        return select(model, images(limit=10), n, detect=detect)

    first, visited = run(3)
    assert sum(len(i.samples) for i in first) == 3
    again, _ = run(3)
    assert [s.sample_id for i in first for s in i.samples] == [s.sample_id for i in again for s in i.samples]
    item, sample = first[0], first[0].samples[0]
    assert item.x.shape == (1, 3, 128, 128) and item.image.shape == (128, 128, 3) and item.image.dtype == np.uint8
    assert item.masks.shape[1:] == (128, 128) and item.masks.dtype == torch.bool
    # the matched mask lies inside the matched ground-truth box (both scaled 512 -> 128)
    rows, cols = torch.nonzero(item.masks[sample.gt_index], as_tuple=True)
    x1, y1, x2, y2 = sample.gt_box
    assert cols.min() >= x1 - 1 and cols.max() <= x2 and rows.min() >= y1 - 1 and rows.max() <= y2
    assert sample.class_name == model.config.class_names[sample.target.label]
    with pytest.raises(ValueError, match="samples"):
        select(model, iter(()), 0)


def test_synthetic_boxes_are_tight_bounds_of_masks():
    _, image, boxes, names, masks, scene = next(synthetic_images(limit=1))
    assert (scene.render() == image).all()
    assert image.shape == (512, 512, 3) and len(boxes) == len(names) == len(masks) >= 1
    for box, m in zip(boxes, masks):
        rows, cols = np.nonzero(m)
        assert tuple(box) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)


def test_spread_takes_one_detection_per_image_first(tmp_path):
    """--images G: the first G images with a match give one detection each, then a second each, …;
    every image's detections are its best matches, in order; no image gives more than per_image."""
    eval_oracle.save_tiny_model(tmp_path / "tiny.pt")
    model = ssd.load(tmp_path / "tiny.pt")

    def run(**kw):
        images, detect = eval_oracle.oracle()
        return select(model, images(limit=30), detect=detect, **kw)

    greedy, _ = run(n=7, per_image=2)
    spread, visited = run(n=7, per_image=2, spread=5)
    assert sum(len(i.samples) for i in spread) == 7 and len(spread) == 5
    assert [len(i.samples) for i in spread] == [2, 2, 1, 1, 1]              # round one for all, then seconds
    assert [i.index for i in spread] == list(range(5))
    first_of = {i.image_id: [s.sample_id for s in i.samples] for i in run(n=30, per_image=2)[0]}
    for item in spread:                                                  # each image's best matches, in order
        assert [s.sample_id for s in item.samples] == first_of[item.image_id][:len(item.samples)]
    assert len(greedy) < len(spread)                                     # greedy fills images two at a time
