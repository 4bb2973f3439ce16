"""The ♭ (flat) rule for the first layer (Bach et al. 2016; paper sections 3.2.1 and 3.2.2).

The contribution C_j = m_j·Δz_j of each output z_j of the first layer is spread evenly over the
inputs in its receptive field (all input channels, positions inside the image; zero padding
does not count):

    C_i = Σ_j C_j / n_j,    n_j = number of inputs i that z_j reads

Σ_i C_i = Σ_j C_j, so the ♭ rule keeps summation-to-delta. The result no longer depends on the
first layer's weights or on the input difference Δx_i: it shows where the first layer's
contributions come from, softened over the field (paper: "features become more visible").
"""
import torch
import torch.nn.functional as F
from torch import nn


def spread_flat(module: nn.Module, contributions: torch.Tensor, input_shape) -> torch.Tensor:
    """Spread output contributions [B,Cout,H',W'] (or [B,Dout]) of `module` flat over its input,
    returning [B,Cin,H,W] (or [B,Din]); `input_shape` is the input's shape with batch B."""
    if isinstance(module, nn.Linear):
        share = contributions.sum(dim=-1, keepdim=True) / module.in_features
        return share.expand(*input_shape)
    if module.groups != 1:
        raise ValueError("first='flat' supports only Conv2d with groups=1 as the first layer")
    c_in, kh, kw = module.weight.shape[1:]
    ones = torch.ones((1, c_in, kh, kw), device=contributions.device, dtype=contributions.dtype)
    image = torch.ones((1, c_in, *input_shape[2:]), device=contributions.device, dtype=contributions.dtype)
    n = F.conv2d(image, ones, None, module.stride, module.padding, module.dilation)   # [1,1,H',W']
    share = contributions.sum(dim=1, keepdim=True) / n.clamp(min=1)   # [B,1,H',W'] (n = 0: no input, C = 0)
    return torch.nn.grad.conv2d_input(tuple(input_shape), ones, share, module.stride, module.padding,
                                      module.dilation)
