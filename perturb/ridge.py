"""Weighted ridge regression with an unpenalised intercept, in closed form (LIME's surrogate fit)."""
import torch

from ssd.checks import check_real


def check_alpha(alpha: float) -> float:
    """The ridge penalty α as a float: finite and ≥ 0 (ValueError otherwise)."""
    return check_real(alpha, "ridge alpha", lambda v: v >= 0, "≥ 0")


def weighted_ridge(z: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, alpha: float = 1.0):
    """Minimise  Σ_i w_i (y_i − b − z_i·c)² + α‖c‖²  over c and b, for every column of y at once.

    z [N,S] (states), y [N,T] (scores), weights [N] -> (coef [T,S], intercept [T]), float64.
    With weighted means z̄ = Σ w_i z_i / Σ w_i and ȳ likewise, the intercept drops out:
        c = (Z̃ᵀ W Z̃ + α I)⁻¹ Z̃ᵀ W ỹ,   b = ȳ − z̄·c,   Z̃ = Z − z̄, ỹ = y − ȳ
    (the problem scikit-learn's Ridge(alpha, fit_intercept=True) solves with sample_weight).
    """
    alpha = check_alpha(alpha)
    z, y, w = z.double(), y.double(), weights.double()
    # shifting y by its first row changes only the intercept, and makes a constant target exactly 0
    y0 = y[:1]
    y = y - y0
    total = w.sum()
    if float(total) <= 0:
        raise ValueError("sample weights must have a positive sum")
    z_mean, y_mean = (w @ z) / total, (w @ y) / total          # [S], [T]
    zc, yc = z - z_mean, y - y_mean
    gram = zc.T @ (w[:, None] * zc) + alpha * torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
    try:
        coef = torch.linalg.solve(gram, zc.T @ (w[:, None] * yc))  # [S,T]
    except torch.linalg.LinAlgError:
        raise ValueError("the weighted ridge system is singular (with alpha 0, a superpixel that never "
                         "changes or fewer weighted samples than superpixels): use alpha > 0") from None
    return coef.T, y0[0] + y_mean - z_mean @ coef
