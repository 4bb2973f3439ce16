"""Rank statistics: Spearman's ρ with average ranks for ties (as scipy's 'average')."""
import math

import numpy as np


def spearman(x, y) -> float:
    """Spearman rank correlation of two sequences (average ranks for ties); NaN if either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"spearman needs two 1-d sequences of one length, got {x.shape} and {y.shape}")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denominator) if denominator > 0 else math.nan


def rankdata(values) -> np.ndarray:
    """Ranks 1..n of `values` [n], ties given the mean of the ranks they span (as scipy's 'average')."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]                # a new value starts here
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(values)] - 1
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((starts + ends) / 2 + 1)[np.cumsum(first) - 1]
    return ranks
