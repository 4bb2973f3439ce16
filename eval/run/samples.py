"""Deterministic selection of the detections the comparison explains (paper section 4: 100 samples).

Images are visited in a fixed order (synthetic: image 0, 1, 2, … of the held-out seed; COCO: sorted
image ids). In each image the detections with score ≥ 0.5 are taken in order of decreasing score,
and a detection is kept when it matches a not yet matched ground-truth object of the same class at
IoU ≥ 0.5 (greedy, as in COCO evaluation); at most `per_image` of them (2 by default), so that the
samples spread over images: detections of one image share their background and their superpixels,
and an interval can only be as narrow as the number of images allows. Selection stops at N samples.
"""
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

import ssd

SYNTHETIC_SEED = 20210913   # held-out seed of the synthetic evaluation images (never used for training)
SOURCE_GROUPS = ("conv4_3", "fc7", "extras")


@dataclass
class Sample:
    """One detection to explain. Boxes are (x1, y1, x2, y2) in model-input pixels."""

    sample_id: str          # "<image id>-<detection index>", stable across runs
    image_id: int
    target: ssd.Target
    class_name: str
    score: float
    box: list
    gt_box: list
    iou: float
    gt_index: int           # index of the matched object in the image's annotations
    source: int = 0         # source layer of the prior (0 = conv4_3, 1 = fc7, 2… = the extras)

    @property
    def layer(self) -> str:
        """The source layer's group for stratified tables: "conv4_3", "fc7" or "extras"."""
        return SOURCE_GROUPS[min(self.source, 2)]


@dataclass
class ImageSamples:
    """An image with its selected samples: x [1,3,S,S] model input, image uint8 [S,S,3] (the input as
    the detector sees it), masks bool [K,S,S] of the image's objects (or None), and for the synthetic
    data the `scene` that renders the image with objects truly removed (ssd.data.Scene, else None)."""

    image_id: int
    index: int              # position of the image in the selection order
    x: torch.Tensor
    image: np.ndarray
    masks: torch.Tensor | None
    samples: list = field(default_factory=list)
    scene: object = None
    config: object = None
    gt_boxes: torch.Tensor | None = None      # [G,4] x1, y1, x2, y2 in model-input pixels, known classes
    gt_labels: torch.Tensor | None = None     # [G] their class indices (what missed_targets needs)
    renders: dict = field(default_factory=dict, repr=False)   # cache of `without`

    def without(self, objects=None) -> torch.Tensor:
        """Model input [1,3,S,S] of the image rendered without the given objects (indices into the
        image's annotations; None: all of them): true removal, synthetic data only (cached)."""
        if self.scene is None:
            raise ValueError("true removal needs the synthetic data's scene (not available for this image)")
        remove = tuple(range(len(self.scene.objects)) if objects is None else sorted(objects))
        if remove not in self.renders:
            self.renders[remove] = ssd.preprocess(self.scene.render(remove=remove), self.config, device=self.x.device)
        return self.renders[remove]


def synthetic_images(seed: int = SYNTHETIC_SEED, limit: int = 1000, size: int = 512) -> Iterator[tuple]:
    """(image id, uint8 [H,W,3], boxes float [K,4] x1,y1,x2,y2 in pixels, class names [K], masks bool [K,H,W],
    scene) of the synthetic shapes images 0, 1, … (ids index + 1, as ssd.data.generate writes them)."""
    from ssd.data import SHAPES
    from ssd.data.synthetic import make_scene

    for index in range(limit):
        scene = make_scene(seed, index, size)
        image, objects = scene.render(), scene.objects
        masks = np.stack([o.mask for o in objects]) if objects else np.zeros((0, size, size), bool)
        boxes = np.array([ssd.mask_box(m) for m in masks], dtype=np.float32).reshape(-1, 4)
        yield index + 1, image, boxes, [SHAPES[o.category_id - 1] for o in objects], masks, scene


def coco_images(dataset, log=sys.stderr) -> Iterator[tuple]:
    """Like `synthetic_images`, from an `ssd.data.CocoDataset` (unreadable images are reported and skipped)."""
    for image_id, image in dataset.images(log=log):
        boxes, categories = dataset.annotations(image_id)
        yield image_id, image, boxes, [dataset.categories[int(c)] for c in categories], dataset.masks(image_id)


def images(data: str, samples: int, data_seed: int = SYNTHETIC_SEED, coco_root=None, max_images: int | None = None,
           log=sys.stderr) -> Iterator[tuple]:
    """The image iterator of a data set ("synthetic": the held-out shapes of `data_seed`, by default
    50 + 20·samples of them; "coco": `ssd.data.CocoDataset(coco_root)`), at most `max_images`."""
    if data == "synthetic":
        return synthetic_images(data_seed, max_images or 50 + 20 * samples)
    if data != "coco":
        raise ValueError(f"unknown data {data!r}: use 'synthetic' or 'coco'")
    from ssd.data import CocoDataset
    dataset = CocoDataset(coco_root)
    return coco_images(dataset, log) if max_images is None else \
        (item for item, _ in zip(coco_images(dataset, log), range(max_images)))


def match(detections, gt_boxes: torch.Tensor, gt_labels: torch.Tensor, score_threshold: float = 0.5,
          iou_threshold: float = 0.5) -> list[tuple[int, int, float]]:
    """Greedy matching in order of decreasing score: (detection index, object index, IoU) of each
    detection with score ≥ threshold whose best unmatched object of the same class has IoU ≥ threshold."""
    if len(detections) == 0 or gt_boxes.numel() == 0:
        return []
    iou = box_iou(detections.boxes, gt_boxes.to(detections.boxes.device))           # [D,G]
    same = detections.labels[:, None] == gt_labels.to(detections.labels.device)[None, :]
    iou = torch.where(same, iou, torch.full_like(iou, -1.0))
    taken, matches = set(), []
    for d in torch.argsort(detections.scores, descending=True, stable=True).tolist():
        if float(detections.scores[d]) < score_threshold:
            continue
        for g in torch.argsort(iou[d], descending=True, stable=True).tolist():
            if float(iou[d, g]) < iou_threshold:
                break
            if g not in taken:
                taken.add(g)
                matches.append((d, g, float(iou[d, g])))
                break
    return matches


@torch.no_grad()
def select(model, images: Iterator[tuple], n: int, score_threshold: float = 0.5, iou_threshold: float = 0.5,
           device=None, detect=None, per_image: int | None = None,
           spread: int | None = None) -> tuple[list[ImageSamples], int]:
    """The first n matching detections of `images` (see module docstring) grouped by image, and the
    number of images visited, at most `per_image` detections per image (None: no limit). With
    `spread` = G, the samples come from the first G images with a match (more if those cannot hold n):
    one detection of each, in image order, then a second of each, …, until n (the cheapest way to
    reach n samples from G images: the cost of LIME and SHAP is per image). Ground truth is scaled to
    model-input pixels; classes the model does not know are ignored. `detect` defaults to ssd.detect
    (tests may pass a stand-in)."""
    if n < 1:
        raise ValueError(f"number of samples must be >= 1, got {n}")
    if spread is not None:
        return _spread(model, images, n, score_threshold, iou_threshold, device, detect, per_image or n, spread)
    detect = detect or ssd.detect
    cfg = model.config
    index_of = {name: i for i, name in enumerate(cfg.class_names)}
    selected, found, visited = [], 0, 0
    for image_id, image, boxes, names, masks, *scene in images:
        visited += 1
        h, w = image.shape[:2]
        x = ssd.preprocess(image, cfg, device=device)
        known = [k for k, name in enumerate(names) if name in index_of and name != cfg.class_names[0]]
        if not known:
            continue
        scale = torch.tensor([cfg.size / w, cfg.size / h] * 2, device=device)
        gt_boxes = torch.as_tensor(np.asarray(boxes)[known], device=device).float() * scale
        gt_labels = torch.tensor([index_of[names[k]] for k in known], device=device)
        dets = detect(model, x, score_threshold=score_threshold)[0]
        matches = match(dets, gt_boxes, gt_labels, score_threshold, iou_threshold)
        if not matches:
            continue
        m = torch.as_tensor(np.asarray(masks), device=device)             # every object, known class or not
        if m.shape[-2:] != (cfg.size, cfg.size):
            m = F.interpolate(m[:, None].float(), size=(cfg.size, cfg.size), mode="nearest")[:, 0] > 0.5
        item = ImageSamples(int(image_id), len(selected), x, ssd.to_image(x[0], cfg), m.bool(),
                            scene=scene[0] if scene else None, config=cfg, gt_boxes=gt_boxes, gt_labels=gt_labels)
        for d, g, iou in matches[:min(n - found, per_image or n)]:
            target = ssd.Target(int(dets.priors[d]), int(dets.labels[d]))
            item.samples.append(Sample(
                f"{image_id}-{d}", int(image_id), target, cfg.class_names[int(dets.labels[d])],
                float(dets.scores[d]), dets.boxes[d].tolist(), gt_boxes[g].tolist(), iou, known[g],
                ssd.prior_location(cfg, target.prior)[0]))
        found += len(item.samples)
        selected.append(item)
        if found >= n:
            break
    return selected, visited


def _spread(model, images, n, score_threshold, iou_threshold, device, detect, per_image, spread):
    """`select` with `spread`: every image with a match keeps up to `per_image` detections until
    `spread` images can hold n of them; then rounds take the r-th detection of each image in order."""
    held, capacity, visited = [], 0, 0
    for item in images:
        chosen, seen = select(model, iter([item]), per_image, score_threshold, iou_threshold, device, detect, per_image)
        visited += seen
        if chosen:
            held.append(chosen[0])
            capacity += len(chosen[0].samples)
        if len(held) >= spread and capacity >= n:
            break
    found, taken = 0, {id(item): [] for item in held}
    for r in range(per_image):
        for item in held:
            if found < n and r < len(item.samples):
                taken[id(item)].append(item.samples[r])
                found += 1
    selected = [item for item in held if taken[id(item)]]
    for index, item in enumerate(selected):
        item.samples, item.index = taken[id(item)], index
    return selected, visited


def selected_for(ctx) -> list[ImageSamples]:
    """The images and detections a run of an experiment explains (its --data, --samples, thresholds),
    selected as the module docstring says; a ValueError when nothing matches (nothing to explain)."""
    args = ctx.args
    source = images(args.data, args.samples, args.data_seed, args.coco_root, args.max_images, ctx.log)
    selected, visited = select(ctx.model, source, args.samples, args.score_threshold, args.iou_threshold, ctx.device,
                               per_image=args.per_image or None, spread=args.images or None)
    found = sum(len(item.samples) for item in selected)
    if not found:
        raise ValueError(f"no detection with score >= {args.score_threshold} matched a ground-truth object "
                         f"of its class at IoU >= {args.iou_threshold} in {visited} image(s) of the "
                         f"{args.data} data: nothing to explain (check --weights, --data and the thresholds)")
    if found < args.samples and ctx.rank == 0:
        ctx.say(f"only {found} of {args.samples} samples found in {visited} images")
    return selected


def data_digest(data: str, data_seed: int, coco_root=None) -> str:
    """The data a run reads, by content, for the settings hash (a changed data set is never reused).

    COCO: sha256 of the annotation file's bytes and of every image file's name, size and modification
    time (hashing every byte of the images would take minutes on COCO val2017; a replaced or edited
    file changes its size or time). Synthetic: the seed and a digest of image 0 as the generator
    renders it now (a changed generator gives other images for the same seed)."""
    import hashlib
    h = hashlib.sha256()
    if data == "coco":
        from ssd.data.coco import CocoDataset
        dataset = CocoDataset(coco_root)
        h.update(Path(dataset.annotation_file).read_bytes())
        for path in sorted(Path(dataset.image_dir).iterdir()):
            if path.is_file():
                stat = path.stat()
                h.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    else:
        from ssd.data.synthetic import make_image
        h.update(f"synthetic:{data_seed}".encode())
        h.update(np.ascontiguousarray(make_image(data_seed, 0, 512)[0]).tobytes())
    return h.hexdigest()[:16]
