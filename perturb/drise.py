"""D-RISE (Petsiuk et al. 2021, after RISE, Petsiuk et al. 2018): saliency as the average of random
masks, each weighted by the score of the input it masks, for all targets from the same masks.

Masks (RISE): a binary grid of g × g cells, each kept with probability p, is upsampled bilinearly to
(g + 1)·c pixels per side (cell size c = ⌈H/g⌉, ⌈W/g⌉) and cropped to H × W at a random shift in
[0, c): smooth masks m ∈ [0, 1] whose cells do not sit on a fixed grid. The masked input keeps the
image where m = 1 and shows the baseline where m = 0:

    x̃_i = x ⊙ m_i + b ⊙ (1 − m_i)                          (b = 0: the dataset's grey in SSD input)

and the saliency of target t is the score-weighted average of the masks,

    S_t = 1/N Σ_i w_it · m_i,       w_it = f_t(x̃_i)

where f is any score function [B,C,H,W] -> [B,T]: for D-RISE the matched similarity of the masked
input's detections to the original detection (`perturb.matched_score`), for RISE a class score. A
pixel whose masking lowers the scores gets less of the masks' weight than one that does not.
Masks are drawn on the CPU with one generator (the same masks on every device and for every batch
size) and upsampled, applied and summed on x's device, `batch_size` at a time.
"""
import math

import torch
import torch.nn.functional as F

from ssd.checks import check_integer, check_real

from .masking import PassProgress, check_baseline, check_image, default_batch_size, scored


def check_settings(n_masks: int, grid: int, p: float, seed: int) -> None:
    """ValueError unless n_masks and grid are integers ≥ 1, p a number in (0, 1] and seed an integer."""
    check_integer(n_masks, "D-RISE n_masks", 1)
    check_integer(grid, "D-RISE grid", 1)
    check_real(p, "D-RISE p", lambda v: 0 < v <= 1, "in (0, 1]")
    check_integer(seed, "seed", None)


def draw_masks(n_masks: int, grid: int, p: float, shape, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The random part of n masks for an image of `shape` (H, W), drawn with a CPU generator: the
    kept cells bool [N,g,g] (Bernoulli(p)) and the shifts int64 [N,2] (row, column) in [0, c)."""
    generator = torch.Generator().manual_seed(seed)
    cells = torch.rand(n_masks, grid, grid, generator=generator) < p
    cell = [math.ceil(size / grid) for size in shape]
    shifts = torch.stack([torch.randint(0, c, (n_masks,), generator=generator) for c in cell], dim=1)
    return cells, shifts


def masks_of(cells: torch.Tensor, shifts: torch.Tensor, shape, device=None, dtype=torch.float32) -> torch.Tensor:
    """Smooth masks [N,H,W] in [0, 1] from their cells bool [N,g,g] and shifts [N,2] (module docstring):
    bilinear upsampling to (g + 1)·c per side, then the H × W crop at each mask's shift."""
    H, W = shape
    grid = cells.shape[-1]
    cell = [math.ceil(size / grid) for size in shape]
    size = ((grid + 1) * cell[0], (grid + 1) * cell[1])
    big = F.interpolate(cells.to(device=device, dtype=dtype)[:, None], size=size, mode="bilinear",
                        align_corners=False)[:, 0]                                       # [N,(g+1)c,(g+1)c]
    return torch.stack([m[r:r + H, c:c + W] for m, (r, c) in zip(big, shifts.tolist())])


def drise(f, x: torch.Tensor, n_masks: int = 1000, grid: int = 16, p: float = 0.5, seed: int = 0,
          batch_size: int | None = None, baseline=0.0) -> torch.Tensor:
    """D-RISE saliency of every target: S [T,H,W] = 1/N Σ_i f(x̃_i) m_i (module docstring), in x's dtype
    and on its device.

    f: score function [B,C,H,W] -> [B,T]; x [1,C,H,W] or [C,H,W]; N = n_masks masks of a g × g grid
    (g = `grid`) with cells kept with probability p; baseline: a number or a tensor broadcastable to
    [C,H,W] (0 = grey in SSD input). The settings, x and the baseline are checked before any pass, and
    so is every batch of scores (`perturb.masking.scored`: finite, [B,T], counted by count_passes).
    """
    check_settings(n_masks, grid, p, seed)
    x = check_image(x)
    baseline = check_baseline(baseline, x)
    batch_size = default_batch_size(x.device) if batch_size is None else check_integer(batch_size, "batch_size")
    shape = tuple(x.shape[-2:])
    cells, shifts = draw_masks(n_masks, grid, p, shape, seed)
    total, progress = None, PassProgress(n_masks)
    with torch.no_grad():
        for start in range(0, n_masks, batch_size):
            masks = masks_of(cells[start:start + batch_size], shifts[start:start + batch_size], shape, x.device,
                             x.dtype)                                                    # [B,H,W]
            weights = scored(f, torch.lerp(baseline.expand_as(x), x, masks[:, None]), start).to(x.dtype)   # [B,T]
            part = torch.einsum("bt,bhw->thw", weights, masks)
            total = part if total is None else total + part
            progress.done(start + len(masks))
    return total / n_masks
