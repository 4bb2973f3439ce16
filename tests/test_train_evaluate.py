"""ssd.evaluate end to end with an oracle detector whose outputs encode the ground truth."""
import io

import numpy as np
import pytest
import torch

import ssd
from ssd.data import CocoDataset, generate
from ssd.evaluate import coco_eval, detections
from ssd.loss import match
from ssd.train import scaled_config

CONFIG = scaled_config(ssd.SHAPES_SSD512, 320)


class Oracle(torch.nn.Module):
    """Returns, for the images in the order they are fed, logits and deltas that encode their ground
    truth (class logit 10 at the matched priors, background elsewhere), with classes shifted by
    `shift` (0: right classes)."""

    def __init__(self, data: CocoDataset, shift: int = 0):
        super().__init__()
        self.config, self.queue, self.shift = CONFIG, list(data.ids), shift
        self.data, self.priors = data, ssd.priors(CONFIG)

    def forward(self, x):
        logits, deltas = [], []
        for _ in range(x.shape[0]):
            image_id = self.queue.pop(0)
            boxes, cats = self.data.annotations(image_id)
            h, w = self.data.image(image_id).shape[:2]
            boxes = torch.from_numpy(boxes / np.array([w, h, w, h], dtype=np.float32))
            labels = (torch.from_numpy(cats) - 1 + self.shift) % 6 + 1
            prior_labels, d = match(boxes, labels, self.priors)
            logits.append(torch.nn.functional.one_hot(prior_labels, 7).float() * 10)
            deltas.append(d)
        return torch.stack(logits), torch.stack(deltas)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    generate(root, 3, seed=21)   # 512×512 images, evaluated at 320: boxes must be scaled back
    return CocoDataset(root)


def test_perfect_detections_score_ap_one(data):
    results, done = detections(Oracle(data), data, batch_size=2, log=io.StringIO())
    assert done == data.ids
    stats = coco_eval(data, results, done)
    assert stats[0] == pytest.approx(1.0) and stats[1] == pytest.approx(1.0)


def test_wrong_classes_score_zero(data):
    results, done = detections(Oracle(data, shift=1), data, batch_size=2, log=io.StringIO())
    assert coco_eval(data, results, done)[1] == pytest.approx(0.0)
