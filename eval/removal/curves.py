"""Removal curves: the target's score while pixels are removed in the order of a heatmap.

Pixels (or whole superpixels) are removed most-relevant-first (MoRF) or least-relevant-first (LeRF)
with a removal operator (eval.removal.operators) and the target's score is recorded at removed
fractions f, by default on a logarithmic grid (0.1 % … 100 %, `LOG_GRID`) where small fractions —
the object's own pixels — get as many points as large ones. What is made of the curves (normalised
areas, the gap) is the metric of eval.metrics.faithfulness; the paper's AUC is eval.metrics.flipping.

Order of pixels. Pixels: by relevance, ties broken by one random permutation per sample (no
heatmap gains from the raster order of its zeros). Superpixels: by grouped relevance R_s/|s| (ties
likewise); a fraction f removes the longest prefix of superpixels covering at most f of the image.

No wasted passes. The score depends only on the pixels of the target's receptive field. A pointwise
operator (grey, blur, true: a fixed fill computed from the original image) changes a pixel of the
input only where that pixel is removed and its fill differs from the image, so two removals that
agree on R = field ∩ changed pixels give the same input inside the field and the same score. An
operator whose fill reads other pixels (inpaint: a removed pixel inside the field is filled from
kept pixels outside it) can change the field through any removed pixel: for it R is every pixel it
can change, the whole image. A point is keyed by (operator, ordering, number of R-pixels removed),
with two keys every ordering of a sample shares — nothing of R removed (the unperturbed input, any
operator) and all of R removed (the fully removed input). Each distinct key is evaluated once; the
rest is reused, bit for bit (tests/test_eval_curves.py evaluates the input behind every point of
every operator directly). `RemovalCurves.passes_run` / `passes_skipped` count both.
"""
import math

import numpy as np
import torch

LOG_GRID = tuple(float(v) for v in np.geomspace(1e-3, 1.0, 14))     # 0.1 % … 100 %, 14 points
DIRECTIONS = ("morf", "lerf")
UNITS = ("pixels", "superpixels")


def linear_grid(steps: int = 100) -> tuple:
    """0, 1/steps, …, 1 (the paper's pixel flipping: 100 steps of 1 %)."""
    return tuple(k / steps for k in range(steps + 1))


def tie_breaker(n: int, seed: int, device=None) -> torch.Tensor:
    """A random permutation of 0..n-1 (CPU generator: the same on every device)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(device)


def removal_order(heatmap: torch.Tensor, direction: str, segments: torch.Tensor | None, ties: torch.Tensor,
                  segment_ties: torch.Tensor | None = None, aggregate: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """(order, steps) of a heatmap [H,W]: `order` [HW] the pixel indices in removal order, `steps` the
    removal counts allowed (all 0..HW for pixels; the prefix sums of the superpixel sizes in order).

    direction "morf" (highest relevance first) or "lerf" (lowest first); `segments` [H,W] switches
    to superpixels (grouped relevance R_s/|s|, or R_s with aggregate="sum"); `ties` [HW] (and
    `segment_ties` [S]) are random permutations that break ties."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}: use 'morf' or 'lerf'")
    n = heatmap.numel()
    values = heatmap.reshape(-1).double()
    sign = -1.0 if direction == "morf" else 1.0
    if segments is None:
        order = ties[torch.argsort(sign * values[ties], stable=True)]
        return order, torch.arange(n + 1, device=heatmap.device)
    labels = segments.reshape(-1).long()
    count = int(labels.max()) + 1
    sizes = torch.bincount(labels, minlength=count)
    grouped = torch.zeros(count, dtype=torch.float64, device=heatmap.device).index_add_(0, labels, values)
    if aggregate == "mean":
        grouped = grouped / sizes.clamp(min=1)
    elif aggregate != "sum":
        raise ValueError(f"unknown aggregate {aggregate!r}: use 'mean' or 'sum'")
    perm = segment_ties if segment_ties is not None else torch.arange(count, device=heatmap.device)
    segment_order = perm[torch.argsort(sign * grouped[perm], stable=True)]
    rank = torch.empty_like(segment_order)
    rank[segment_order] = torch.arange(count, device=heatmap.device)
    order = torch.argsort(rank[labels], stable=True)
    steps = torch.cat([sizes.new_zeros(1), sizes[segment_order].cumsum(0)])
    return order, steps


def counts_at(steps: torch.Tensor, fractions, n: int) -> torch.Tensor:
    """The largest allowed count ≤ f·n for each fraction f (exact integer comparison): [F]."""
    wanted = torch.tensor([math.floor(f * n + 1e-9) for f in fractions], device=steps.device)
    return steps[torch.searchsorted(steps, wanted, right=True) - 1]


class RemovalCurves:
    """The curves of one target: request them with `add`, evaluate every distinct input once with
    `run`, read them with `curve` (module docstring for the keys that skip passes).

    score(x [B,3,H,W]) -> [B]: the target's score; x [1,3,H,W]; field bool [H,W]: its receptive field;
    operators {name: eval.removal.Removal} bound to x."""

    def __init__(self, score, x: torch.Tensor, field: torch.Tensor, operators: dict, batch_size: int = 8):
        self.score, self.x, self.operators, self.batch_size = score, x, operators, batch_size
        # the pixels whose removal can change the score (module docstring): inside the field for a
        # pointwise operator, anywhere it changes the input for one whose fill reads other pixels
        self.relevant = {name: ((field.to(x.device) & op.changes()) if op.pointwise else op.changes()).reshape(-1)
                         for name, op in operators.items()}
        self.orders = []           # (operator, order [HW]) per added ordering
        self.requests = []         # per request: list of keys
        self.todo = {}             # key -> (operator, ordering index, count)
        self.scores = {}           # key -> score
        self.passes_run = 0
        self.points = 0

    def add(self, operator: str, order: torch.Tensor, counts: torch.Tensor) -> int:
        """Request the scores after removing the first counts[k] pixels of `order` with `operator`;
        returns the request's id."""
        if operator not in self.operators:
            raise ValueError(f"operator {operator!r} is not bound to these curves ({', '.join(self.operators)})")
        relevant = self.relevant[operator]
        total = int(relevant.sum())
        removed_relevant = torch.cat([relevant.new_zeros(1, dtype=torch.long), relevant[order].long().cumsum(0)])
        index = len(self.orders)
        self.orders.append((operator, order))
        keys = []
        for count, r in zip(counts.tolist(), removed_relevant[counts].tolist()):
            if r == 0:
                key = ("none",)
            elif r == total:
                key = ("all", operator)
            else:
                key = (operator, index, r)
            self.todo.setdefault(key, (operator, index, count))
            keys.append(key)
        self.requests.append(keys)
        self.points += len(keys)
        return len(self.requests) - 1

    def add_heatmap(self, operator: str, heatmap: torch.Tensor, direction: str, fractions, segments=None,
                    ties=None, segment_ties=None, aggregate: str = "mean") -> int:
        """`add` for the removal order of a heatmap [H,W] (see removal_order) at `fractions`."""
        ties = torch.arange(heatmap.numel(), device=heatmap.device) if ties is None else ties
        order, steps = removal_order(heatmap, direction, segments, ties, segment_ties, aggregate)
        return self.add(operator, order, counts_at(steps, fractions, heatmap.numel()))

    def run(self) -> None:
        """Evaluate every requested input not yet scored, in batches."""
        missing = [k for k in self.todo if k not in self.scores]
        H, W = self.x.shape[2:]
        for start in range(0, len(missing), self.batch_size):
            keys = missing[start:start + self.batch_size]
            by_operator = {}
            for key in keys:
                by_operator.setdefault(self.todo[key][0], []).append(key)
            for operator, group in by_operator.items():
                masks = torch.zeros(len(group), H * W, dtype=torch.bool, device=self.x.device)
                for row, key in enumerate(group):
                    _, index, count = self.todo[key]
                    if key[0] == "all":
                        masks[row] = True
                    elif key[0] != "none":
                        masks[row, self.orders[index][1][:count]] = True
                inputs = self.operators[operator](masks.view(len(group), H, W))   # no mask: x exactly
                with torch.no_grad():
                    values = self.score(inputs).reshape(len(group)).double().cpu()
                for key, value in zip(group, values.tolist()):
                    self.scores[key] = value
                self.passes_run += len(group)

    @property
    def passes_skipped(self) -> int:
        return self.points - self.passes_run

    def curve(self, request: int) -> list[float]:
        """The raw scores of a request, one per count."""
        return [self.scores[k] for k in self.requests[request]]

    def ends(self, operator: str) -> tuple[float, float]:
        """(s_0, s_all) of an operator: nothing removed, everything removed (both must be requested)."""
        return self.scores[("none",)], self.scores[("all", operator)]


def random_heatmap(shape, seed: int, segments: torch.Tensor | None = None, device=None) -> torch.Tensor:
    """A heatmap [H,W] whose removal order is uniformly random (the reference row): i.i.d. uniform
    values per pixel, or with `segments` one value per superpixel."""
    g = torch.Generator().manual_seed(seed)
    if segments is None:
        return torch.rand(tuple(shape), generator=g).to(device)
    values = torch.rand(int(segments.max()) + 1, generator=g).to(segments.device)
    return values[segments.long()]
