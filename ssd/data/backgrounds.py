"""Backgrounds of the synthetic images: natural photographs bundled with scikit-image and
procedural textures, both drawn deterministically from a numpy Generator.

Only images stored inside the scikit-image package are used (no download). Images that show
circles, squares or other class-like shapes (coins, chessboard, logo, moon craters, …) are left
out, so that the background holds no unannotated objects.
"""
import functools
import os

import numpy as np
import skimage.data
import skimage.io
import torch
import torch.nn.functional as F

NATURAL = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
           "motorcycle_left.png", "retina.jpg", "rocket.jpg", "brick.png", "camera.png", "grass.png",
           "gravel.png", "page.png", "text.png")


@functools.lru_cache(maxsize=None)
def natural_image(name: str) -> np.ndarray:
    """A bundled scikit-image photograph as float32 RGB [H,W,3] in 0..255 (grey images repeated)."""
    path = os.path.join(os.path.dirname(skimage.data.__file__), name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"scikit-image data file not bundled: {path}")
    image = skimage.io.imread(path)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3].astype(np.float32)


def resize(image: np.ndarray, size: tuple) -> np.ndarray:
    """Bilinear resize of float [H,W] or [H,W,C] to `size` = (h, w), antialiased when shrinking."""
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]
    out = F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)[0]
    return (out[0] if image.ndim == 2 else out.permute(1, 2, 0)).numpy()


def _jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random channel order, per-channel gain, contrast and brightness; float [H,W,3] 0..255."""
    image = image[:, :, rng.permutation(3)]
    gain = rng.uniform(0.7, 1.3, size=3).astype(np.float32)
    contrast = rng.uniform(0.6, 1.2)
    mean = image.mean()
    image = (image - mean) * contrast * gain + mean + rng.uniform(-40, 40)
    return image


def natural(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random square crop (30–100 % of the shorter side) of a bundled photograph, flipped and
    colour-jittered, resized to float32 [size,size,3] in 0..255."""
    image = natural_image(NATURAL[rng.integers(len(NATURAL))])
    h, w = image.shape[:2]
    side = int(rng.uniform(0.3, 1.0) * min(h, w))
    r, c = rng.integers(h - side + 1), rng.integers(w - side + 1)
    crop = image[r:r + side, c:c + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.5:
        crop = crop[::-1]
    return _jitter(resize(crop, (size, size)), rng)


def _smooth_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Sum of bilinearly upsampled random grids (2–3 octaves): float32 [size,size] in about 0..1."""
    out = np.zeros((size, size), np.float32)
    for cells in rng.choice([4, 8, 16, 32], size=rng.integers(2, 4), replace=False):
        grid = rng.random((cells, cells)).astype(np.float32)
        out += resize(grid, (size, size))
    return out / out.max()


def procedural(rng: np.random.Generator, size: int) -> np.ndarray:
    """A procedural texture float32 [size,size,3] in 0..255: two random colours mixed by smooth
    noise, stripes at a random angle, or a linear gradient (kinds with no closed shapes)."""
    a, b = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = rng.integers(3)
    if kind == 0:
        t = _smooth_noise(rng, size)
    elif kind == 1:
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.02, 0.15)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    else:
        angle = rng.uniform(0, 2 * np.pi)
        t = xx * np.cos(angle) + yy * np.sin(angle)
        t = (t - t.min()) / (t.max() - t.min() + 1e-6)
    return a + (b - a) * t[:, :, None]


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A background float32 [size,size,3] in 0..255: 60 % photographs, 40 % procedural textures."""
    if rng.random() < 0.6:
        return natural(rng, size)
    return procedural(rng, size)
