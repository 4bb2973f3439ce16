"""Training-time augmentation of one image and its boxes (photometric, zoom out/in, dihedral flips).

All randomness comes from the numpy Generator passed in, so a sample is reproducible from its seed.
The eight flips/rotations of the dihedral group keep every class (all shapes are defined up to
rotation), zoom-out (expand) shrinks objects to train small ones, zoom-in (crop) enlarges them.
"""
import numpy as np
import torch
import torch.nn.functional as F


def _photometric(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """x float [3,H,W] in 0..255: random brightness, contrast, saturation, channel order."""
    if rng.random() < 0.5:
        x = x + float(rng.uniform(-32, 32))
    if rng.random() < 0.5:
        x = (x - x.mean()) * float(rng.uniform(0.6, 1.4)) + x.mean()
    if rng.random() < 0.5:
        grey = x.mean(dim=0, keepdim=True)
        x = grey + (x - grey) * float(rng.uniform(0.5, 1.5))
    if rng.random() < 0.5:
        x = x[torch.from_numpy(rng.permutation(3))]
    return x.clamp(0, 255)


def _expand(x, boxes, rng, max_ratio):
    """Place x [3,H,W] at a random spot of a canvas `ratio` times larger, filled with its mean colour."""
    _, h, w = x.shape
    ratio = float(rng.uniform(1, max_ratio))
    H, W = int(h * ratio), int(w * ratio)
    top, left = int(rng.integers(H - h + 1)), int(rng.integers(W - w + 1))
    canvas = x.mean(dim=(1, 2), keepdim=True).expand(3, H, W).clone()
    canvas[:, top:top + h, left:left + w] = x
    return canvas, boxes + np.array([left, top, left, top], dtype=np.float32)


def _crop(x, boxes, labels, rng, min_scale):
    """A random crop (each side ≥ min_scale of the image) keeping the boxes whose centre lies inside."""
    _, h, w = x.shape
    for _ in range(20):
        ch, cw = int(h * rng.uniform(min_scale, 1)), int(w * rng.uniform(min_scale, 1))
        if not 0.5 <= ch / cw <= 2:
            continue
        top, left = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = ((centres[:, 0] > left) & (centres[:, 0] < left + cw)
                  & (centres[:, 1] > top) & (centres[:, 1] < top + ch))
        if not inside.any():
            continue
        b = boxes[inside] - np.array([left, top, left, top], dtype=np.float32)
        b = np.clip(b, 0, [cw, ch, cw, ch]).astype(np.float32)
        return x[:, top:top + ch, left:left + cw], b, labels[inside]
    return x, boxes, labels


def augment(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
            size: int, expand: float = 1.5, p_expand: float = 0.3, p_crop: float = 0.3,
            min_crop: float = 0.5) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """uint8 [H,W,3], boxes float [K,4] (x1,y1,x2,y2 px), labels [K] -> (float [3,size,size] pixels
    0..255, boxes [K',4] relative to the output size, labels [K']); boxes under 2 px are dropped."""
    x = torch.from_numpy(image).permute(2, 0, 1).float()
    x = _photometric(x, rng)
    boxes = boxes.astype(np.float32)
    r = rng.random()
    if r < p_expand:
        x, boxes = _expand(x, boxes, rng, expand)
    elif r < p_expand + p_crop:
        x, boxes, labels = _crop(x, boxes, labels, rng, min_crop)
    _, h, w = x.shape
    boxes = boxes / np.array([w, h, w, h], dtype=np.float32)
    x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False)[0]
    if rng.random() < 0.5:                       # horizontal flip
        x, boxes = x.flip(2), np.stack([1 - boxes[:, 2], boxes[:, 1], 1 - boxes[:, 0], boxes[:, 3]], 1)
    if rng.random() < 0.5:                       # vertical flip
        x, boxes = x.flip(1), np.stack([boxes[:, 0], 1 - boxes[:, 3], boxes[:, 2], 1 - boxes[:, 1]], 1)
    if rng.random() < 0.5:                       # transpose (with the flips: all 8 dihedral maps)
        x, boxes = x.transpose(1, 2), boxes[:, [1, 0, 3, 2]]
    keep = ((boxes[:, 2:] - boxes[:, :2]) * size >= 2).all(axis=1)
    return x.contiguous(), boxes[keep].astype(np.float32), labels[keep]
