"""What `python -m ssd.train` trains on: samples of a source, augmented and matched to the priors,
in the batches of a resumable sampler.

A source gives sample k as (image [H,W,3] uint8, boxes [B,4] in pixels (x0, y0, x1, y1), category
ids [B]): `SyntheticImages` a fresh image make_image(seed, k) every time, `CocoImages` the image at
the sampler's position. `TrainSet` augments sample k with rng([seed, k, 1]) and matches its boxes to
the priors; `batches` numbers the samples k = it·B + j of iteration it. So sample k of a run (image
and augmentation) is determined by (seed, k), and a run resumed at iteration it sees the same data
as an uninterrupted one.
"""
import numpy as np
import torch
from torch.utils.data import Dataset

from .config import SSDConfig
from .data.augment import augment
from .data.coco import CocoDataset
from .data.synthetic import categories, make_image
from .loss import match
from .priors import priors as make_priors


class SyntheticImages:
    """Endless synthetic shapes: sample k is image k of `make_image(seed, k)` (a fresh image every
    time, so no epoch ever repeats an image). Boxes are the tight bounds of the visible masks."""

    categories = {c["id"]: c["name"] for c in categories()}

    def __init__(self, seed: int, size: int = 512, length: int = 10**9, variant: str = "plain"):
        self.seed, self.size, self.length, self.variant = seed, size, length, variant

    def __len__(self):
        return self.length

    def sample(self, position: int, k: int):
        image, objects = make_image(self.seed, k, self.size, self.variant)
        boxes = []
        for o in objects:
            rows, cols = np.nonzero(o.mask)
            boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
        return (image, np.array(boxes, dtype=np.float32).reshape(-1, 4),
                np.array([o.category_id for o in objects], dtype=np.int64))


class CocoImages:
    """The images of a COCO-format data set; sample k uses image `position` (the sampler's choice)."""

    def __init__(self, data: CocoDataset):
        self.data, self.categories = data, data.categories

    def __len__(self):
        return len(self.data)

    def sample(self, position: int, k: int):
        image_id = self.data.ids[position]
        return (self.data.image(image_id),) + self.data.annotations(image_id)


class TrainSet(Dataset):
    """Items are (position, global sample number k); returns (x [3,S,S] model input, prior labels
    [P], target deltas [P,4]) for an augmentation drawn from rng([seed, k, 1])."""

    def __init__(self, source, config: SSDConfig, seed: int):
        self.source, self.config, self.seed = source, config, seed
        index = {n: i for i, n in enumerate(config.class_names)}
        self.labels = {cid: index[name] for cid, name in source.categories.items() if name in index}
        self.priors = make_priors(config)
        self.mean = torch.tensor(config.mean).view(3, 1, 1)
        self.std = torch.tensor(config.std).view(3, 1, 1)

    def __len__(self):
        return len(self.source)

    def __getitem__(self, item):
        position, k = item
        image, boxes, cats = self.source.sample(position, k)
        keep = np.array([c in self.labels for c in cats], dtype=bool)
        labels = np.array([self.labels[c] for c in cats[keep]], dtype=np.int64)
        x, boxes, labels = augment(image, boxes[keep], labels, np.random.default_rng([self.seed, k, 1]),
                                   self.config.size)
        if self.config.channel_order == "BGR":
            x = x.flip(0)
        prior_labels, deltas = match(torch.from_numpy(boxes), torch.from_numpy(labels), self.priors,
                                     self.config.variances)
        return (x - self.mean) / self.std, prior_labels, deltas


def batches(n, batch_size: int, start: int, stop: int, seed: int):
    """Batch sampler: for iterations start..stop-1, lists of (position, k) with k = it·B + j; each
    epoch of a finite data set (n samples) is a permutation drawn from rng([seed, 10⁶ + epoch]);
    for an endless one (n None) position = k."""
    perm, perm_epoch = None, -1
    for it in range(start, stop):
        batch = []
        for k in range(it * batch_size, (it + 1) * batch_size):
            if n is None:
                batch.append((k, k))
                continue
            epoch, pos = divmod(k, n)
            if epoch != perm_epoch:
                perm, perm_epoch = np.random.default_rng([seed, 10**6 + epoch]).permutation(n), epoch
            batch.append((int(perm[pos]), k))
        yield batch
