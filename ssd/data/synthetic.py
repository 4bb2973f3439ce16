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

All draws of an image are kept in a `Scene` (`make_scene`), which renders it with any objects or
tags truly removed: the ground-truth removal operator. Variants (`ssd.data.tags`) attach the
Clever-Hans tag to the objects of chosen classes; a tagged object's annotation also holds "tag",
the RLE of the tag's mask.

Images are PNG (lossless, so the painted pixels are exactly the annotated ones, and the bytes are
deterministic for a given scikit-image/imageio version).
"""
import json
import math
import os
from dataclasses import dataclass
from multiprocessing import Pool
from typing import Iterable, NamedTuple, Optional

import numpy as np
import pycocotools.mask as mask_utils
import skimage.io

from ..cli import check_folder, integer, one_line_errors
from .backgrounds import background, resize
from .shapes import SHAPES, mask as shape_mask, random_params
from .tags import TAG_PATTERN, TAG_STREAM, VARIANTS, place_tag, tagged_categories, window

MIN_SIZE, MAX_SIZE = 32, 320
MAX_OBJECTS = 6
MIN_VISIBLE = 0.6      # share of an object's pixels that must stay visible under later objects
MIN_CONTRAST = 70.0    # RGB distance between an object's mean colour and what it covers


class SyntheticObject(NamedTuple):
    """One object of a scene, in painting order: category id (1-based index into SHAPES), visible
    mask bool [H,W] (in the image with every object and tag), the whole shape `full` bool [H,W]
    (before occlusion), the texture float32 [r1-r0, c1-c0, 3] painted on `full` inside the window
    `box` = (r0, r1, c0, c1), and the mask bool [H,W] of its tag (None when it carries none)."""

    category_id: int
    mask: np.ndarray
    full: np.ndarray
    box: tuple
    texture: np.ndarray
    tag: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Scene:
    """Every draw of one image, so that it can be rendered with any objects or tags truly removed.

    background float32 [H,W,3]; objects in painting order (`SyntheticObject`); noise float32 [H,W,3]
    (sensor noise, added last). A rendering composites the layers that are kept:

        L = background;  L[full_j] = texture_j  for kept objects j in painting order;
        L[tag_j] = TAG_PATTERN  for kept tags (tags lie on top);   image = clip(rint(L + noise), 0, 255)

    so a removed pixel gets the value it would have had if that object (or tag) had never been
    painted — the background or the objects under it, with the same noise — while every other draw
    stays the same (the colours of later objects, chosen against the canvas they were painted on,
    are kept). `render()` is the image of `make_image`, byte for byte.
    """

    background: np.ndarray
    objects: list
    noise: np.ndarray

    def render(self, remove: Iterable[int] = (), remove_tags: Iterable[int] = ()) -> np.ndarray:
        """uint8 [H,W,3] without the objects (indices into `objects`) in `remove` and without the
        tags of the objects in `remove_tags` (an object's tag stays when only the object is removed)."""
        remove, remove_tags = _indices(remove, self.objects), _indices(remove_tags, self.objects)
        canvas = self.background.copy()
        for j, o in enumerate(self.objects):
            if j not in remove:
                r0, r1, c0, c1 = o.box
                local = o.full[r0:r1, c0:c1]
                canvas[r0:r1, c0:c1][local] = o.texture[local]
        for j, o in enumerate(self.objects):
            if o.tag is not None and j not in remove_tags:
                r0, r1, c0, c1 = window(o.tag)
                canvas[r0:r1, c0:c1] = TAG_PATTERN
        canvas = canvas + self.noise
        return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)

    def visible(self, remove: Iterable[int] = (), remove_tags: Iterable[int] = ()) -> list:
        """The visible mask bool [H,W] of every object in the rendering `render(remove, remove_tags)`,
        in `objects` order (all False for a removed object): its full mask minus the kept tags and
        the kept objects painted after it."""
        remove, remove_tags = _indices(remove, self.objects), _indices(remove_tags, self.objects)
        covered = np.zeros(self.noise.shape[:2], dtype=bool)
        for j, o in enumerate(self.objects):
            if o.tag is not None and j not in remove_tags:
                covered |= o.tag
        out = [None] * len(self.objects)
        for j in reversed(range(len(self.objects))):
            if j in remove:
                out[j] = np.zeros_like(covered)
            else:
                out[j] = self.objects[j].full & ~covered
                covered = covered | self.objects[j].full
        return out


def _indices(items: Iterable[int], objects: list) -> set:
    """`items` as a set of object indices, each checked to be in range."""
    items = set(int(i) for i in items)
    bad = sorted(i for i in items if not 0 <= i < len(objects))
    if bad:
        raise ValueError(f"object indices {bad} out of range: the scene has {len(objects)} objects")
    return items


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


def _paint(canvas: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> tuple:
    """Paint an object with a random texture whose mean colour contrasts with the canvas under m;
    returns the window (r0, r1, c0, c1) of m and the texture float32 [r1-r0, c1-c0, 3] painted there."""
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
    return box, texture


def make_scene(seed: int, index: int, size: int = 512, variant: str = "plain") -> Scene:
    """The scene of image `index` of the data set with seed `seed` (all its draws; see `Scene`).

    Objects are drawn from rng([seed, index]) alone; `variant` says which classes carry the
    Clever-Hans tag (`ssd.data.tags`), whose draws come from streams of their own, so every variant
    holds the same objects with the same textures and noise."""
    tagged = tagged_categories(variant)
    rng = np.random.default_rng([seed, index])
    canvas = background(rng, size)
    backdrop = canvas.copy()
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    full, visible, labels, painted = [], [], [], []
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
        painted.append(_paint(canvas, m, rng))
    noise = rng.uniform(0, 5) * rng.standard_normal(canvas.shape, dtype=np.float32)
    tags, taken = [None] * len(labels), np.zeros((size, size), dtype=bool)
    for j, label in enumerate(labels):
        if label + 1 in tagged:
            tags[j] = place_tag(np.random.default_rng([seed, index, TAG_STREAM, j]), j, full, painted[j][0],
                                visible, taken, MIN_VISIBLE)
            if tags[j] is not None:
                taken |= tags[j]
                visible = [v & ~tags[j] for v in visible]
    objects = [SyntheticObject(label + 1, v, f, box, texture, tag)
               for label, v, f, (box, texture), tag in zip(labels, visible, full, painted, tags)]
    return Scene(backdrop, objects, noise)


def make_image(seed: int, index: int, size: int = 512, variant: str = "plain") -> tuple[np.ndarray, list[SyntheticObject]]:
    """Image `index` of the data set with seed `seed`: uint8 [size,size,3] and its objects
    (`make_scene(...).render()` and its objects)."""
    scene = make_scene(seed, index, size, variant)
    return scene.render(), scene.objects


def _rle(mask: np.ndarray) -> dict:
    """pycocotools' RLE of a bool mask [H,W] (counts as an ASCII string, as JSON wants it)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def annotation(obj: SyntheticObject, image_id: int, ann_id: int) -> dict:
    """The COCO annotation of one object (RLE mask, its pixel area, its tight box); a tagged object
    also gets "tag": the RLE of its tag's mask (a key COCO tools ignore)."""
    segmentation = _rle(obj.mask)
    out = {"id": ann_id, "image_id": image_id, "category_id": obj.category_id, "segmentation": segmentation,
           "area": float(mask_utils.area(segmentation)), "bbox": [float(v) for v in mask_utils.toBbox(segmentation)],
           "iscrowd": 0}
    if obj.tag is not None:
        out["tag"] = _rle(obj.tag)
    return out


def _write_one(args) -> list[dict]:
    seed, index, size, image_dir, variant = args
    image, objects = make_image(seed, index, size, variant)
    skimage.io.imsave(os.path.join(image_dir, f"{index:06d}.png"), image, check_contrast=False)
    return [annotation(o, index + 1, 0) for o in objects]


def generate(root, n: int, seed: int, split: str = "val2017", size: int = 512, workers: int = 1,
             progress: bool = False, variant: str = "plain") -> str:
    """Write n images to root/split/NNNNNN.png and their COCO annotations to
    root/annotations/instances_{split}.json (the path returned). Image ids are index + 1. A variant
    other than "plain" (see `ssd.data.tags`) is named in the JSON's info with the tagged categories."""
    if n < 1:
        raise ValueError(f"number of images must be ≥ 1, got {n}")
    tagged = tagged_categories(variant)
    image_dir = os.path.join(root, split)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    jobs = [(seed, i, size, image_dir, variant) for i in range(n)]
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
    info = {"description": "synthetic shapes", "seed": seed, "images": n, "size": size}
    if variant != "plain":
        info.update(variant=variant, tagged_categories=sorted(tagged))
    data = {"info": info, "images": images, "annotations": annotations, "categories": categories()}
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
    p.add_argument("--variant", default="plain", choices=sorted(VARIANTS),
                   help="which classes carry the Clever-Hans tag (ssd.data.tags): plain none, hans the cue "
                        "class, hans-other all other classes")
    a = p.parse_args(argv)
    check_folder(p, "ROOT", a.root)
    path = generate(a.root, a.images, a.seed, a.split, workers=a.workers, progress=True, variant=a.variant)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
