"""A heatmap as the metrics and the pictures read it: a numpy array, divided by its own max |R|
(one place for the normalisation the similarity metrics compare and eval.report.render draws)."""
import numpy as np


def as_numpy(a) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def normalise(heatmap) -> np.ndarray:
    """heatmap [H,W] -> R / max|R| in [-1, 1], float64; an all-zero map stays zero.

    Symmetric: the sign of every value is kept and the largest magnitude of either sign maps to ±1.
    """
    h = as_numpy(heatmap).astype(np.float64)
    if h.ndim != 2:
        raise ValueError(f"a heatmap must be [H,W], got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise ValueError("heatmap contains NaN or infinite values")
    peak = np.abs(h).max() if h.size else 0.0
    return h / peak if peak > 0 else np.zeros_like(h)
