"""The synthetic shapes data set: determinism, exact masks, COCO round trip, shape geometry."""
import filecmp
import json
import math
import os

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import skimage.io
from pycocotools.coco import COCO

from ssd.config import SHAPE_NAMES
from ssd.data import SHAPES, generate, make_image
from ssd.data.backgrounds import NATURAL, natural_image
from ssd.data.shapes import mask, outline

N_IMAGES = 2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return root, generate(root, N_IMAGES, seed=7)


def test_same_seed_gives_identical_bytes(dataset, tmp_path):
    root, path = dataset
    again = generate(tmp_path, N_IMAGES, seed=7)
    assert filecmp.cmp(path, again, shallow=False)
    for i in range(N_IMAGES):
        name = f"{i:06d}.png"
        assert filecmp.cmp(root / "val2017" / name, tmp_path / "val2017" / name, shallow=False)


def test_different_seeds_give_different_images():
    a, _ = make_image(7, 0)
    b, _ = make_image(8, 0)
    c, _ = make_image(7, 1)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


def test_masks_boxes_and_areas_agree(dataset):
    root, path = dataset
    coco = COCO(path)
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == sorted(SHAPES)
    for image_id in coco.getImgIds():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        assert 1 <= len(anns) <= 6
        union = np.zeros((512, 512), dtype=int)
        for a in anns:
            m = coco.annToMask(a).astype(bool)
            rows, cols = np.nonzero(m)
            assert a["area"] == m.sum()
            assert a["bbox"] == [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
            assert 1 <= a["category_id"] <= 6 and a["iscrowd"] == 0
            assert max(a["bbox"][2:]) <= 321
            union += m
        assert union.max() == 1  # visible masks never overlap: each pixel belongs to one object at most


def test_files_are_what_make_image_draws(dataset):
    """The PNG holds exactly the generated pixels (lossless) and the JSON exactly its masks."""
    root, path = dataset
    coco = COCO(path)
    for i in range(N_IMAGES):
        image, objects = make_image(7, i)
        assert np.array_equal(skimage.io.imread(root / "val2017" / f"{i:06d}.png"), image)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=i + 1))
        assert [a["category_id"] for a in anns] == [o.category_id for o in objects]
        for a, o in zip(anns, objects):
            assert np.array_equal(mask_utils.decode(a["segmentation"]).astype(bool), o.mask)


def test_objects_are_painted_on_their_masks():
    """Inside a mask the pixels come from the object's texture, which contrasts with its
    surroundings: the mean colour inside differs from the ring of pixels just outside."""
    from skimage.morphology import dilation, disk

    image, objects = make_image(3, 0)
    occupied = np.any([o.mask for o in objects], axis=0)
    for o in objects:
        around = dilation(o.mask, disk(3)) & ~occupied
        if around.sum() < 50:
            continue
        inside = image[o.mask].astype(float).mean(axis=0)
        outside = image[around].astype(float).mean(axis=0)
        assert np.linalg.norm(inside - outside) > 20


def test_class_names_match_the_model_config():
    assert SHAPES == SHAPE_NAMES


@pytest.mark.parametrize("shape, area", [
    ("circle", math.pi * 40 ** 2),
    ("ring", math.pi * (40 ** 2 - 20 ** 2)),
    ("square", 2 * 40 ** 2),
    ("triangle", 3 * math.sqrt(3) / 4 * 40 ** 2),
])
def test_mask_area_matches_geometry(shape, area):
    m = mask(shape, 100.3, 99.7, 40.0, 0.3, {"hole": 0.5}, (200, 200))
    # pixel-centre sampling: the error is at most about the perimeter's length in pixels, far less in practice
    assert abs(m.sum() - area) < 0.02 * area


@pytest.mark.parametrize("shape, params", [("star", {"inner": 0.4}), ("cross", {"arm": 0.25})])
def test_polygon_masks_match_shoelace_area(shape, params):
    pts = outline(shape, 60.0, 0.7, params)
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    m = mask(shape, 100.0, 100.0, 60.0, 0.7, params, (200, 200))
    assert abs(m.sum() - area) < 0.03 * area
    assert np.all(np.hypot(pts[:, 0], pts[:, 1]) <= 60.0 + 1e-9)  # circumradius R


def test_square_at_zero_rotation_is_axis_aligned():
    m = mask("square", 50.0, 50.0, 20 * math.sqrt(2), 0.0, {}, (100, 100))
    assert m[30:71, 30:71].all() and m.sum() == 41 * 41


def test_backgrounds_are_bundled_with_scikit_image():
    for name in NATURAL:
        image = natural_image(name)
        assert image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 150


def test_json_is_plain_coco(dataset):
    _, path = dataset
    with open(path) as f:
        data = json.load(f)
    assert set(data) >= {"images", "annotations", "categories"}
    assert [im["file_name"] for im in data["images"]] == [f"{i:06d}.png" for i in range(N_IMAGES)]
    assert all(isinstance(a["segmentation"]["counts"], str) for a in data["annotations"])
    assert os.path.basename(path) == "instances_val2017.json"


# sha256 of image bytes + (category id, packed visible mask) per object, and of the COCO JSON that
# `generate(root, 3, seed=7, size=320)` writes: computed with the generator of commit 6168784 (before
# scenes, true removal and the tag variants), on which the shipped model's held-out evaluation rests.
PINNED = {
    (0, 0, 512): "02691cb656ff4b2f5acedbe6fe6b61ab3dd26ee2691ab845bc2fe63117222815",
    (7, 1, 512): "a5581f2dc82fbb9f0c30e123b426beaf67e22831dd05c7793564b020abe3cf23",
    (1000, 3, 512): "2f050239c438b56ccaa85ce65cb83eec45c208060650ca4dc6c574f3f5eb21ab",
    (3, 0, 320): "8a517482409c4325bf1d8dce9a4ac89370756a41a4ff76ae9da905b19ad6e861",
    (1, 12345, 512): "7a11c30845633ec7b6e264729357d5f87231a4e6f476924d10d5a38db9972625",
}
PINNED_JSON = "2a0c23c5f632447d10f8d52625c635ce7c440e4988fa915e5c0566716bf2e974"


@pytest.mark.parametrize("seed, index, size", sorted(PINNED))
def test_images_are_pinned(seed, index, size):
    import hashlib

    image, objects = make_image(seed, index, size)
    h = hashlib.sha256(image.tobytes())
    for o in objects:
        h.update(bytes([o.category_id]))
        h.update(np.packbits(o.mask).tobytes())
    assert h.hexdigest() == PINNED[seed, index, size]


def test_coco_json_is_pinned(tmp_path):
    import hashlib

    path = generate(tmp_path, 3, seed=7, size=320)
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == PINNED_JSON
