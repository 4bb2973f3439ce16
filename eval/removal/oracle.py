"""The oracle ordering of superpixels: what a near-perfect score on the removal curves looks like.

A removal curve measures how well an ordering of the superpixels finds what the score depends on.
The oracle builds the ordering from the score itself, greedily, given what is already removed:

    MoRF:  S_{k+1} = S_k ∪ {argmin_{s ∉ S_k} f(x with S_k ∪ {s} removed)}     the largest drop first
    LeRF:  S_{k+1} = S_k ∪ {argmax_{s ∉ S_k} f(x with S_k ∪ {s} removed)}     the smallest drop first

Cheap under a pointwise operator (true removal above all): removing superpixel s changes the input
only where the operator's fill differs from the image, and the score only through the target's
receptive field, so a superpixel with no such pixel inside the field is *inert*: removing it never
changes f, whatever else is removed. Only the A *active* superpixels are ever scored. The inert ones
are one block with the score f(S_k) itself (no pass): LeRF removes them first (for free), MoRF only
when every active removal would raise the score.

A full greedy costs A(A+1)/2 passes per direction (A reaches 50 for targets whose field covers
several objects), so two shortcuts bound it, both at a tolerance ε = 1 % of the span |s_0 − s_all|:
MoRF stops when the score is within ε of s_all (the rest follows in any order: the curve lies at
its floor unless a later removal raises it, which the exact curve below then shows); LeRF removes all
candidates whose single removal changes the score by at most ε at once, when removing them together
does too (one pass checks). The ordering is then scored exactly, like any heatmap's, by
`eval.removal.curves.RemovalCurves` at the curve's grid points (`pixel_order`). Greedy is not
guaranteed to be the best ordering, but it uses the score it is judged by; every method's gap is
reported as its share of the oracle's (random 0, oracle 1).
"""
import torch

TOLERANCE = 0.01         # share of the span |s_0 − s_all| within which the greedy takes shortcuts


def active_superpixels(segments: torch.Tensor, field: torch.Tensor, changes: torch.Tensor) -> torch.Tensor:
    """bool [S]: the superpixels with a pixel that the operator changes inside the receptive field.
    segments int [H,W] (labels 0..S-1), field bool [H,W], changes bool [H,W] (`Removal.changes`)."""
    labels = segments.reshape(-1).long()
    hits = torch.zeros(int(labels.max()) + 1, dtype=torch.long, device=labels.device)
    hits.index_add_(0, labels, (field & changes).reshape(-1).long().to(labels.device))
    return hits > 0


def greedy_order(score, remove, segments: torch.Tensor, active: torch.Tensor, direction: str, s0: float,
                 s_all: float, tolerance: float = TOLERANCE, batch_size: int = 8) -> tuple[torch.Tensor, int]:
    """The oracle's ordering of the S superpixels for `direction` ("morf" or "lerf").

    score(x [B,3,H,W]) -> [B] the target's score; remove(masks bool [B,H,W]) -> perturbed inputs
    [B,3,H,W] (a removal operator); segments int [H,W]; active bool [S] (`active_superpixels`);
    s0, s_all: the score with nothing and with everything removed; tolerance ε as a share of the span
    |s0 − s_all| (module docstring). Returns (order int64 [S], forward passes run)."""
    if direction not in ("morf", "lerf"):
        raise ValueError(f"unknown direction {direction!r}: use 'morf' or 'lerf'")
    H, W = segments.shape
    labels = segments.reshape(-1).long()
    removed = torch.zeros(H * W, dtype=torch.bool, device=labels.device)
    remaining = torch.nonzero(active).flatten().tolist()
    inert = torch.nonzero(~active).flatten().tolist()
    eps = tolerance * abs(s0 - s_all)
    order, current, passes = [], s0, 0

    def scores(sets: list[list[int]]) -> list[float]:
        nonlocal passes
        out = []
        for start in range(0, len(sets), batch_size):
            chunk = sets[start:start + batch_size]
            masks = removed.expand(len(chunk), -1).clone()
            for row, members in enumerate(chunk):
                masks[row] |= torch.isin(labels, torch.tensor(members, device=labels.device))
            with torch.no_grad():
                out += score(remove(masks.view(len(chunk), H, W))).reshape(-1).double().tolist()
            passes += len(chunk)
        return out

    def take(members: list[int], value: float) -> None:
        nonlocal current
        order.extend(members)
        removed[torch.isin(labels, torch.tensor(members, device=labels.device))] = True
        current = value

    if direction == "lerf" and inert:                # inert superpixels cost nothing: removed first
        take(inert, current)
        inert = []
    while remaining:
        if direction == "morf" and current - s_all <= eps:          # at the floor: the rest in any order
            break
        values = scores([[c] for c in remaining])
        ranked = sorted(range(len(remaining)), key=lambda i: values[i], reverse=direction == "lerf")
        if direction == "morf" and inert and current < values[ranked[0]]:
            take(inert, current)                     # every active removal would raise the score
            inert = []
            continue
        near = [i for i in ranked if abs(values[i] - current) <= eps] if direction == "lerf" else []
        if len(near) > 1:                            # LeRF: near-inert ones together, if together they are
            (together,) = scores([[remaining[i] for i in near]])
            if abs(together - current) <= eps:
                take([remaining[i] for i in near], together)
                remaining = [c for k, c in enumerate(remaining) if k not in set(near)]
                continue
        best = ranked[0]
        take([remaining.pop(best)], values[best])
    return torch.tensor(order + remaining + inert, dtype=torch.long), passes


def pixel_order(order: torch.Tensor, segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel order [HW], steps): the superpixel order as a pixel order and the removal counts it
    allows, as `eval.removal.curves.removal_order` gives them for a heatmap (for `RemovalCurves.add`)."""
    labels = segments.reshape(-1).long()
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    sizes = torch.bincount(labels, minlength=len(order))
    steps = torch.cat([sizes.new_zeros(1), sizes[order].cumsum(0)])
    return torch.argsort(rank.to(labels.device)[labels], stable=True), steps.to(labels.device)
