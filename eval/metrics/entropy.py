"""Human interpretability of a heatmap as its Shannon entropy (paper section 4.1, eq. 4.1)."""
import math

import torch

from .registry import Metric

METRICS = (Metric("entropy", "Shannon entropy (eq. 4.1, bits)", None),
           Metric("entropy_binned", "entropy in 256 bins of R/max|R|", None))


def entropy(heatmap: torch.Tensor, bins: int | None = None) -> float:
    """Shannon entropy in bits of the relevance values of a heatmap [H,W] (any shape works).

    Eq. 4.1:  e = -Σ_i p_i log2 p_i,  p_i = share of pixels whose relevance equals the i-th distinct
    value r_i ∈ R (the set of all relevance values of the explanation). A constant map gives 0, a map
    with two equally large halves 1 bit, a map painted from 250 equally large superpixels with
    distinct values log2(250) ≈ 7.97.

    `bins=B` is the noise-robust variant: values are first normalised by max |R| to [-1, 1] and counted
    in B equal bins over [-1, 1]; p_i is the share of pixels in bin i. Eq. 4.1 counts relevance no
    human can see (figure 9: noise of 1e-3 raises it strongly); the binned entropy does not.
    """
    values = heatmap.detach().reshape(-1)
    if values.numel() == 0:
        raise ValueError("entropy: empty heatmap")
    if not torch.isfinite(values).all():
        raise ValueError("entropy: heatmap holds NaN or infinite values")
    if bins is None:
        _, counts = torch.unique(values, return_counts=True)
    else:
        if bins < 1:
            raise ValueError(f"entropy: bins must be >= 1, got {bins}")
        scale = values.abs().max()
        normalised = values / scale if scale > 0 else values
        index = ((normalised + 1) / 2 * bins).long().clamp(0, bins - 1)
        counts = torch.bincount(index, minlength=bins)
        counts = counts[counts > 0]
    p = counts.double() / values.numel()
    return max(0.0, float(-(p * torch.log2(p)).sum()))


def uniform_entropy(n: int) -> float:
    """Entropy of n equally likely values, log2 n (the LIME bound discussed in section 4.1)."""
    return math.log2(n)
