"""The Clever-Hans variant: the tag's mask is exact, it touches its object without overlapping it,
only the chosen classes carry it, and removing it restores the plain image pixel for pixel."""
import json
import math

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from pycocotools.coco import COCO

from ssd.data import CUE_CATEGORY, VARIANTS, generate, make_image, make_scene
from ssd.data.synthetic import main as data_main
from ssd.data.tags import TAG_PATTERN, TAG_SIZE, window

SEED = 21
INDICES = range(30)


@pytest.fixture(scope="module")
def scenes():
    return {v: [make_scene(SEED, i, variant=v) for i in INDICES] for v in ("hans", "hans-other")}


def test_pattern_is_a_fixed_black_and_white_checkerboard():
    assert TAG_PATTERN.shape == (TAG_SIZE, TAG_SIZE, 3) and 10 <= TAG_SIZE <= 16
    assert set(np.unique(TAG_PATTERN)) == {0.0, 255.0}
    assert TAG_PATTERN.mean() == 127.5


@pytest.mark.parametrize("variant", ["hans", "hans-other"])
def test_only_the_chosen_classes_carry_the_tag(scenes, variant):
    tagged = VARIANTS[variant]
    n = 0
    for scene in scenes[variant]:
        for o in scene.objects:
            assert (o.tag is not None) == (o.category_id in tagged)
            n += o.tag is not None
    assert n >= 5


@pytest.mark.parametrize("variant", ["hans", "hans-other"])
def test_tag_is_exact_and_touches_its_object_without_overlapping_it(scenes, variant):
    sides = set()
    for scene in scenes[variant]:
        image = scene.render()
        for o in scene.objects:
            if o.tag is None:
                continue
            r0, r1, c0, c1 = window(o.tag)
            assert (r1 - r0, c1 - c0) == (TAG_SIZE, TAG_SIZE) and o.tag.sum() == TAG_SIZE ** 2
            expected = np.clip(np.rint(TAG_PATTERN + scene.noise[r0:r1, c0:c1]), 0, 255)
            assert np.array_equal(image[r0:r1, c0:c1], expected)               # the painted pixels are the mask
            assert not (o.tag & o.full).any()                                   # never on the object, even hidden parts
            ring = np.zeros_like(o.tag)
            ring[max(r0 - 1, 0):r1 + 1, max(c0 - 1, 0):c1 + 1] = True
            assert (ring & o.mask).any()                                        # touches its visible outline
            for p in scene.objects:
                assert not (o.tag & p.mask).any()                               # no visible mask includes a tag
            b0, b1, d0, d1 = window(o.full)
            dy, dx = (r0 + r1 - b0 - b1) / 2, (c0 + c1 - d0 - d1) / 2
            sides.add(int(((math.atan2(dy, dx) + math.pi / 4) % (2 * math.pi)) // (math.pi / 2)))
    assert sides == {0, 1, 2, 3}                                                # at random sides


@pytest.mark.parametrize("variant", ["hans", "hans-other"])
def test_removing_the_tags_restores_the_plain_image(scenes, variant):
    """The tag's draws come from a stream of their own: with every tag truly removed, the image and
    the masks are those of the plain data set, pixel for pixel."""
    for i, scene in zip(INDICES, scenes[variant]):
        plain, objects = make_image(SEED, i)
        everything = range(len(scene.objects))
        assert np.array_equal(scene.render(remove_tags=everything), plain)
        for v, o in zip(scene.visible(remove_tags=everything), objects):
            assert np.array_equal(v, o.mask)
        for j, o in enumerate(scene.objects):  # one tag removed: only its pixels change, to the plain ones
            if o.tag is not None:
                one = scene.render(remove_tags=[j])
                assert np.array_equal(one[o.tag], plain[o.tag])
                assert np.array_equal(one[~o.tag], scene.render()[~o.tag])
                break


def test_coco_files_store_the_tag_beside_the_object(tmp_path):
    path = generate(tmp_path, 3, seed=SEED, size=512, variant="hans-other")
    with open(path) as f:
        info = json.load(f)["info"]
    assert info["variant"] == "hans-other" and CUE_CATEGORY not in info["tagged_categories"]
    from ssd.evaluate import _existing
    assert _existing(tmp_path, "val2017", SEED, 3) is None      # never mistaken for the plain set
    coco = COCO(path)
    for i in range(3):
        _, objects = make_image(SEED, i, variant="hans-other")
        anns = coco.loadAnns(coco.getAnnIds(imgIds=i + 1))
        assert len(anns) == len(objects)
        for a, o in zip(anns, objects):
            assert np.array_equal(coco.annToMask(a).astype(bool), o.mask)
            if o.tag is None:
                assert "tag" not in a
            else:
                assert np.array_equal(mask_utils.decode(a["tag"]).astype(bool), o.tag)


def test_command_line_writes_the_variant(tmp_path, capsys):
    data_main([str(tmp_path), "--images", "1", "--seed", str(SEED), "--variant", "hans"])
    coco = COCO(tmp_path / "annotations" / "instances_val2017.json")
    tagged = [a["category_id"] for a in coco.loadAnns(coco.getAnnIds()) if "tag" in a]
    assert tagged == [o.category_id for o in make_scene(SEED, 0, variant="hans").objects if o.tag is not None]


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown data variant 'hanz'"):
        make_scene(0, 0, variant="hanz")
