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
several objects), but the curve is only read at its grid points (`fractions`: 0.1 % … 100 % of the
image), so the greedy only has to choose which set is removed at each of them: a *round* scores every
remaining candidate given what is removed, then takes candidates in that ranking until the next grid
point (at least one; exactly the greedy step wherever the grid is finer than a superpixel). A round
costs one pass per candidate, so a direction costs at most (grid points) × A passes. MoRF stops when
the score is within ε = 1 % of the span |s_0 − s_all| of s_all: the remaining active superpixels
follow by their effect in the last round, those that would lower the score before the inert block,
those that would raise it after (the exact curve shows what they do). The
ordering is then scored exactly, like any heatmap's, by `eval.removal.curves.RemovalCurves` at the
grid points (`pixel_order`). Greedy is not guaranteed to be the best ordering, but it uses the score
it is judged by; every method's gap is reported as its share of the oracle's (random 0, oracle 1).
"""
import torch

TOLERANCE = 0.01         # share of the span |s_0 − s_all| within which MoRF counts as at its floor


def active_superpixels(segments: torch.Tensor, field: torch.Tensor, changes: torch.Tensor) -> torch.Tensor:
    """bool [S]: the superpixels with a pixel that the operator changes inside the receptive field.
    segments int [H,W] (labels 0..S-1), field bool [H,W], changes bool [H,W] (`Removal.changes`)."""
    labels = segments.reshape(-1).long()
    hits = torch.zeros(int(labels.max()) + 1, dtype=torch.long, device=labels.device)
    hits.index_add_(0, labels, (field & changes).reshape(-1).long().to(labels.device))
    return hits > 0


def greedy_order(score, remove, segments: torch.Tensor, active: torch.Tensor, direction: str, s0: float,
                 s_all: float, fractions, tolerance: float = TOLERANCE, batch_size: int = 8) -> tuple[torch.Tensor, int]:
    """The oracle's ordering of the S superpixels for `direction` ("morf" or "lerf"), chosen at the
    curve's grid points `fractions` (removed shares of the image; module docstring).

    score(x [B,3,H,W]) -> [B] the target's score; remove(masks bool [B,H,W]) -> perturbed inputs
    [B,3,H,W] (a removal operator); segments int [H,W]; active bool [S] (`active_superpixels`);
    s0, s_all: the score with nothing and with everything removed; tolerance ε as a share of the span
    |s0 − s_all|. Returns (order int64 [S], forward passes run)."""
    if direction not in ("morf", "lerf"):
        raise ValueError(f"unknown direction {direction!r}: use 'morf' or 'lerf'")
    H, W = segments.shape
    labels = segments.reshape(-1).long()
    sizes = torch.bincount(labels, minlength=len(active)).tolist()
    removed = torch.zeros(H * W, dtype=torch.bool, device=labels.device)
    remaining = torch.nonzero(active).flatten().tolist()
    inert = torch.nonzero(~active).flatten().tolist()
    grid = sorted({int(f * H * W + 1e-9) for f in fractions})
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

    def take(members: list[int]) -> None:
        order.extend(members)
        removed[torch.isin(labels, torch.tensor(members, device=labels.device))] = True

    if direction == "lerf" and inert:                # inert superpixels cost nothing: removed first
        take(inert)
        inert = []
    effect = {}                                      # each candidate's change of the score, latest round
    while remaining:
        if direction == "morf" and current - s_all <= eps and effect:  # at the floor: no more rounds;
            remaining.sort(key=lambda c: effect[c])                      # what lowers the score first,
            lowering = [c for c in remaining if effect[c] < 0]           # then the inert block, then
            order += lowering + inert                                    # what would raise it again
            inert, remaining = [], [c for c in remaining if effect[c] >= 0]
            break
        values = scores([[c] for c in remaining])                   # one round: each candidate's effect
        effect.update({c: v - current for c, v in zip(remaining, values)})
        ranked = sorted(range(len(remaining)), key=lambda i: values[i], reverse=direction == "lerf")
        if direction == "morf" and inert and current < values[ranked[0]]:
            take(inert)                              # every active removal would raise the score
            inert = []
            continue
        done = int(removed.sum())
        boundary = next((g for g in grid if g > done), H * W)       # the next point of the curve
        chosen = [ranked[0]]
        for i in ranked[1:]:
            if done + sum(sizes[remaining[k]] for k in chosen) + sizes[remaining[i]] > boundary:
                break
            chosen.append(i)
        take([remaining[i] for i in chosen])
        remaining = [c for k, c in enumerate(remaining) if k not in set(chosen)]
        current = values[ranked[0]] if len(chosen) == 1 else scores([[]])[0]
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
