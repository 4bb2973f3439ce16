"""The engine shared by `lrp` and `deeplift`: how a rule becomes a gradient of plain autograd, and
the building blocks rules are written with.

Both methods explain x [N,...] by one forward pass with hooks and a backward pass of plain autograd:

    unit = 1 (leaf, shaped like x),   model input = x + (unit − 1) ⊙ Δ   (value x, ∂/∂unit = Δ)

so that the gradient reaching `unit` is Δ ⊙ (gradient at the input): LRP takes Δ = x (relevance
R = x ⊙ c, c the relevance per activation), DeepLIFT Δ = x − reference (contribution C = Δx ⊙ m,
m the multiplier). A rule replaces a layer's output z by a tensor of the same value whose gradient
is the rule's: `stand_in(z, path)` = z.detach() + (path − path.detach()) has value z and the gradient
of `path` (LRP's `redistribute` is the multiplicative form, d·(z/d)). The paths are a layer's map
with other parameters (`affine`, e.g. with `gamma_weights`); a rule that changes only the gradient
gives z that map's gradient without running it forward (`route`); a rule that does not scale with
the input (♭) routes its gradient through `unit` directly (`flat`).

The engine's other parts, one concept each: `lrp.hooks` (the hooks of one call, the leaf and the
hooked forward pass), `lrp.backward_pass` (the seeded backward of K seeds) and `lrp.kernels` (the
convolutions of `affine` and `route`, whose backward is conv2d's input gradient, computed faster).
"""
import torch
import torch.nn.functional as F
from torch import nn

from .kernels import Conv, Route


def stand_in(value: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
    """A tensor with the value of `value` and the gradient of `path` (same shape, any):
    value.detach() + (path − path.detach())."""
    return value.detach() + (path - path.detach())


def _geometry(module: nn.Module):
    """(stride, padding, dilation, groups) of a zero-padded Conv2d; None for a Linear."""
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"these rules support zero padding only, got padding_mode={module.padding_mode!r}")
        return module.stride, module.padding, module.dilation, module.groups
    if isinstance(module, nn.Linear):
        return None
    raise ValueError(f"this rule applies to Conv2d and Linear layers, not to {type(module).__name__}")


def parameters(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The module's weight and bias, detached (rules never build graphs through parameters)."""
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        raise ValueError(f"this rule applies to Conv2d and Linear layers, not to {type(module).__name__}")
    bias = module.bias.detach() if module.bias is not None else None
    return module.weight.detach(), bias


def affine(module: nn.Module, a: torch.Tensor, weight: torch.Tensor,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """`module`'s map (stride, padding, dilation, groups of a Conv2d; or a Linear) applied to `a` with
    `weight` and `bias` in place of its own parameters.

    Conv2d: a [N,Cin,H,W], weight [Cout,Cin/groups,kh,kw] -> [N,Cout,H',W'];
    Linear: a [N,...,in], weight [out,in] -> [N,...,out].
    """
    geometry = _geometry(module)
    if geometry is None:
        return F.linear(a, weight, bias)
    if weight.requires_grad or (bias is not None and bias.requires_grad):   # a graph through parameters
        return F.conv2d(a, weight, bias, *geometry)
    return Conv.apply(a, weight, bias, geometry)


def route(module: nn.Module, z: torch.Tensor, a: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A tensor with the value of the layer output `z` whose gradient with respect to the layer
    input `a` is that of `affine(module, a, weight)`, without running that map forward: equal to
    `stand_in(z, affine(module, a, weight))` at the cost of the backward alone, for a rule that
    changes only the gradient of a linear layer (DeepLIFT's γ rule, w + γw⁺)."""
    return Route.apply(z, a, weight, _geometry(module))


def gamma_weights(weight: torch.Tensor, gamma: float, part: str = "positive") -> torch.Tensor:
    """The γ-scaled weights w + γw⁺ (part="positive"; w + γw⁻ for part="negative"), shaped like w."""
    if part == "positive":
        return weight + gamma * weight.clamp(min=0)
    return weight + gamma * weight.clamp(max=0)


def flat(module: nn.Module, unit: torch.Tensor) -> torch.Tensor:
    """The ♭ rule's modified forward: n_k = Σ_i 1 over the inputs i in output k's receptive field
    (zero padding excluded), as a differentiable function of the all-ones `unit` [N,...] -> shaped
    like the layer output. A gradient g_k arriving at n_k reaches input i as Σ_k g_k over the
    outputs k that read i, so seeding it with R_k / n_k spreads R_k evenly over its field."""
    w, _ = parameters(module)
    return affine(module, unit, torch.ones_like(w))
