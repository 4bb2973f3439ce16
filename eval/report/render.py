"""Heatmap pictures without matplotlib: a diverging colour map, blending, boxes and PNG files.

Heatmaps are shown as in the paper: each one divided by its own max |R| so that the colour scale is
symmetric around zero (positive relevance red, negative blue, zero white). The predicted box is
drawn yellow, the ground-truth box red.
"""
from pathlib import Path

import numpy as np
import skimage.io

from eval.metrics.maps import as_numpy, normalise

YELLOW = (255, 255, 0)   # predicted box
RED = (255, 0, 0)        # ground-truth box
WHITE = (255, 255, 255)
GREY = (160, 160, 160)   # frame around heatmaps, so that an all-white map still shows its extent


def colorize(heatmap) -> np.ndarray:
    """heatmap [H,W] -> uint8 RGB [H,W,3] on the diverging map white -> red (R>0), white -> blue (R<0).

    With r = R / max|R|: r >= 0 gives (1, 1-r, 1-r), r < 0 gives (1-|r|, 1-|r|, 1), times 255.
    """
    r = normalise(heatmap)
    pos, neg = np.clip(r, 0, 1), np.clip(-r, 0, 1)
    rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], axis=-1)
    return np.round(rgb * 255).astype(np.uint8)


def grey(image) -> np.ndarray:
    """uint8 RGB [H,W,3] -> its luminance (ITU-R 601 weights) repeated into three channels, uint8."""
    img = check_image(image).astype(np.float64)
    y = img @ np.array([0.299, 0.587, 0.114])
    return np.repeat(np.round(y).astype(np.uint8)[..., None], 3, axis=-1)


def blend(heatmap, image, alpha: float = 0.6) -> np.ndarray:
    """The coloured heatmap over a grey copy of `image`: alpha * colour + (1 - alpha) * grey, uint8."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    colour = colorize(heatmap).astype(np.float64)
    g = grey(image).astype(np.float64)
    if colour.shape != g.shape:
        raise ValueError(f"heatmap {colour.shape[:2]} and image {g.shape[:2]} differ in size")
    return np.round(alpha * colour + (1 - alpha) * g).astype(np.uint8)


def check_image(image) -> np.ndarray:
    """An RGB image [H,W,3] as a uint8 numpy array (ValueError otherwise)."""
    img = as_numpy(image)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"an image must be RGB [H,W,3], got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"an image must be uint8, got {img.dtype}")
    return img


def draw_box(image, box, colour=YELLOW, thickness: int = 2) -> np.ndarray:
    """A copy of `image` [H,W,3] with the outline of `box` (x1, y1, x2, y2 in pixels) drawn inside it.

    The box is clipped to the image; a box entirely outside leaves the image unchanged.
    """
    img = check_image(image).copy()
    h, w = img.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in as_numpy(box).reshape(4))
    x1, x2 = max(min(x1, x2), 0), min(max(x1, x2), w - 1)
    y1, y2 = max(min(y1, y2), 0), min(max(y1, y2), h - 1)
    if x1 > x2 or y1 > y2:
        return img
    t = max(1, int(thickness))
    c = np.asarray(colour, dtype=np.uint8)
    img[y1:min(y1 + t, y2 + 1), x1:x2 + 1] = c
    img[max(y2 - t + 1, y1):y2 + 1, x1:x2 + 1] = c
    img[y1:y2 + 1, x1:min(x1 + t, x2 + 1)] = c
    img[y1:y2 + 1, max(x2 - t + 1, x1):x2 + 1] = c
    return img


def framed(image, colour=GREY) -> np.ndarray:
    """A copy of `image` [H,W,3] with a one-pixel outline along its border."""
    h, w = check_image(image).shape[:2]
    return draw_box(image, (0, 0, w - 1, h - 1), colour, thickness=1)


def side_by_side(panels, gap: int = 4) -> np.ndarray:
    """Images [H,W_i,3] of one height joined left to right with white columns of width `gap`."""
    panels = [check_image(p) for p in panels]
    if not panels:
        raise ValueError("side_by_side needs at least one panel")
    h = panels[0].shape[0]
    if any(p.shape[0] != h for p in panels):
        raise ValueError(f"panels differ in height: {[p.shape[0] for p in panels]}")
    spacer = np.full((h, gap, 3), 255, dtype=np.uint8)
    parts = [panels[0]]
    for p in panels[1:]:
        parts += [spacer, p]
    return np.concatenate(parts, axis=1)


def write_png(path, image) -> str:
    """Write a uint8 RGB image [H,W,3] as PNG (scikit-image), creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    skimage.io.imsave(str(path), check_image(image), check_contrast=False)
    return str(path)
