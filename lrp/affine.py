"""A linear layer's own map with replaced parameters: the building block of modified forward passes."""
import torch
import torch.nn.functional as F
from torch import nn


def affine(module: nn.Module, a: torch.Tensor, weight: torch.Tensor,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """`module`'s map (stride, padding, dilation, groups of a Conv2d; or a Linear) applied to `a` with
    `weight` and `bias` in place of its own parameters.

    Conv2d: a [N,Cin,H,W], weight [Cout,Cin/groups,kh,kw] -> [N,Cout,H',W'];
    Linear: a [N,...,in], weight [out,in] -> [N,...,out].
    """
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"LRP rules support zero padding only, got padding_mode={module.padding_mode!r}")
        return F.conv2d(a, weight, bias, module.stride, module.padding, module.dilation, module.groups)
    if isinstance(module, nn.Linear):
        return F.linear(a, weight, bias)
    raise ValueError(f"this LRP rule applies to Conv2d and Linear layers, not to {type(module).__name__}")


def parameters(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The module's weight and bias, detached (rules never build graphs through parameters)."""
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        raise ValueError(f"this LRP rule applies to Conv2d and Linear layers, not to {type(module).__name__}")
    bias = module.bias.detach() if module.bias is not None else None
    return module.weight.detach(), bias
