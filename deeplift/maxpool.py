"""A max-pooling rule that keeps summation-to-delta (`maxpool="rescale"`; the default
`maxpool="gradient"` uses the layer's own gradient at the actual input, as the original DeepLIFT).

For output j with value y_j (input) and y0_j (reference), let top_j = max(y_j, y0_j) and split
Δy_j = (top_j − y0_j) + (y_j − top_j): the first part (≥ 0) is credited to the input's maximum of
window j, the second (≤ 0) to the reference's maximum (the rule Captum uses, which the paper ran).
For input element i the contribution and multiplier are

    C_i = Σ_{j: argmax x = i} g_j (top_j − y0_j) + Σ_{j: argmax x0 = i} g_j (y_j − top_j),   m_i = C_i / Δx_i

(the gradient where |Δx_i| < EPS; no mass is lost there, since such an i only carries parts
that are 0). So Σ_i m_i Δx_i = Σ_j g_j Δy_j. Built from gathers at the two argmax maps, whose
gradients are the scatters above: plain ops, vmap-able.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .rules import EPS


def rescaled_maxpool(module: nn.MaxPool2d, x: torch.Tensor, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Output with the value y = maxpool(x) [N,C,H',W'] and the gradient m above w.r.t. x
    [N,C,H,W]; x0 [1 or N,C,H,W] is the reference input."""
    pool = dict(kernel_size=module.kernel_size, stride=module.stride, padding=module.padding,
                dilation=module.dilation, ceil_mode=module.ceil_mode, return_indices=True)
    with torch.no_grad():
        _, at_x = F.max_pool2d(x.detach(), **pool)
        y0, at_x0 = F.max_pool2d(x0, **pool)
    at_x0 = at_x0.expand_as(at_x)
    dx = x.detach() - x0
    small = dx.abs() < EPS
    inverse = torch.where(small, torch.zeros_like(dx), 1 / torch.where(small, torch.ones_like(dx), dx))
    top = torch.maximum(y.detach(), y0)

    def gather(t, at):   # t [N,C,H,W] at flat indices [N,C,H',W'] -> [N,C,H',W']
        return t.flatten(2).gather(2, at.flatten(2)).view_as(at)

    scaled = x * inverse
    routed = (top - y0) * gather(scaled, at_x) + (y.detach() - top) * gather(scaled, at_x0) \
        + gather(x * small.to(x.dtype), at_x)
    return y.detach() + (routed - routed.detach())
