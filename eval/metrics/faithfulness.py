"""Faithfulness from removal curves (eval.removal.curves): MoRF ↓, LeRF ↑ and their gap ↑.

The target's probability s is recorded while its pixels (or superpixels) are removed most- or
least-relevant-first, at removed fractions f on a logarithmic grid (0.1 % … 100 %). Per sample the
curve is normalised by the two ends that every ordering shares,

    ŝ(f) = (s(f) − s_all) / (s_0 − s_all),    s_0: nothing removed, s_all: everything removed,

so ŝ starts near 1 and ends at exactly 0, and its area over log f, divided by the width of the log
axis (AUC ∈ [0, 1] for curves inside [0, 1]), is compared:

    MoRF AUC: lower is better (the score falls as soon as the relevant pixels go),
    LeRF AUC: higher is better (the irrelevant pixels can go without changing the score),
    gap = LeRF AUC − MoRF AUC: higher is better (symmetric relevance gain; ~0 for a random order).
"""
import numpy as np

from .registry import Metric

METRICS = (Metric("morf", "MoRF AUC", False), Metric("lerf", "LeRF AUC", True),
           Metric("gap", "gap = LeRF − MoRF", True),
           Metric("oracle_share", "(gap − random's) / (oracle's − random's): random 0, oracle 1", True))

def normalised(curve, s0: float, s_all: float) -> list | None:
    """(s − s_all) / (s_0 − s_all) per point; None when s_0 ≈ s_all (nothing to normalise by)."""
    span = s0 - s_all
    if abs(span) < 1e-6:
        return None
    return [(s - s_all) / span for s in curve]


def log_auc(curve, fractions) -> float:
    """Area under a curve over log10 f (trapezoid), divided by the width of the log axis."""
    logf = np.log10(np.asarray(fractions, dtype=np.float64))
    c = np.asarray(curve, dtype=np.float64)
    return float(np.sum((c[1:] + c[:-1]) / 2 * np.diff(logf)) / (logf[-1] - logf[0]))

