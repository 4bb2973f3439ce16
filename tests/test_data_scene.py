"""True removal on the synthetic data: a scene renders with any objects or tags removed, exactly."""
import numpy as np
import pytest

from ssd.data import Scene, SyntheticObject, make_image, make_scene
from ssd.data.backgrounds import background

SCENES = [(4, 30), (0, 0), (1, 12345), (3, 0)]


def _labels(scene: Scene, remove=(), remove_tags=()) -> np.ndarray:
    """Which layer shows at each pixel, painted by brute force: -1 background, j object j, -2 a tag."""
    out = np.full(scene.noise.shape[:2], -1)
    for j, o in enumerate(scene.objects):
        if j not in remove:
            out[o.full] = j
    for j, o in enumerate(scene.objects):
        if o.tag is not None and j not in remove_tags:
            out[o.tag] = -2
    return out


def test_hand_built_scene():
    """Two overlapping solid squares on a black background, no noise: the values are known by hand."""
    full_a, full_b = np.zeros((6, 6), bool), np.zeros((6, 6), bool)
    full_a[0:4, 0:4] = True
    full_b[2:6, 2:6] = True
    a = SyntheticObject(1, full_a & ~full_b, full_a, (0, 4, 0, 4), np.full((4, 4, 3), 100, np.float32))
    b = SyntheticObject(2, full_b, full_b, (2, 6, 2, 6), np.full((4, 4, 3), 200.4, np.float32))
    scene = Scene(np.zeros((6, 6, 3), np.float32), [a, b], np.full((6, 6, 3), 0.3, np.float32))
    image = scene.render()[:, :, 0]
    assert image[1, 1] == 100 and image[3, 3] == 201 and image[5, 0] == 0      # rint(x + 0.3)
    assert scene.render(remove=[1])[3, 3, 0] == 100                            # a's hidden corner revealed
    assert scene.render(remove=[0])[1, 1, 0] == 0 and scene.render(remove=[0])[3, 3, 0] == 201
    assert scene.render(remove=[0, 1]).max() == 0
    va, vb = scene.visible(remove=[1])
    assert np.array_equal(va, full_a) and not vb.any()
    assert np.array_equal(scene.visible()[0], full_a & ~full_b)
    with pytest.raises(ValueError, match="out of range"):
        scene.render(remove=[2])


@pytest.mark.parametrize("seed, index", SCENES)
def test_rendering_without_removal_is_make_image(seed, index):
    scene = make_scene(seed, index)
    image, objects = make_image(seed, index)
    assert np.array_equal(scene.render(), image)
    for o, v, p in zip(scene.objects, scene.visible(), objects):
        assert np.array_equal(o.mask, v) and np.array_equal(o.mask, p.mask)
        assert not (o.mask & ~o.full).any()


@pytest.mark.parametrize("seed, index", SCENES)
def test_removing_every_object_gives_the_background(seed, index):
    """The background is drawn first from rng([seed, index]): regenerate it independently; the noise
    is the same as in the full image (equal pixels wherever no object lies)."""
    scene = make_scene(seed, index)
    everything = range(len(scene.objects))
    empty = scene.render(remove=everything)
    expected = background(np.random.default_rng([seed, index]), 512) + scene.noise
    assert np.array_equal(empty, np.clip(np.rint(expected), 0, 255).astype(np.uint8))
    anywhere = np.any([o.full for o in scene.objects], axis=0)
    assert np.array_equal(empty[~anywhere], scene.render()[~anywhere])
    assert (empty[anywhere] != scene.render()[anywhere]).any()
    assert not np.any(scene.visible(remove=everything))


def test_removing_one_of_two_overlapping_objects_reveals_the_other():
    """Image 30 of seed 4: object 0 (a solid colour) lies partly under object 1. Removing object 1
    shows object 0's colour, estimated from its visible pixels alone, on its hidden pixels; nothing
    outside object 1 changes."""
    scene = make_scene(4, 30)
    a, b = scene.objects[0], scene.objects[1]
    above = np.any([o.full for o in scene.objects[2:]], axis=0)
    hidden = a.full & b.full & ~above
    assert hidden.sum() > 1000 and not (a.mask & hidden).any()
    image, removed = scene.render().astype(float), scene.render(remove=[1]).astype(float)
    seen = image[a.mask] - scene.noise[a.mask]            # colour + rounding error in [-0.5, 0.5]
    colour = (seen.max(axis=0) + seen.min(axis=0)) / 2     # the painted solid colour (21,004 pixels)
    assert np.abs(seen - colour).max() <= 0.51             # a is solid
    assert np.abs(removed[hidden] - scene.noise[hidden] - colour).max() <= 0.51
    assert np.abs(image[hidden] - removed[hidden]).max() > 20                 # b really covered it
    assert np.array_equal(removed[~b.full], image[~b.full])
    assert np.array_equal(scene.visible(remove=[1])[0], a.full & ~above)


@pytest.mark.parametrize("seed, index", SCENES)
def test_visible_masks_after_removal_match_a_brute_force_painting(seed, index):
    scene = make_scene(seed, index, variant="hans-other")
    rng = np.random.default_rng(0)
    n = len(scene.objects)
    for _ in range(4):
        remove = set(np.nonzero(rng.random(n) < 0.5)[0].tolist())
        remove_tags = set(np.nonzero(rng.random(n) < 0.5)[0].tolist())
        labels = _labels(scene, remove, remove_tags)
        for j, v in enumerate(scene.visible(remove, remove_tags)):
            assert np.array_equal(v, labels == j)
