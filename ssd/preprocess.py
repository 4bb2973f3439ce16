"""From images to model input and back.

Reading a file (`read_image`): PIL decodes it, ImageOps.exif_transpose turns it upright by its EXIF
orientation (the way a viewer shows it), and its colour mode gives the uint8 RGB pixels:
- RGB as it is; RGBA, LA, PA and P with transparency: the alpha dropped, the colour under it kept
  (as `as_rgb` does for arrays); P: the palette colours; L: grey; 1: 0 or 255;
- CMYK (and YCCK, which libjpeg decodes to CMYK): PIL's R = (255 − K)(1 − C/255), likewise G, B;
- I;16 (16-bit grey): round(255·v / 65535); I (32-bit integer grey, as some readers give 16-bit
  files): the same, for values in [0, 65535]; F (float grey): round(255·v), for values in [0, 1].
  Values outside those ranges are an error naming the range found, never clipped.
A file beyond PIL's decompression-bomb limit (2 · PIL.Image.MAX_IMAGE_PIXELS pixels) is refused
before it is decoded. `preprocess` resizes one colour channel at a time, so that a large image
(13000×13000) is never held as a float copy of all three channels.
"""
import os
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from .config import SSDConfig

Image = Union[np.ndarray, str, os.PathLike]

# The white of the grey modes that are not 8-bit: their values map linearly onto 0..255.
_GREY_WHITE = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 1.0}
_UPRIGHT_SWAPS_SIDES = (5, 6, 7, 8)       # EXIF orientations that turn the image by 90°
_ORIENTATION = 0x0112


def _unreadable(path: str, error: Exception) -> ValueError:
    """The one-line error of a file PIL cannot open or decode."""
    from PIL import Image as PILImage

    if isinstance(error, PILImage.DecompressionBombError):
        return ValueError(f"image {path} is too large to decode: {error} "
                          f"(PIL.Image.MAX_IMAGE_PIXELS sets the limit)")
    return ValueError(f"cannot read image {path}: {error}")


def _open(path):
    """PIL's image of the file at `path`, not yet decoded (use it in a `with` block);
    FileNotFoundError or a one-line ValueError naming the file."""
    from PIL import Image as PILImage

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        return PILImage.open(path)
    except Exception as e:  # the readers raise many types for corrupt files
        raise _unreadable(path, e) from e


def image_size(path) -> tuple[int, int]:
    """(height, width) of the image file at `path` as `read_image` returns it (upright by its EXIF
    orientation), read from its header without decoding the pixels."""
    with _open(path) as image:
        width, height = image.size
        return (width, height) if image.getexif().get(_ORIENTATION, 1) in _UPRIGHT_SWAPS_SIDES else (height, width)


def read_image(path) -> np.ndarray:
    """An image file as uint8 RGB [H,W,3], upright, from any colour mode PIL reads (module
    docstring); FileNotFoundError or a one-line ValueError naming the file otherwise."""
    from PIL import ImageOps

    path = os.fspath(path)
    with _open(path) as image:
        try:
            ImageOps.exif_transpose(image, in_place=True)
            image.load()
        except Exception as e:
            raise _unreadable(path, e) from e
        if image.mode in _GREY_WHITE:
            return as_rgb(_to_uint8(np.asarray(image), _GREY_WHITE[image.mode], path), path)
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")        # PIL converts P with transparency through RGBA
        return _rgb_rows(image)


def _rgb_rows(image) -> np.ndarray:
    """A decoded PIL image as uint8 RGB [H,W,3], converted and copied 256 rows at a time: np.asarray
    of the whole image would hold its bytes twice more (PIL's tobytes), 1 GB for 13000×13000."""
    width, height = image.size
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, 256):
        band = image.crop((0, top, width, min(height, top + 256)))
        out[top:top + band.height] = np.asarray(band if band.mode == "RGB" else band.convert("RGB"))
    return out


def _to_uint8(values: np.ndarray, white: float, name: str) -> np.ndarray:
    """Pixel values in [0, white] -> uint8 round(255·v / white); a ValueError naming the range found
    (NaN included) otherwise."""
    low, high = values.min(), values.max()
    if not (low >= 0 and high <= white):
        kind = "floating-point" if values.dtype.kind == "f" else f"{values.dtype}"
        raise ValueError(f"{name}: {kind} pixels must be in [0, {white:g}], got values in [{low:g}, {high:g}]")
    return np.rint(values.astype(np.float32) * (255 / white)).astype(np.uint8)


def as_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """uint8 [H,W] (grey), [H,W,1], [H,W,2] (grey + alpha), [H,W,3] or [H,W,4] (alpha dropped)
    -> uint8 [H,W,3]. 16-bit images (uint16) are scaled: round(255·v / 65535)."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array or a file path, got {type(image).__name__}")
    if image.dtype == np.uint16:
        image = _to_uint8(image, 65535, name)
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8 (0..255), got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"{name}: expected an [H,W], [H,W,1], [H,W,2], [H,W,3] or [H,W,4] image, "
                         f"got shape {image.shape}")
    if image.shape[2] <= 2:
        image = np.repeat(image[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def _resized(image: np.ndarray, size: int, device) -> torch.Tensor:
    """uint8 [H,W,3] -> float [1,3,S,S], warped bilinearly (align_corners=False) one channel at a
    time: each channel is interpolated on its own, so the result is that of all three at once, and
    only one channel is ever held as floats."""
    pixels = torch.from_numpy(image).to(device).permute(2, 0, 1)[None]             # uint8 [1,3,H,W]
    if pixels.shape[-2:] == (size, size):
        return pixels.float()
    return torch.cat([F.interpolate(pixels[:, c:c + 1].float(), size=(size, size), mode="bilinear",
                                    align_corners=False) for c in range(3)], dim=1)


def preprocess(images: Union[Image, Sequence[Image]], config: SSDConfig, device=None) -> torch.Tensor:
    """Images (uint8 HWC arrays or file paths) -> model input [N,3,S,S] on `device`.

    Each image is warped to S×S (bilinear, no aspect-ratio keeping, like all public SSD code), put in
    the config's channel order and normalised: x = (pixel - mean) / std with pixels in 0..255.
    """
    if isinstance(images, (np.ndarray, str, os.PathLike)):
        images = [images]
    if len(images) == 0:
        raise ValueError("preprocess: empty batch (no images given)")
    mean = torch.tensor(config.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=device).view(1, 3, 1, 1)
    out = []
    for i, image in enumerate(images):
        image = read_image(image) if isinstance(image, (str, os.PathLike)) else as_rgb(image, f"image {i}")
        out.append(_resized(image, config.size, device))
    x = torch.cat(out)
    if config.channel_order == "BGR":
        x = x.flip(1)
    return (x - mean) / std


def to_image(x: torch.Tensor, config: SSDConfig) -> np.ndarray:
    """Model input [N,3,S,S] (or [3,S,S]) -> uint8 RGB images [N,S,S,3] (or [S,S,3]), for display."""
    single = x.dim() == 3
    x = x[None] if single else x
    mean = torch.tensor(config.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=x.device).view(1, 3, 1, 1)
    pixels = x.detach() * std + mean
    if config.channel_order == "BGR":
        pixels = pixels.flip(1)
    images = pixels.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return images[0] if single else images
