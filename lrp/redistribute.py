"""The gradient trick that turns autograd's backward pass into an LRP backward pass.

Convention used throughout `lrp`: the gradient that reaches a tensor `a` is its relevance *per
activation*, c = R / a, so that the relevance itself is R = a ⊙ c. ReLU then passes relevance
unchanged (R = a·c holds on both sides of it) and max-pooling hands it to the winner, both by their
own gradient.

A rule replaces the output z of a layer by `redistribute(z, z_rule, ε)`: the same values (up to
rounding), but a gradient that flows through the rule's modified forward pass z_rule instead of z. With c_k = R_k / z_k
arriving at the output, the input receives

    c_j = Σ_k ∂z_rule_k/∂a_j · (z_k / (z_rule_k + ε·sign(z_rule_k))) · c_k
        = Σ_k ∂z_rule_k/∂a_j · R_k / (z_rule_k + ε·sign(z_rule_k)),

so that R_j = a_j c_j = Σ_k (a_j ∂z_rule_k/∂a_j) / (z_rule_k ± ε) · R_k: the generic LRP rule (eq. 2.1)
with contributions z_jk = a_j ∂z_rule_k/∂a_j (eqs. A.1–A.3 for the respective z_rule).
Only ops with a vmap rule are used (plain ops, and the convolutions of `lrp.kernels`), so the backward pass
can be batched over many output seeds with `torch.autograd.grad(..., is_grads_batched=True)`.
"""
import torch


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, and 0 where the denominator is 0 (never NaN or inf from 0/0, x/0)."""
    return (numerator / denominator).masked_fill_(denominator == 0, 0)


def _shift(denominator: torch.Tensor, epsilon: float) -> torch.Tensor:
    """ε·sign(denominator) with sign(0) = +1, in the denominator's dtype, outside the graph."""
    eps = denominator.new_full((), epsilon)
    with torch.no_grad():
        return torch.where(denominator >= 0, eps, -eps)


def redistribute(z: torch.Tensor, z_rule: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """A tensor equal to `z` whose gradient routes relevance through `z_rule` (module docstring).

    z: the layer's output, any shape; z_rule: the rule's modified output of the same shape, a
    differentiable function of the layer input; epsilon: stabiliser of the denominator z_rule.
    The result is d · (z/d) with d = z_rule ± ε: z up to rounding, and exactly z where d = 0.
    """
    if epsilon > 0:  # |d| ≥ ε: no zero denominators
        shift = _shift(z_rule, epsilon)
        d = z_rule + shift                                  # z_rule + ε·sign(z_rule), differentiable
        with torch.no_grad():
            scale = torch.div(z, d, out=shift)              # reuses the buffer: these tensors are large
        return d * scale
    d = z_rule
    with torch.no_grad():
        zero = d == 0
        scale = (z / d).masked_fill_(zero, 0)
    out = d * scale
    if bool(zero.any()):   # d·scale = 0 there: restore the value of z (its gradient stays 0)
        out = out + torch.where(zero, z.detach(), 0)
    return out
