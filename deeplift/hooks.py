"""Forward hooks that make plain autograd compute DeepLIFT multipliers.

Two forward passes share the hooks. The reference pass (no autograd) records, per module call,
the reference activations the rules need. The input pass replaces each hooked layer's output by
a tensor with the SAME value whose gradient is the DeepLIFT multiplier, built from plain ops:

    ReLU, Rescale (eq. 2.2):   y.detach() + m ⊙ (x − x.detach())          ∂/∂x = m = Δy/Δx
    ssd.L2Norm, Rescale:       same, element by element; where |Δx| < 1e-10 the layer's own
                               gradient (L(x̃) − L(x̃).detach(), x̃ carrying the graph only there),
                               0 at locations where all channels are 0
    Conv2d/Linear, γ > 0:      z.detach() + (z_γ − z_γ.detach()),  z_γ = layer(x; w + γw⁺, no bias)
                               so the backward uses (1+γ)w for w > 0 and the value stays z
    MaxPool2d:                 `maxpool="gradient"`: no hook, its own gradient at the actual
                               input (the original DeepLIFT default; breaks exact
                               summation-to-delta); `maxpool="rescale"`: maxpool.py (keeps it)
    AvgPool2d, Flatten, …:     no hook: linear, their own gradient is the linear rule

Plain ops keep the backward vmap-able, so many seeds can share one forward pass
(`torch.autograd.grad(..., is_grads_batched=True)`). Only the input row carries a graph: the
backward costs one row, not the two of a batch [input; reference].

RevealCancel (`rule="revealcancel"`, Shrikumar et al. 2017, sections 3.5.1 and 3.5.3) needs, for
the input x of each ReLU, the sum Δx⁺ of the positive terms w_i·Δa_i of the linear layer that
computes x (and Δx⁻ = Δx − Δx⁺). The layer's input difference Δa is split by its sign,
s⁺ = 1[Δa > 0] + ½·1[Δa = 0], s⁻ = 1 − s⁺ (the masks of the original DeepLIFT code), and

    p = layer(Δa ⊙ s⁺; w⁺) + layer(Δa ⊙ s⁻; w⁻)          value Δx⁺, linear in Δa
    ReLU output:  y.detach() + m⁻ ⊙ (x − x.detach()) + (m⁺ − m⁻) ⊙ (p − p.detach())

so an input a_i with Δa_i > 0 receives w⁺ᵀ(m⁺g) + w⁻ᵀ(m⁻g) and one with Δa_i < 0 receives
w⁻ᵀ(m⁺g) + w⁺ᵀ(m⁻g): each term w_i·Δa_i is multiplied by m⁺ or m⁻ according to its sign.
With γ, w⁺ becomes (1+γ)w⁺ in these gradients too. This needs each ReLU to read the output of a
Conv2d/Linear directly (true for VGG/SSD); otherwise a ValueError says so.
"""
from collections import defaultdict, deque

import torch
import torch.nn.functional as F
from torch import nn

from ssd.l2norm import L2Norm, l2_normalize

from . import rules
from .maxpool import rescaled_maxpool

LINEAR = (nn.Conv2d, nn.Linear)
# Modules whose own gradient is the right DeepLIFT multiplier (linear ones) or the documented
# choice (max-pooling); they get no hook.
OWN_GRADIENT = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity,
                nn.Dropout, nn.BatchNorm2d)
RULES = ("rescale", "revealcancel")
MAXPOOL_RULES = ("gradient", "rescale")


def linear_part(module: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The layer's linear map (no bias) with another weight: [N,Cin,H,W] -> [N,Cout,H',W'] or
    [N,Din] -> [N,Dout]."""
    if isinstance(module, nn.Linear):
        return F.linear(x, weight)
    return F.conv2d(x, weight, None, module.stride, module.padding, module.dilation, module.groups)


def check_model(model: nn.Module) -> None:
    """Raise a ValueError naming every leaf module DeepLIFT has no rule for."""
    bad = [f"{name or 'model'} ({type(m).__name__})" for name, m in model.named_modules()
           if not list(m.children()) and not isinstance(m, LINEAR + OWN_GRADIENT + (nn.ReLU, L2Norm))]
    if bad:
        raise ValueError("deeplift has no rule for these modules: " + ", ".join(bad)
                         + "; supported: Conv2d, Linear, ReLU, ssd.L2Norm, max/avg-pooling, "
                           "Flatten, Identity, Dropout, BatchNorm2d")
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros":
            raise ValueError(f"deeplift: {name} uses padding_mode={m.padding_mode!r}; only 'zeros' is supported")


class DeepLiftHooks:
    """Context manager holding the hooks of one attribution (see the module docstring).

    `run(model_input, reference)` does both passes and returns the input pass's output.
    Afterwards `leaf` is the tensor to differentiate (the model input, or under `flat` the
    first layer's output) and `leaf_delta` its difference from the reference.
    """

    def __init__(self, model: nn.Module, rule: str = "rescale", gamma: float = 0.0, flat: bool = False,
                 maxpool: str = "gradient"):
        if rule not in RULES:
            raise ValueError(f"unknown DeepLIFT rule {rule!r}: use one of {RULES}")
        if maxpool not in MAXPOOL_RULES:
            raise ValueError(f"unknown max-pooling rule {maxpool!r}: use one of {MAXPOOL_RULES}")
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        check_model(model)
        self.model, self.rule, self.gamma, self.flat, self.maxpool = model, rule, float(gamma), flat, maxpool
        self.handles, self.inplace = [], {}
        self.saved = defaultdict(deque)      # module -> reference activations, in call order
        self.producers = {}                  # id(linear output) -> (output, module, Δ of its input)
        self.first = None                    # the first Conv2d/Linear called (for `flat`)
        self.leaf = self.leaf_delta = None

    def __enter__(self):
        for m in self.model.modules():
            if isinstance(m, nn.ReLU):
                self.inplace[m], m.inplace = m.inplace, False  # its input must survive
                self.handles.append(m.register_forward_hook(self._relu))
            elif isinstance(m, L2Norm):
                self.handles.append(m.register_forward_hook(self._l2norm))
            elif isinstance(m, LINEAR):
                self.handles.append(m.register_forward_hook(self._linear))
            elif isinstance(m, nn.MaxPool2d) and self.maxpool == "rescale":
                self.handles.append(m.register_forward_hook(self._maxpool))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        for m, flag in self.inplace.items():
            m.inplace = flag
        self.saved.clear()
        self.producers.clear()

    def run(self, model_input: torch.Tensor, reference: torch.Tensor):
        self.phase, self.model_input = "reference", reference
        with torch.no_grad():
            self.model(reference)
        if self.flat and self.first is None:
            raise ValueError("first='flat' needs a Conv2d or Linear layer, the model has none")
        self.phase, self.model_input = "input", model_input.detach()
        if not self.flat:
            self.leaf = self.model_input.requires_grad_(True)
            self.leaf_delta = model_input.detach() - reference
        output = self.model(self.model_input)
        self.producers.clear()
        if any(self.saved.values()):
            raise RuntimeError("the model called its layers differently for the input and the reference")
        return output

    # --- hooks -------------------------------------------------------------------------------

    def _linear(self, module, inputs, output):
        a = inputs[0]
        if self.phase == "reference":
            if self.flat and self.first is None:
                if a is not self.model_input:
                    raise ValueError("first='flat' needs the first Conv2d/Linear to read the model input directly")
                self.first = module
                self.saved[module].append(output)
            elif self.rule == "revealcancel":
                self.saved[module].append(a)
            return None
        if self.flat and module is self.first and self.leaf is None:
            # ♭ rule: the graph starts at this layer's output; flat.py spreads its contributions.
            self.leaf = output.detach().requires_grad_(True)
            self.leaf_delta = output.detach() - self.saved[module].popleft()
            return self.leaf
        out = output
        if self.gamma > 0:
            z = linear_part(module, a, rules.positive_weights_scaled(module.weight, self.gamma))
            out = output.detach() + (z - z.detach())
        if self.rule == "revealcancel":
            self.producers[id(out)] = (out, module, a - self.saved[module].popleft())
        return out

    def _relu(self, module, inputs, output):
        x = inputs[0]
        if self.phase == "reference":
            self.saved[module].append(x)
            return None
        x0 = self.saved[module].popleft()
        if self.rule == "revealcancel" and x is not self.leaf:
            return self._revealcancel(x, x0, output)
        # A ReLU reading the graph's leaf uses Rescale under RevealCancel too: on the model input
        # (one term per unit) both rules agree, and after a ♭ first layer only the total
        # contribution g·Δy of each unit is used, which is the same for both.
        m = rules.relu_rescale(x.detach(), x0)
        return output.detach() + m * (x - x.detach())

    def _revealcancel(self, x, x0, output):
        if id(x) not in self.producers:
            raise ValueError("rule='revealcancel' needs every ReLU to read the output of a Conv2d/Linear directly")
        _, module, delta_a = self.producers.pop(id(x))
        s_pos = (delta_a > 0).to(x.dtype) + 0.5 * (delta_a == 0).to(x.dtype)
        w = module.weight
        pos_from_pos = linear_part(module, delta_a * s_pos.detach(), w.clamp(min=0))
        pos_from_neg = linear_part(module, delta_a * (1 - s_pos).detach(), w.clamp(max=0))
        m_pos, m_neg = rules.relu_revealcancel(x.detach(), x0, (pos_from_pos + pos_from_neg).detach())
        p = (1 + self.gamma) * pos_from_pos + pos_from_neg
        return output.detach() + m_neg * (x - x.detach()) + (m_pos - m_neg) * (p - p.detach())

    def _maxpool(self, module, inputs, output):
        if self.phase == "reference":
            self.saved[module].append(inputs[0])
            return None
        return rescaled_maxpool(module, inputs[0], self.saved[module].popleft(), output)

    def _l2norm(self, module, inputs, output):
        x = inputs[0]
        if self.phase == "reference":
            self.saved[module].append((x, output))
            return None
        x0, y0 = self.saved[module].popleft()
        dx = x.detach() - x0
        small = dx.abs() < rules.EPS
        m = rules.rescale(dx, output.detach() - y0, torch.zeros_like(dx))
        # The fallback is the layer's own gradient, except where all channels are 0: there it is
        # α/eps ≈ 1e10·α, an artefact of eps that would only amplify rounding noise; use 0.
        alive = torch.linalg.vector_norm(x.detach(), dim=1, keepdim=True) > 0
        x_small = torch.where(small & alive, x, x.detach())   # graph only where the fallback applies
        y_small = l2_normalize(x_small, module.weight, module.eps)   # the module itself would re-enter this hook
        return output.detach() + m * (x - x.detach()) + (y_small - y_small.detach())

