"""`ssd.read_image`: every colour mode PIL reads comes back as the RGB it shows, turned upright by its
EXIF orientation; absurd sizes are refused in one line; `ssd.preprocess` resizes a large image one
channel at a time with the same result.

Before: a CMYK JPEG came back with inverted colours (its K channel dropped as if it were alpha),
float images were refused, EXIF orientation was ignored."""
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ssd
from ssd.preprocess import image_size

COLOUR = (200, 50, 100)


def save(image: Image.Image, path, **kw):
    image.save(path, **kw)
    return path


def test_cmyk_jpeg_comes_back_as_its_rgb_colour(tmp_path):
    cmyk = Image.new("RGB", (16, 16), COLOUR).convert("CMYK")     # (55, 205, 155, 0)
    image = ssd.read_image(save(cmyk, tmp_path / "cmyk.jpg", quality=95))
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - COLOUR).max() <= 3


def test_cmyk_black_channel_darkens(tmp_path):
    grey = Image.new("CMYK", (16, 16), (0, 0, 0, 128))               # K = 128: grey 127
    image = ssd.read_image(save(grey, tmp_path / "k.jpg", quality=95))
    assert np.abs(image.astype(int) - 127).max() <= 3


def test_grey_alpha_drops_the_alpha(tmp_path):
    la = Image.new("LA", (8, 8), (200, 0))
    np.testing.assert_array_equal(ssd.read_image(save(la, tmp_path / "la.png")), np.full((8, 8, 3), 200))


@pytest.mark.parametrize("transparent", [False, True])
def test_palette_images_show_their_palette_colours(tmp_path, transparent):
    indices = np.arange(4, dtype=np.uint8).repeat(4).reshape(4, 4)
    palette = [(10, 20, 30), COLOUR, (0, 255, 0), (255, 255, 255)]
    p = Image.fromarray(indices, "P")
    p.putpalette([v for c in palette for v in c])
    kw = {"transparency": bytes([0, 128, 255, 255])} if transparent else {}
    image = ssd.read_image(save(p, tmp_path / "p.png", **kw))
    np.testing.assert_array_equal(image, np.array(palette, np.uint8)[indices])


@pytest.mark.parametrize("mode, values, suffix", [
    ("I;16", np.array([[0, 257 * 100, 65535, 257 * 37]], np.uint16), "png"),
    ("I", np.array([[0, 257 * 100, 65535, 257 * 37]], np.int32), "tif"),
    ("F", np.array([[0.0, 100 / 255, 1.0, 37 / 255]], np.float32), "tif"),
])
def test_deep_and_float_grey_is_scaled_to_0_255(tmp_path, mode, values, suffix):
    grey = Image.fromarray(values)
    assert grey.mode == mode
    path = save(grey, tmp_path / f"grey.{suffix}")
    with Image.open(path) as stored:
        assert stored.mode == mode
    np.testing.assert_array_equal(ssd.read_image(path), np.repeat(np.array([[0, 100, 255, 37]])[..., None], 3, 2))


def test_float_grey_outside_0_1_is_an_error_naming_the_range(tmp_path):
    path = save(Image.fromarray(np.array([[0.0, 300.0]], np.float32)), tmp_path / "f.tif")
    with pytest.raises(ValueError, match=r"f.tif: floating-point pixels must be in \[0, 1\], got values in \[0, 300\]"):
        ssd.read_image(path)


def test_rgba_drops_alpha_and_bilevel_is_black_and_white(tmp_path):
    rgba = Image.new("RGBA", (8, 8), COLOUR + (0,))
    np.testing.assert_array_equal(ssd.read_image(save(rgba, tmp_path / "a.png")), np.full((8, 8, 3), COLOUR))
    bits = Image.fromarray(np.array([[True, False]])).convert("1")
    np.testing.assert_array_equal(ssd.read_image(save(bits, tmp_path / "b.png"))[..., 0], [[255, 0]])


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_exif_orientation_6_is_turned_upright(tmp_path, suffix):
    """Orientation 6: the stored pixels are shown rotated 90° clockwise."""
    stored = np.zeros((20, 40, 3), np.uint8)             # 40 wide, 20 high
    stored[:10, :10] = 255                               # white top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(Image.fromarray(stored), tmp_path / f"o.{suffix}", exif=exif.tobytes())
    image = ssd.read_image(path)
    assert image.shape == (40, 20, 3)
    assert image_size(path) == (40, 20)
    upright = np.rot90(stored, k=-1)                     # the white corner moves to the top right
    assert np.abs(image.astype(int) - upright).max() <= (0 if suffix == "png" else 40)
    assert image[2, 17].min() > 200 and image[2, 2].max() < 50


def test_decompression_bombs_are_refused_naming_file_and_size(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (64, 64)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ValueError, match=r"bomb.png is too large to decode: .*4096 pixels.*limit of 2000"):
        ssd.read_image(path)
    with pytest.raises(ValueError, match=r"bomb.png is too large to decode"):
        image_size(path)


def test_large_images_are_resized_one_channel_at_a_time_with_the_same_result():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (700, 1000, 3), dtype=np.uint8)
    config = ssd.SHAPES_SSD512
    whole = F.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None].float(), size=(512, 512),
                          mode="bilinear", align_corners=False)
    expected = (whole - torch.tensor(config.mean).view(1, 3, 1, 1)) / torch.tensor(config.std).view(1, 3, 1, 1)
    torch.testing.assert_close(ssd.preprocess(image, config), expected, rtol=0, atol=1e-4)


def test_unreadable_bytes_are_one_error_naming_the_file(tmp_path):
    path = tmp_path / "x.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), COLOUR).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[:200])              # truncated
    with pytest.raises(ValueError, match="x.jpg"):
        ssd.read_image(path)
