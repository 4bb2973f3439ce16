"""LIME over superpixels (paper sections 2.3 and 3.2.3), for all targets from the same samples."""
import torch

from ssd.checks import check_integer, check_real

from .masking import check_baseline, check_inputs, evaluate
from .ridge import check_alpha, weighted_ridge


def _segment_sums(values: torch.Tensor, segments: torch.Tensor, count: int) -> torch.Tensor:
    """Σ over the pixels of each superpixel: values [H,W] -> [S] (float64)."""
    out = torch.zeros(count, dtype=torch.float64, device=values.device)
    return out.index_add_(0, segments.flatten(), values.flatten().double())


def cosine_distance(x: torch.Tensor, segments: torch.Tensor, states: torch.Tensor, baseline=0.0) -> torch.Tensor:
    """d(x, z) = 1 − x·z / (‖x‖‖z‖) between the flattened input and each perturbed input (section 3.2.3).

    x [1,C,H,W], segments int64 [H,W] (labels 0..S-1), states bool [N,S] -> d [N] (float64).
    Computed from per-superpixel sums, without building the perturbed inputs:
        x·z = Σ_s z_s Σ_{p∈s} x_p² + (1−z_s) Σ_{p∈s} x_p b_p,   ‖z‖² = Σ_s z_s Σ x_p² + (1−z_s) Σ b_p².
    A perturbed input of norm 0 (everything at a zero baseline) has distance 1 by convention.
    """
    count = states.shape[1]
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x[0])
    xx = _segment_sums((x[0] * x[0]).sum(0), segments, count)
    xb = _segment_sums((x[0] * base).sum(0), segments, count)
    bb = _segment_sums((base * base).sum(0), segments, count)
    z = states.double()
    dot = z @ xx + (1 - z) @ xb
    norm2 = z @ xx + (1 - z) @ bb
    denominator = (xx.sum() * norm2).sqrt()
    cosine = torch.where(denominator > 0, dot / denominator.clamp_min(1e-300), torch.zeros_like(dot))
    return 1 - cosine


def kernel_weights(distance: torch.Tensor, kernel_width: float = 1.0) -> torch.Tensor:
    """LIME's squared exponential kernel w = exp(−(d/k)²) (section 3.2.3): [N] -> [N]. d/k is formed
    first: k² underflows to 0 for k < 1e-154, and d²/k² would be 0/0 = NaN at d = 0."""
    kernel_width = check_real(kernel_width, "kernel_width", lambda v: v > 0, "> 0")
    return torch.exp(-(distance / kernel_width) ** 2)


def check_weights(weights: torch.Tensor, distance: torch.Tensor, kernel_width: float) -> torch.Tensor:
    """`weights` [N] if the effective number of samples n_eff = (Σw)²/Σw² is at least 1.5, i.e. the
    perturbed samples hold some of the weight (n_eff = 1: the unperturbed input holds all of it; 2:
    two samples of equal weight); otherwise ValueError: a narrow kernel gives the perturbed samples
    weight 0 (exp underflows) or next to it, and the fit would return all-zero or NaN coefficients."""
    effective = float(weights.sum() ** 2 / (weights ** 2).sum())
    if not effective >= 1.5:
        perturbed = distance[1:] if len(distance) > 1 else distance
        raise ValueError(f"LIME kernel_width {kernel_width:g} leaves {effective:.1f} effective samples of "
                         f"{len(weights)} (the weights exp(−(d/k)²) of cosine distances d in "
                         f"[{float(perturbed.min()):.2g}, {float(perturbed.max()):.2g}]): the fit would see only the "
                         f"unperturbed input; use a kernel width of the order of those distances or larger")
    return weights


def check_settings(n_samples: int, kernel_width: float, alpha: float, seed: int) -> None:
    """ValueError unless n_samples is an integer ≥ 2 (the unperturbed input and at least one
    perturbed one), kernel_width a finite number > 0, alpha a finite number ≥ 0, seed an integer."""
    check_integer(n_samples, "LIME n_samples", 2)
    check_real(kernel_width, "kernel_width", lambda v: v > 0, "> 0")
    check_alpha(alpha)
    check_integer(seed, "seed", None)


def sample_states(n_samples: int, count: int, seed: int = 0, device=None) -> torch.Tensor:
    """Bernoulli(0.5) states bool [n_samples, S]; row 0 is the unperturbed input (all ones).

    Drawn with a CPU generator so that a seed gives the same states on every device.
    """
    generator = torch.Generator().manual_seed(seed)
    states = torch.rand(n_samples, count, generator=generator) < 0.5
    states[0] = True
    return states.to(device)


def lime(f, x: torch.Tensor, segments: torch.Tensor, n_samples: int = 1000, kernel_width: float = 1.0,
         alpha: float = 1.0, seed: int = 0, batch_size: int | None = None, baseline=0.0, normalize: bool = True) -> torch.Tensor:
    """LIME coefficients of every target for every superpixel: [T,S] (float64).

    f: score function [B,C,H,W] -> [B,T]; x: [1,C,H,W] or [C,H,W]; segments: int [H,W] with
    labels 0..S-1. Steps (section 3.2.3): (1) n_samples Bernoulli(0.5) states, the first one
    unperturbed; (2) perturbed superpixels set to `baseline` (0 = grey in SSD input space);
    (3) weights exp(−(d/k)²) of the cosine distance d to x, refused where the unperturbed input
    holds almost all of the weight (`check_weights`, before any pass); (4) weighted ridge fit
    y ≈ b + Σ_s c_s z_s with penalty α‖c‖². With `normalize`, each target's coefficients are
    divided by their largest magnitude, giving values in [−1, 1] (all-zero rows stay zero).
    x, the baseline and the settings are checked before any pass (`check_settings`, `check_inputs`,
    `check_baseline`: finite and in range), and so is every score (`evaluate`).
    """
    x, segments, count = check_inputs(x, segments)
    check_settings(n_samples, kernel_width, alpha, seed)
    baseline = check_baseline(baseline, x)
    states = sample_states(n_samples, count, seed, x.device)
    distance = cosine_distance(x, segments, states, baseline)
    weights = check_weights(kernel_weights(distance, kernel_width), distance, kernel_width)   # before any pass
    scores = evaluate(f, x, segments, states, baseline, batch_size)                     # [N,T]
    coef, _ = weighted_ridge(states, scores, weights, alpha)                              # [T,S]
    if normalize:
        scale = coef.abs().amax(dim=1, keepdim=True)
        coef = coef / torch.where(scale == 0, torch.ones_like(scale), scale)  # a row with a NaN: all NaN, never 0
    return coef
