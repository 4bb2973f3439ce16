"""Centre-size box coding relative to priors (SSD, with variances)."""
import math

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
