"""Claims from a declared family of paired comparisons: Holm's adjustment, TOST equivalence at a
declared margin, at least MIN_IMAGES images (eval.stats docstring)."""
import math
from typing import Sequence

from .cells import ALPHA, equivalence, paired_difference


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment: p̃_(k) = min(1, max_{j ≤ k} (m − j + 1) p_(j)) over the m
    p-values that are numbers, in their original order; None and NaN stay None."""
    present = [(p, k) for k, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    adjusted: list[float | None] = [None] * len(p_values)
    running_max = 0.0
    for rank, (p, k) in enumerate(sorted(present)):
        running_max = max(running_max, (len(present) - rank) * p)
        adjusted[k] = min(1.0, running_max)
    return adjusted


def claims(family: str, comparisons: list[dict]) -> list[dict]:
    """The claims of one declared family of paired comparisons (module docstring: families and Holm).

    Each comparison: {"metric", "operator", "unit", "a", "b" (names), "higher_is_better" (bool),
    "values_a", "values_b" ({sample: value}), "cluster_of" ({sample: image}), "margin" (equivalence
    margin Δ > 0, or None for no equivalence test)}.
    Returns per comparison {"family", "metric", "operator", "unit", "a", "b", "mean_diff" (a − b),
    "ci95", "p", "p_holm", "supported", "equivalent", "margin", "n", "n_images", "better",
    "too_few_images"}: supported = p_holm < 0.05 and n_images ≥ MIN_IMAGES, better = the winner's
    name when supported (else None), equivalent = Holm-adjusted TOST p < 0.05 and n_images ≥ MIN_IMAGES.
    """
    differences = [paired_difference(c["values_a"], c["values_b"], c["cluster_of"]) for c in comparisons]
    tost = [equivalence(c["values_a"], c["values_b"], c["cluster_of"], c["margin"])["p_tost"]
            if c.get("margin") is not None else None for c in comparisons]
    out = []
    for c, d, p_holm, tost_holm in zip(comparisons, differences, holm([d["p"] for d in differences]), holm(tost)):
        enough = not d["too_few_images"]
        supported = p_holm is not None and p_holm < ALPHA and enough
        a_wins = (d["mean_diff"] > 0) == bool(c["higher_is_better"]) if supported else None
        out.append({"family": family, "metric": c["metric"], "operator": c.get("operator"), "unit": c.get("unit"),
                    "a": c["a"], "b": c["b"], "mean_diff": d["mean_diff"], "ci95": d["ci95"], "p": d["p"],
                    "p_holm": p_holm, "supported": supported,
                    "equivalent": tost_holm is not None and tost_holm < ALPHA and enough,
                    "margin": c.get("margin"), "n": d["n"], "n_images": d["n_images"],
                    "better": None if a_wins is None else (c["a"] if a_wins else c["b"]),
                    "too_few_images": d["too_few_images"]})
    return out
