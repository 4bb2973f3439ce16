"""The synthetic shapes data set: images of shapes that differ only by shape, with exact masks,
written in COCO format (PNG images + instances JSON with RLE masks) that pycocotools reads.

Image i of seed s is drawn from `numpy.random.default_rng([s, i])` alone, so a data set is fully
deterministic, any image can be regenerated on its own, and sets with different seeds share no
image. Each image holds 1–6 objects of size 32–320 px (diameter of the circumscribed circle,
log-uniform; at most 0.625 of the side of images smaller than 512), randomly rotated, with random
colour and texture (solid, gradient, stripes, noise) chosen to contrast with what lies under the
object. Later objects may occlude earlier ones, but every object keeps ≥ 60 % of its pixels
visible. The annotation of an object is its visible mask: segmentation = RLE of that mask,
area = its pixel count, bbox = its tight bounding box (COCO [x, y, w, h], w = x_max - x_min + 1).

Images are PNG (lossless, so the painted pixels are exactly the annotated ones, and the bytes are
deterministic for a given scikit-image/imageio version).
"""
import json
import math
import os
from multiprocessing import Pool
from typing import NamedTuple

import numpy as np
import pycocotools.mask as mask_utils
import skimage.io

from ..cli import check_folder, integer, one_line_errors
from .backgrounds import background, resize
from .shapes import SHAPES, mask as shape_mask, random_params

MIN_SIZE, MAX_SIZE = 32, 320
MAX_OBJECTS = 6
MIN_VISIBLE = 0.6      # share of an object's pixels that must stay visible under later objects
MIN_CONTRAST = 70.0    # RGB distance between an object's mean colour and what it covers


class SyntheticObject(NamedTuple):
    """One object: category id (1-based index into SHAPES) and its visible mask bool [H,W]."""

    category_id: int
    mask: np.ndarray


def categories() -> list[dict]:
    """COCO categories of the data set: ids 1..6 in SHAPES order."""
    return [{"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(SHAPES)]


def _fill(rng: np.random.Generator, box: tuple, colour: np.ndarray) -> np.ndarray:
    """An object texture float32 [h,w,3] for the window box = (r0, r1, c0, c1): solid colour,
    gradient to a second colour, stripes, or smooth noise between the two colours."""
    r0, r1, c0, c1 = box
    h, w = r1 - r0, c1 - c0
    other = np.clip(colour + rng.uniform(-90, 90, size=3), 0, 255).astype(np.float32)
    kind = rng.choice(4, p=[0.4, 0.2, 0.2, 0.2])
    if kind == 0:
        return np.broadcast_to(colour, (h, w, 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    proj = xx * math.cos(angle) + yy * math.sin(angle)
    if kind == 1:
        t = (proj - proj.min()) / (proj.max() - proj.min() + 1e-6)
    elif kind == 2:
        t = (np.sin(2 * math.pi * proj / rng.uniform(6, 20)) > 0).astype(np.float32)
    else:
        cells = int(rng.integers(2, 6))
        t = resize(rng.random((cells, cells)), (h, w))
    return colour + (other - colour) * t[:, :, None]


def _paint(canvas: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> None:
    """Paint an object with a random texture whose mean colour contrasts with the canvas under m."""
    rows, cols = np.nonzero(m)
    box = (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
    local = m[box[0]:box[1], box[2]:box[3]]
    under = canvas[box[0]:box[1], box[2]:box[3]][local].mean(axis=0)
    best, best_d = None, -1.0
    for _ in range(20):
        colour = rng.uniform(0, 255, size=3).astype(np.float32)
        d = float(np.linalg.norm(colour - under))
        if d > best_d:
            best, best_d = colour, d
        if d >= MIN_CONTRAST:
            break
    texture = _fill(rng, box, best)
    canvas[box[0]:box[1], box[2]:box[3]][local] = texture[local]


def make_image(seed: int, index: int, size: int = 512) -> tuple[np.ndarray, list[SyntheticObject]]:
    """Image `index` of the data set with seed `seed`: uint8 [size,size,3] and its objects."""
    rng = np.random.default_rng([seed, index])
    canvas = background(rng, size)
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    full, visible, labels = [], [], []
    for _ in range(30 * n):
        if len(labels) == n:
            break
        label = int(rng.integers(len(SHAPES)))
        diameter = math.exp(rng.uniform(math.log(MIN_SIZE), math.log(min(MAX_SIZE, 0.625 * size))))
        radius = diameter / 2
        cx, cy = rng.uniform(radius, size - 1 - radius, size=2)
        m = shape_mask(SHAPES[label], cx, cy, radius, rng.uniform(0, 2 * math.pi),
                       random_params(SHAPES[label], rng), (size, size))
        if not m.any() or any((v & ~m).sum() < MIN_VISIBLE * f.sum() for f, v in zip(full, visible)):
            continue
        visible = [v & ~m for v in visible] + [m]
        full.append(m)
        labels.append(label)
        _paint(canvas, m, rng)
    noise = rng.uniform(0, 5)
    canvas = canvas + noise * rng.standard_normal(canvas.shape, dtype=np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return image, [SyntheticObject(l + 1, v) for l, v in zip(labels, visible)]


def annotation(obj: SyntheticObject, image_id: int, ann_id: int) -> dict:
    """The COCO annotation of one object (RLE mask, its pixel area, its tight box)."""
    rle = mask_utils.encode(np.asfortranarray(obj.mask.astype(np.uint8)))
    return {"id": ann_id, "image_id": image_id, "category_id": obj.category_id,
            "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
            "area": float(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
            "iscrowd": 0}


def _write_one(args) -> list[dict]:
    seed, index, size, image_dir = args
    image, objects = make_image(seed, index, size)
    skimage.io.imsave(os.path.join(image_dir, f"{index:06d}.png"), image, check_contrast=False)
    return [annotation(o, index + 1, 0) for o in objects]


def generate(root, n: int, seed: int, split: str = "val2017", size: int = 512, workers: int = 1,
             progress: bool = False) -> str:
    """Write n images to root/split/NNNNNN.png and their COCO annotations to
    root/annotations/instances_{split}.json (the path returned). Image ids are index + 1."""
    if n < 1:
        raise ValueError(f"number of images must be ≥ 1, got {n}")
    image_dir = os.path.join(root, split)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    jobs = [(seed, i, size, image_dir) for i in range(n)]
    with Pool(workers) if workers > 1 else _Serial() as pool:
        per_image = []
        for i, anns in enumerate(pool.imap(_write_one, jobs)):
            per_image.append(anns)
            if progress and (i + 1) % 100 == 0:
                print(f"generated {i + 1}/{n} images", flush=True)
    images = [{"id": i + 1, "file_name": f"{i:06d}.png", "width": size, "height": size} for i in range(n)]
    annotations = [a for anns in per_image for a in anns]
    for k, a in enumerate(annotations):
        a["id"] = k + 1
    data = {"info": {"description": "synthetic shapes", "seed": seed, "images": n, "size": size},
            "images": images, "annotations": annotations, "categories": categories()}
    path = os.path.join(root, "annotations", f"instances_{split}.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path


class _Serial:
    """Stand-in for a Pool with one worker (no subprocess)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    imap = staticmethod(map)


@one_line_errors("python -m ssd.data")
def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m ssd.data",
                                description="Write the synthetic shapes data set in COCO format.")
    p.add_argument("root")
    p.add_argument("--images", type=integer(1), default=500)
    p.add_argument("--seed", type=integer(0), default=0)
    p.add_argument("--split", default="val2017")
    p.add_argument("--workers", type=integer(1), default=1)
    a = p.parse_args(argv)
    check_folder(p, "ROOT", a.root)
    path = generate(a.root, a.images, a.seed, a.split, workers=a.workers, progress=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
