"""From images to model input and back."""
import os
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from .config import SSDConfig

Image = Union[np.ndarray, str, os.PathLike]


def read_image(path) -> np.ndarray:
    """An image file as uint8 RGB [H,W,3]; a clear error for a missing or unreadable file."""
    import skimage.io

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        image = skimage.io.imread(path)
    except Exception as e:  # the readers raise many types for corrupt files
        raise ValueError(f"cannot read image {path}: {e}") from e
    return as_rgb(image, name=path)


def as_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """uint8 [H,W] (grey), [H,W,1], [H,W,2] (grey + alpha), [H,W,3] or [H,W,4] (alpha dropped)
    -> uint8 [H,W,3]. 16-bit images (PNG) keep their 8 most significant bits."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array or a file path, got {type(image).__name__}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
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
        t = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].float()
        if t.shape[-2:] != (config.size, config.size):
            t = F.interpolate(t, size=(config.size, config.size), mode="bilinear", align_corners=False)
        out.append(t)
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
