"""Centre-size box coding relative to priors (SSD, with variances), and the tight box of a mask."""
import math

import numpy as np
import torch

_MAX_LOG_SCALE = math.log(1000.0 / 16)  # clamp of exp(dw) as in torchvision, avoids inf


def encode(boxes: torch.Tensor, priors: torch.Tensor, variances=(0.1, 0.2)) -> torch.Tensor:
    """boxes [...,P,4] (x1,y1,x2,y2, relative) -> deltas [...,P,4] w.r.t. priors [P,4] (cx,cy,w,h):

        d_xy = (c_box - c_prior) / (v0 · wh_prior),   d_wh = log(wh_box / wh_prior) / v1
    """
    wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=1e-8)
    c = (boxes[..., :2] + boxes[..., 2:]) / 2
    d_xy = (c - priors[..., :2]) / (variances[0] * priors[..., 2:])
    d_wh = torch.log(wh / priors[..., 2:]) / variances[1]
    return torch.cat([d_xy, d_wh], dim=-1)


def decode(deltas: torch.Tensor, priors: torch.Tensor, variances=(0.1, 0.2)) -> torch.Tensor:
    """Inverse of `encode`: deltas [...,P,4] -> boxes [...,P,4] (x1,y1,x2,y2, relative)."""
    c = priors[..., :2] + deltas[..., :2] * variances[0] * priors[..., 2:]
    wh = priors[..., 2:] * torch.exp((deltas[..., 2:] * variances[1]).clamp(max=_MAX_LOG_SCALE))
    return torch.cat([c - wh / 2, c + wh / 2], dim=-1)


def mask_box(mask) -> tuple[int, int, int, int]:
    """The tight box (x1, y1, x2, y2) of a bool mask [H,W] (numpy or torch) in pixel edges, as COCO
    boxes are: x2 = last column + 1, y2 = last row + 1. ValueError for an empty mask."""
    m = mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        raise ValueError("the mask is empty: it has no bounding box")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
