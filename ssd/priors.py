"""Prior (default) boxes of SSD, in the order the heads emit them."""
import functools
import math

import torch

from .config import SSDConfig


@functools.lru_cache(maxsize=16)
def _priors_cpu(config: SSDConfig) -> torch.Tensor:
    size = config.size
    out = []
    for k, (f, step) in enumerate(zip(config.feature_maps, config.steps)):
        lo, hi = config.min_sizes[k], config.max_sizes[k]
        if config.truncate:
            lo, hi = float(int(lo)), float(int(hi))
        # per location: (min, min), (√(min·max), √(min·max)), then (min·√r, min/√r), (min/√r, min·√r)
        wh = [(lo, lo), (math.sqrt(lo * hi),) * 2]
        for r in config.aspect_ratios[k]:
            wh += [(lo * math.sqrt(r), lo / math.sqrt(r)), (lo / math.sqrt(r), lo * math.sqrt(r))]
        wh = torch.tensor(wh, dtype=torch.float64) / size                      # [A, 2]
        centres = (torch.arange(f, dtype=torch.float64) + 0.5) * step / size  # [f]
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")               # rows outer
        xy = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2).expand(-1, len(wh), 2)
        out.append(torch.cat([xy, wh.expand(f * f, -1, -1)], dim=-1).reshape(-1, 4))
    priors = torch.cat(out).float()
    if config.clip:
        priors[:, 2:] = priors[:, 2:].clamp(0, 1)
    return priors


def priors(config: SSDConfig, device=None) -> torch.Tensor:
    """Prior boxes [P,4] as (cx, cy, w, h) relative to the input size.

    Locations run row-major within each source layer (centre ((j+0.5)·step, (i+0.5)·step)), and each
    location holds `config.boxes_per_location[k]` boxes in the Caffe/lufficc order (see
    ssd/ssd512.md). `clip` clamps widths and heights to [0, 1] (as torchvision; lufficc clamps all four, which
    is the same for SSD512, whose centres lie inside); `truncate` rounds min/max sizes down to integers.
    """
    return _priors_cpu(config).to(device)


def prior_location(config: SSDConfig, index: int) -> tuple[int, int, int, int]:
    """(source k, row i, column j, box a) of the prior with the given index."""
    start = 0
    for k, (f, a) in enumerate(zip(config.feature_maps, config.boxes_per_location)):
        n = f * f * a
        if index < start + n:
            cell, box = divmod(index - start, a)
            return k, cell // f, cell % f, box
        start += n
    raise ValueError(f"prior index {index} out of range [0, {start})")
