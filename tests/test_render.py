"""Heatmap rendering: zero is white, the sign picks the colour, normalisation is symmetric."""
import numpy as np
import pytest
import skimage.io
import torch

from eval.metrics import maps
from eval.report import render


def test_zero_is_white_and_all_zero_map_is_white():
    h = np.array([[0.0, 2.0], [-1.0, 0.0]])
    rgb = render.colorize(h)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert rgb[0, 0].tolist() == [255, 255, 255] and rgb[1, 1].tolist() == [255, 255, 255]
    assert (render.colorize(np.zeros((3, 4))) == 255).all()


def test_sign_maps_to_red_and_blue():
    rgb = render.colorize(np.array([[4.0, -4.0, 2.0, -2.0]]))
    assert rgb[0, 0].tolist() == [255, 0, 0]        # max positive: pure red
    assert rgb[0, 1].tolist() == [0, 0, 255]        # max negative: pure blue
    assert rgb[0, 2].tolist() == [255, 128, 128]    # half positive: (1, 1/2, 1/2)
    assert rgb[0, 3].tolist() == [128, 128, 255]    # half negative: (1/2, 1/2, 1)


def test_normalisation_is_symmetric_by_max_abs():
    # the negative side has the larger magnitude: it sets the scale for both signs
    h = np.array([[1.0, -4.0, 2.0]])
    assert maps.normalise(h).tolist() == [[0.25, -1.0, 0.5]]
    assert np.array_equal(render.colorize(-h), render.colorize(h)[..., ::-1])  # sign flip swaps R and B
    assert np.array_equal(render.colorize(7 * h), render.colorize(h))           # scale-free


def test_accepts_torch_tensors(device):
    h = torch.tensor([[0.0, 1.0], [-1.0, 0.5]], device=device)
    assert np.array_equal(render.colorize(h), render.colorize(h.cpu().numpy()))


def test_bad_heatmaps_raise():
    with pytest.raises(ValueError, match=r"\[H,W\]"):
        render.colorize(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        render.colorize(np.array([[np.nan, 1.0]]))


def test_blend_over_grey_copy():
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[..., 0] = 200                                          # red image: luminance 0.299*200
    h = np.array([[1.0, 0.0], [0.0, -1.0]])
    out = render.blend(h, image, alpha=0.5)
    g = round(0.299 * 200)
    assert out[0, 1].tolist() == [round(0.5 * 255 + 0.5 * g)] * 3   # zero relevance: white over grey
    assert out[0, 0].tolist() == [round(0.5 * 255 + 0.5 * g), round(0.5 * g), round(0.5 * g)]
    assert np.array_equal(render.blend(h, image, alpha=1.0), render.colorize(h))
    with pytest.raises(ValueError, match="differ in size"):
        render.blend(np.zeros((3, 3)), image)


def test_draw_box_outline_only_and_clipped():
    img = np.zeros((10, 10, 3), dtype=np.uint8)
    out = render.draw_box(img, [2, 3, 6, 8], colour=render.YELLOW, thickness=1)
    yellow = (out == np.array(render.YELLOW, dtype=np.uint8)).all(-1)
    expected = np.zeros((10, 10), bool)
    expected[3, 2:7] = expected[8, 2:7] = expected[3:9, 2] = expected[3:9, 6] = True
    assert np.array_equal(yellow, expected)
    assert (img == 0).all()                                       # input untouched
    clipped = render.draw_box(img, [-5, -5, 20, 20], colour=render.RED, thickness=1)
    red = (clipped == np.array(render.RED, dtype=np.uint8)).all(-1)
    assert red[0].all() and red[-1].all() and red[:, 0].all() and red[:, -1].all() and not red[1:-1, 1:-1].any()
    assert (render.draw_box(img, [20, 20, 30, 30]) == 0).all()  # outside: unchanged


def test_framed_outlines_the_border_only():
    out = render.framed(np.full((4, 5, 3), 255, np.uint8))
    grey = (out == np.array(render.GREY, np.uint8)).all(-1)
    assert grey[0].all() and grey[-1].all() and grey[:, 0].all() and grey[:, -1].all()
    assert (out[1:-1, 1:-1] == 255).all()


def test_side_by_side_and_png_round_trip(tmp_path):
    a = np.zeros((4, 3, 3), np.uint8)
    b = np.full((4, 2, 3), 9, np.uint8)
    joined = render.side_by_side([a, b], gap=1)
    assert joined.shape == (4, 6, 3) and (joined[:, 3] == 255).all() and (joined[:, 4:] == 9).all()
    path = render.write_png(tmp_path / "sub" / "x.png", joined)
    assert np.array_equal(skimage.io.imread(path), joined)
    with pytest.raises(ValueError, match="height"):
        render.side_by_side([a, np.zeros((5, 2, 3), np.uint8)])
