"""Operator fidelity: how well a removal operator removes, measured against true removal.

For every object g of a synthetic image: the target's probability after removing g's visible mask
with an operator (grey, blur, inpaint) against its probability after true removal (the image
rendered as if g had never been painted, revealing what it hid). Per operator, over (sample,
object) pairs: mean |p_op − p_true| ↓, the same for the detection's own object ↓, and the rank
correlation of p_op with p_true ↑ (does the operator order the objects' effects as the truth does).
"""
import torch

from .registry import Metric

METRICS = (Metric("mean_abs_diff", "mean |p − p_true|", False),
           Metric("mean_abs_diff_own", "mean |p − p_true|, the detection's own object", False),
           Metric("rank_corr", "rank correlation with true removal", True))


def operator_fidelity(item, score, ops: dict, names, own: int) -> tuple[list, int]:
    """For every object g of the image: the target's probability after removing g's visible mask with
    each operator in `names`, and after true removal (g rendered away, revealing what it hid).
    Returns ([{"object": g, "own": g is the sample's object, "true": p, op: p, …}], passes run);
    empty without the synthetic scene."""
    if item.scene is None or item.masks is None or not names:
        return [], 0
    masks = item.masks
    rows = [{"object": g, "own": g == own} for g in range(len(masks))]
    passes = 0
    with torch.no_grad():
        truly = torch.cat([item.without([g]) for g in range(len(masks))])
        for g, p in enumerate(score(truly).tolist()):
            rows[g]["true"] = p
        passes += len(masks)
        for name in names:
            if name == "true":
                continue
            for g, p in enumerate(score(ops[name](masks)).tolist()):
                rows[g][name] = p
            passes += len(masks)
    return rows, passes
