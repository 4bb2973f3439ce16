"""DeepLIFT multipliers of the non-linear layers (Shrikumar et al. 2017; paper section 2.2).

A multiplier m = C/Δa turns a difference from the reference into a contribution: Δt = Σ m·Δa.
Every function here takes detached values and returns detached multipliers, shaped like the
activation ([N,C,H,W] or [N,D]); inputs of batch 1 broadcast against batch N (one reference
for several inputs). The hooks (hooks.py) make autograd carry these multipliers backwards.

Where a difference is below EPS the quotient is meaningless (0/0), and the ordinary gradient is
used instead, as in the original DeepLIFT code; no NaN or inf can come out.
"""
import torch

EPS = 1e-10


def rescale(delta_in: torch.Tensor, delta_out: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Rescale rule (eq. 2.2): m = Δy/Δx element-wise; `gradient` where |Δx| < EPS.

    Shapes: all broadcastable to [N,...]; returns [N,...].
    """
    small = delta_in.abs() < EPS
    return torch.where(small, gradient, delta_out / torch.where(small, torch.ones_like(delta_in), delta_in))


def relu_rescale(x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Rescale multiplier of a ReLU with input x [N,...] and reference input x0 [1 or N,...]:
    (relu(x) - relu(x0)) / (x - x0), falling back to the gradient 1[x > 0]. Lies in [0, 1]."""
    return rescale(x - x0, x.clamp(min=0) - x0.clamp(min=0), (x > 0).to(x.dtype))


def relu_revealcancel(x: torch.Tensor, x0: torch.Tensor, delta_pos: torch.Tensor):
    """RevealCancel multipliers of a ReLU f (Shrikumar et al. 2017, section 3.5.3).

    Δx = x − x0 is split into the sum of the positive terms Δx⁺ = `delta_pos` and of the negative
    terms Δx⁻ = Δx − Δx⁺ of the linear layer that computes x (see hooks.py). Then

        Δy⁺ = ½[f(x0 + Δx⁺) − f(x0)] + ½[f(x0 + Δx⁻ + Δx⁺) − f(x0 + Δx⁻)]
        Δy⁻ = ½[f(x0 + Δx⁻) − f(x0)] + ½[f(x0 + Δx⁺ + Δx⁻) − f(x0 + Δx⁺)]
        m⁺ = Δy⁺/Δx⁺,  m⁻ = Δy⁻/Δx⁻      (gradient 1[x > 0] where |Δx±| < EPS)

    Δy⁺ + Δy⁻ = f(x) − f(x0), so m⁺Δx⁺ + m⁻Δx⁻ = Δy (summation-to-delta holds).
    Shapes: x, delta_pos [N,...], x0 [1 or N,...]; returns (m⁺, m⁻), each [N,...].
    """
    f = torch.relu
    delta_neg = (x - x0) - delta_pos
    y0, y = f(x0), f(x)
    y_pos_only, y_neg_only = f(x0 + delta_pos), f(x0 + delta_neg)
    dy_pos = 0.5 * (y_pos_only - y0) + 0.5 * (y - y_neg_only)
    dy_neg = 0.5 * (y_neg_only - y0) + 0.5 * (y - y_pos_only)
    gradient = (x > 0).to(x.dtype)
    return rescale(delta_pos, dy_pos, gradient), rescale(delta_neg, dy_neg, gradient)


def positive_weights_scaled(weight: torch.Tensor, gamma: float) -> torch.Tensor:
    """The γ modification of the linear rule (paper section 3.2.2): w -> (1+γ)w where w > 0,
    i.e. w + γ·w⁺. Used in the backward pass only; the forward values never change."""
    return weight + gamma * weight.clamp(min=0)
