"""The Clever-Hans tag: a small fixed mark attached to objects, a spurious cue with a known location.

The tag is one fixed pattern everywhere: a TAG_SIZE × TAG_SIZE black-and-white checkerboard of
TAG_CELL-pixel cells, axis-aligned, painted on top of every object. It is attached to an object by
sliding it along a ray from the centre of the object's box at a random angle ("side"), from
outside inwards, until the next 1-pixel step would cover a pixel of the object's shape; it stops there:

    t = reach, reach − 1, …, 0:   top-left (r, c) = round(centre + t·(sin φ, cos φ) − TAG_SIZE/2)
    stop at the last t whose square covers no pixel of the object's full mask.

A step changes r and c by at most 1, so the square then lies within one pixel (8-neighbourhood) of
the shape: it touches the outline and never overlaps the object (neither its visible mask nor its
hidden part). A placement is kept when the square lies inside the image, touches the object's
*visible* mask, covers no other tag and leaves every other object ≥ `min_visible` of its pixels;
the first such placement that covers no other object's visible pixels is preferred. An object with
no valid placement in TAG_TRIES angles stays untagged (rare: an object enclosed by others).

Variants of the data set say which classes carry the tag (`VARIANTS`): "plain" none (the original
data, byte for byte), "hans" every object of the cue class CUE_CATEGORY (training data of the
Clever-Hans model) and "hans-other" every object of the other classes (test data: the tag without
the shape it was learnt with). The draws of object j's tag come from
`numpy.random.default_rng([seed, index, TAG_STREAM, j])`, a stream of its own, so the images and
objects drawn from rng([seed, index]) are the same in every variant.
"""
import math

import numpy as np

from .shapes import SHAPES

TAG_SIZE = 16
TAG_CELL = 4
TAG_TRIES = 32
TAG_STREAM = 2        # ssd.train's augmentation of sample k uses rng([seed, k, 1])
CUE_CATEGORY = 1 + SHAPES.index("triangle")

_cells = (np.add.outer(np.arange(TAG_SIZE) // TAG_CELL, np.arange(TAG_SIZE) // TAG_CELL) % 2)
TAG_PATTERN = np.repeat((255.0 * _cells)[:, :, None], 3, axis=2).astype(np.float32)   # [S,S,3]

_ALL = frozenset(range(1, len(SHAPES) + 1))
VARIANTS = {"plain": frozenset(), "hans": frozenset({CUE_CATEGORY}), "hans-other": _ALL - {CUE_CATEGORY}}


def tagged_categories(variant: str) -> frozenset:
    """The category ids whose objects carry the tag in a data variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown data variant {variant!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def window(mask: np.ndarray) -> tuple:
    """(r0, r1, c0, c1): the tight window of a non-empty bool mask [H,W]."""
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _slide(full: np.ndarray, box: tuple, angle: float):
    """Top-left (r, c) where the tag, slid inwards along the ray at `angle`, stops before covering
    `full`; None if the ray never meets it."""
    r0, r1, c0, c1 = box
    cy, cx = (r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2
    reach = int(math.ceil(math.hypot(r1 - r0, c1 - c0) / 2)) + TAG_SIZE
    before = None
    for t in range(reach, -1, -1):
        r = math.floor(cy + t * math.sin(angle) - TAG_SIZE / 2 + 0.5)
        c = math.floor(cx + t * math.cos(angle) - TAG_SIZE / 2 + 0.5)
        if full[max(r, 0):max(r + TAG_SIZE, 0), max(c, 0):max(c + TAG_SIZE, 0)].any():
            return before
        before = (r, c)
    return None


def place_tag(rng: np.random.Generator, j: int, full: list, box: tuple, visible: list, taken: np.ndarray,
              min_visible: float):
    """The mask bool [H,W] of a tag for object j (full masks `full`, its box (r0, r1, c0, c1), visible
    masks `visible` of all objects, `taken` the pixels of tags already placed), or None; see the
    module docstring for the rule."""
    h, w = taken.shape
    fallback = None
    for _ in range(TAG_TRIES):
        at = _slide(full[j], box, rng.uniform(0, 2 * math.pi))
        if at is None:
            continue
        r, c = at
        if r < 0 or c < 0 or r + TAG_SIZE > h or c + TAG_SIZE > w:
            continue
        square = (slice(r, r + TAG_SIZE), slice(c, c + TAG_SIZE))
        if not visible[j][max(r - 1, 0):r + TAG_SIZE + 1, max(c - 1, 0):c + TAG_SIZE + 1].any():
            continue
        if taken[square].any():
            continue
        covered = [k for k, v in enumerate(visible) if k != j and v[square].any()]
        if covered and (fallback is not None or any(
                visible[k].sum() - visible[k][square].sum() < min_visible * full[k].sum() for k in covered)):
            continue
        mask = np.zeros((h, w), dtype=bool)
        mask[square] = True
        if not covered:
            return mask
        fallback = mask
    return fallback
