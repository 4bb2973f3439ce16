"""LRP rules (paper appendix A), one small class each.

Every rule is called by a forward hook as `rule(module, a, z, unit)` and returns a tensor equal to
the layer output z whose gradient carries the rule (see `redistribute`). Most rules only describe
their modified forward pass z_rule in `forward(module, a, z)`: the contributions of eq. 2.1 are then
z_jk = a_j ∂z_rule_k/∂a_j, and the bias terms (index 0) are what z_rule adds on top of them.
"""
import torch
from torch import nn

from ssd.checks import check_hyperparameter

from .engine import affine, flat, gamma_weights, parameters
from .redistribute import redistribute


def _nonnegative(a: torch.Tensor) -> bool:
    """Whether the layer input is ≥ 0 everywhere (after a ReLU or a max-pool of one).

    Decided from the data (one reduction per layer), so that any network gets the single modified
    forward of the non-negative case wherever it applies."""
    return bool(a.amin() >= 0)           # amin: min() copies a channels-last tensor first


class Rule:
    """A rule R_j = Σ_k z_jk / (Σ_{0,i} z_ik + ε·sign) · R_k (eq. 2.1) given by its modified forward.

    Subclasses implement `forward`; rules that do not scale with the activation (♭) override
    `__call__` instead. `epsilon` stabilises the denominators (its sign follows theirs).
    """

    epsilon: float = 1e-6

    def forward(self, module: nn.Module, a: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """z_rule, shaped like z, differentiable in `a`; a [N,...] is the layer input, z its output."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(module, a, z)")

    def __call__(self, module: nn.Module, a: torch.Tensor, z: torch.Tensor,
                 unit: torch.Tensor | None = None) -> torch.Tensor:
        """The hook's return value. `unit` is given only to the layer that sees the model input: the
        all-ones tensor u with a = x·u whose gradient is the input relevance (used by ♭)."""
        return redistribute(z, self.forward(module, a, z), self.epsilon)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Epsilon(Rule):
    """ε-rule (eq. A.1): R_j = Σ_k a_j w_jk / (Σ_{0,i} a_i w_ik + ε·sign(z_k)) · R_k.

    z_rule is the layer's own output z (no extra forward pass)."""

    def __init__(self, epsilon: float = 1e-6):
        self.epsilon = check_hyperparameter("epsilon", epsilon)

    def forward(self, module, a, z):
        parameters(module)  # type check: Conv2d or Linear
        return z


class Gamma(Rule):
    """γ-rule (eq. A.2): R_j = Σ_k a_j (w⁻_jk + (1+γ) w⁺_jk) / Σ_{0,i} a_i (w⁻_ik + (1+γ) w⁺_ik) · R_k.

    The bias enters as b + γb⁺. Where the input is non-negative this is one modified forward with
    w + γw⁺. For inputs of both signs the positive *contributions* are amplified,
    z_jk = a_j w_jk + γ (a_j w_jk)⁺, which equals eq. A.2 wherever a_j ≥ 0 (two modified forwards).
    As in eq. A.2 itself, an output z_k < 0 that keeps its relevance (a negative logit: no ReLU
    follows) has a denominator z_k + γ·(positive part) that may approach 0 or change sign; ε keeps
    it finite, but such heatmaps are unstable.
    """

    def __init__(self, gamma: float = 0.1, epsilon: float = 1e-6):
        self.gamma = check_hyperparameter("gamma", gamma)
        self.epsilon = check_hyperparameter("epsilon", epsilon)

    def forward(self, module, a, z):
        w, b = parameters(module)
        g = self.gamma
        bias = None if b is None else gamma_weights(b, g)
        if _nonnegative(a):
            return affine(module, a, gamma_weights(w, g), bias)
        return (affine(module, a.clamp(min=0), gamma_weights(w, g), bias)
                + affine(module, a.clamp(max=0), gamma_weights(w, g, "negative")))


class ZPlus(Rule):
    """z⁺-rule (eq. A.3): R_j = Σ_k (a_j w_jk)⁺ / Σ_{0,i} (a_i w_ik)⁺ · R_k, the bias entering as b⁺.

    Non-negative input: one modified forward with w⁺. Otherwise (a w)⁺ = a⁺w⁺ + a⁻w⁻ (two)."""

    def __init__(self, epsilon: float = 1e-6):
        self.epsilon = check_hyperparameter("epsilon", epsilon)

    def forward(self, module, a, z):
        w, b = parameters(module)
        bias = None if b is None else b.clamp(min=0)
        if _nonnegative(a):
            return affine(module, a, w.clamp(min=0), bias)
        return (affine(module, a.clamp(min=0), w.clamp(min=0), bias)
                + affine(module, a.clamp(max=0), w.clamp(max=0)))


class Flat(Rule):
    """♭-rule [Bac+16]: R_j = Σ_k 1 / (Σ_i 1) · R_k, every input i in the receptive field of k alike.

    Spreads each output's relevance uniformly over its field (zero padding excluded); the bias
    absorbs nothing. It does not scale with a_j, so it applies only to the layer that sees the
    model input, where it routes relevance through the all-ones tensor `unit`."""

    epsilon = 0.0

    def __repr__(self) -> str:
        return "Flat()"

    def __call__(self, module, a, z, unit=None):
        if unit is None:
            raise ValueError("the Flat rule applies only to a layer that sees the model input "
                             f"(it got the output of another layer as input of {type(module).__name__})")
        return redistribute(z, flat(module, unit))


class Pass(Rule):
    """Relevance passes unchanged: R_in = R_out elementwise (for the ℓ2-Norm, eq. 3.2).

    For any module whose output has its input's shape; z_rule = a, so c_in = (z/a)·c_out and
    R_in = a·c_in = z·c_out = R_out (0 where a = 0, which also makes z = 0 for the ℓ2-Norm)."""

    epsilon = 0.0

    def __repr__(self) -> str:
        return "Pass()"

    def __call__(self, module, a, z, unit=None):
        if a.shape != z.shape:
            raise ValueError(f"Pass needs output shaped like the input, {type(module).__name__} maps "
                             f"{tuple(a.shape)} to {tuple(z.shape)}")
        return redistribute(z, a)
