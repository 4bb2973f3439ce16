"""Exact target scores of an SSD from only the part of the network, and the window of the image,
that the targets can see.

A target's outputs (class logits, box regression: `ssd.targets`) are the heads of its source k at
one location (i, j); they depend only on the pixels of its receptive field (perturb.receptive_field),
and only on the blocks up to source k.
Running the network on a crop of the input gives the same outputs, exactly, when

  1. the crop contains the receptive field, and
  2. the crop's edges lie on the grid of the cumulative stride S_k of the path (or on the image's
     edge), so that every stride, pooling window and padding of the crop lines up with the full
     image's (S_k = 8 for conv4_3, 16 for fc7, … the product of the strides on the path),

because every neuron the outputs depend on then reads the same values in both computations: inside
the field the same pixels, outside it only padding, which is zero (or −∞ for max-pooling) in both.
The target's location in the crop is (i − r0/S_k, j − c0/S_k).

For a conv4_3 target of a 512×512 SSD512 the field is about 108×108 pixels, so its score costs a
128×128 crop through the first block instead of the whole network. Targets are gathered into
groups that share one crop (the bounding window of their fields) and one depth (the deepest source
among them); two groups are merged while that lowers the estimated cost (pixels of the crop × the
multiply-adds per pixel of the blocks it runs); if the groups together would cost more than one
full forward pass, one pass of the whole image serves every target. Either way only the blocks up to
the group's deepest source run, and each head only at its targets' positions: the head's window of
the source map (ℓ2-normalised for source 0), padded at the map's edge as the head pads it.

Each group runs its blocks as a `perturb.incremental.Walk`: an input that differs from the one
before only in a small rectangle (SHAP's next superpixel, the oracle's next candidate, a removal
curve's next point) recomputes that rectangle alone, and a head is recomputed only where its window
changed; the scores are the same up to float rounding.
"""
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

import ssd
from ssd.targets import BOX, check_kind, terms

from .incremental import Layer, Walk, chain_of
from .ssd_adapter import ssd_layers, ssd_receptive_fields


def _path_stride(layers) -> int:
    """Product of the strides of the convolutions and poolings of a chain (the cumulative stride)."""
    stride = 1
    for layer in layers:
        s = getattr(layer, "stride", 1) if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) else 1
        s = s if s is not None else layer.kernel_size
        stride *= s if isinstance(s, int) else s[0]
    return stride


def _block_costs(model: "ssd.SSD", size: int) -> list[float]:
    """Multiply-adds per input pixel of each block of `model.features` (its convolutions only):
    Σ k_h·k_w·C_in·C_out / (cumulative stride)², for a rough cost of a crop."""
    costs = []
    stride = 1
    for block in model.features:
        cost = 0.0
        for layer in block.modules():
            if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
                s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
                if isinstance(layer, nn.Conv2d):
                    kh, kw = layer.kernel_size
                    cost += kh * kw * layer.in_channels * layer.out_channels / (stride * s) ** 2
                stride *= s
        costs.append(cost)
    return costs


class _Group:
    """Targets that share one crop [r0:r1, c0:c1] and run blocks 0..depth; once planned, the
    `perturb.incremental.Walk` of those blocks on the crop, the chain index of each source's last
    layer (`tap`), and the last value of each member's head outputs (`last`)."""

    def __init__(self, members, window, depth, stride):
        self.members, self.window, self.depth, self.stride = members, window, depth, stride

    def area(self) -> int:
        r0, r1, c0, c1 = self.window
        return (r1 - r0) * (c1 - c0)

    def walk(self, model: "ssd.SSD") -> None:
        layers, self.tap = [], {}
        for k, block in enumerate(model.features[:self.depth + 1]):
            layers += chain_of(list(block.modules())[1:])
            self.tap[k] = len(layers) - 1
        self.chain = Walk(layers, list(self.tap.values()))
        self.last = {}


class WindowedScore:
    """Score function f(x [B,3,H,W]) -> [B,T] of SSD targets of any kind (`ssd.targets`): each target's
    value s at its prior from its raw outputs (kind "logit") or with softmax probabilities for its
    class terms (kind "probability"), computed from the crops and blocks the targets need (module
    docstring; a box target reads the box head of the same source, whose geometry is the class
    head's). Equal to `ssd.score(model(x), targets, kind)` up to float rounding. `groups` lists, per
    group, the target indices, the window (r0, r1, c0, c1) and the deepest source; `windowed=False`
    runs the full model. `incremental=False` runs every input through the blocks as modules (no
    `perturb.incremental` walk: the cost of plain passes, for benchmarks), as does a pass to
    differentiate and a model with forward hooks (which the walk, calling layers, would bypass).
    x is checked first (`ssd.check_input`: the model's size, dtype and device, finite values)."""

    def __init__(self, model: "ssd.SSD", targets: Sequence["ssd.Target"], kind: str = "logit",
                 windowed: bool = True, incremental: bool = True):
        config = model.config
        self.model, self.kind = model, check_kind(kind)
        self.targets = [ssd.as_target(t) for t in targets]
        ssd.check_targets(self.targets, len(ssd.priors(config)), config.num_classes)
        self.reads = [{out for out, _, _ in terms(t)} for t in self.targets]        # CLS and/or BOX
        self.size = (config.size, config.size)
        self.locations = [ssd.prior_location(config, t.prior) for t in self.targets]   # (k, i, j, a)
        self.strides = [_path_stride(ssd_layers(model, k)) for k, _, _, _ in self.locations]
        self._heads, self.incremental = {}, incremental
        self.groups = self._plan() if windowed else None

    def _plan(self) -> list[_Group] | None:
        H, W = self.size
        rfs = ssd_receptive_fields(self.model, self.targets, self.size)                 # [T,H,W]
        costs = _block_costs(self.model, H)
        depth_cost = [sum(costs[:k + 1]) for k in range(len(costs))]
        groups = []
        for t, ((k, i, j, _), stride, rf) in enumerate(zip(self.locations, self.strides, rfs)):
            rows, cols = torch.nonzero(rf.any(1)).flatten(), torch.nonzero(rf.any(0)).flatten()
            if len(rows) == 0:       # a field that lies in the padding: the score is a constant
                window = (i * stride, (i + 1) * stride, j * stride, (j + 1) * stride)
            else:
                window = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
            groups.append(_Group([t], self._aligned(window, stride), k, stride))

        def cost(g: _Group) -> float:
            return g.area() * depth_cost[g.depth]

        def merged(a: _Group, b: _Group) -> _Group:
            stride = max(a.stride, b.stride)
            window = (min(a.window[0], b.window[0]), max(a.window[1], b.window[1]),
                      min(a.window[2], b.window[2]), max(a.window[3], b.window[3]))
            return _Group(a.members + b.members, self._aligned(window, stride), max(a.depth, b.depth), stride)

        while len(groups) > 1:
            best = None
            for x in range(len(groups)):
                for y in range(x + 1, len(groups)):
                    m = merged(groups[x], groups[y])
                    gain = cost(groups[x]) + cost(groups[y]) - cost(m)
                    if gain >= 0 and (best is None or gain > best[0]):
                        best = (gain, x, y, m)
            if best is None:
                break
            _, x, y, m = best
            groups = [g for i, g in enumerate(groups) if i not in (x, y)] + [m]
        deepest = max(k for k, _, _, _ in self.locations)
        if sum(cost(g) for g in groups) >= H * W * depth_cost[deepest]:      # one pass of the whole image
            groups = [_Group(list(range(len(self.targets))), (0, H, 0, W), deepest, 1)]
        for g in groups:
            g.walk(self.model)
        return groups

    def _aligned(self, window, stride: int) -> tuple:
        """The window grown to the stride grid (start down to a multiple, end up to one or the edge)."""
        H, W = self.size
        r0, r1, c0, c1 = window
        return (r0 // stride * stride, min(H, math.ceil(r1 / stride) * stride),
                c0 // stride * stride, min(W, math.ceil(c1 / stride) * stride))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        ssd.check_input(self.model, x)
        if self.groups is None:
            return ssd.score(self.model(x), self.targets, self.kind)
        C, n, T = self.model.config.num_classes, x.shape[0], len(self.targets)
        at_prior = [x.new_zeros((n, T, C)),                                           # logits [B,T,C]
                    x.new_zeros((n, T, 4)) if any(BOX in r for r in self.reads) else None]   # deltas [B,T,4]
        # plain passes through the blocks as modules where a walk would be wrong: a pass to
        # differentiate (the walk writes in place) or a model with hooks (the walk calls no block)
        plain = not self.incremental or (torch.is_grad_enabled() and x.requires_grad) or _hooked(self.model)
        for g in self.groups:
            (self._plain if plain else self._walk)(g, x, at_prior)
        return ssd.target_values(*at_prior, self.targets, self.kind)

    def _plain(self, g: _Group, x: torch.Tensor, at_prior: list) -> None:
        """Group g's targets' head outputs for x into at_prior: its blocks on its crop, each needed
        head on its whole source map."""
        r0, r1, c0, c1 = g.window
        heads = (self.model.cls_heads, self.model.box_heads)
        needed = {}                                        # source k -> the outputs its targets read
        for t in g.members:
            needed.setdefault(self.locations[t][0], set()).update(self.reads[t])
        h, outs = x[:, :, r0:r1, c0:c1], {}
        for k, block in enumerate(self.model.features[:g.depth + 1]):
            h = block(h)
            if k in needed:
                source = self.model.l2norm(h) if k == 0 else h
                outs[k] = {out: heads[out][k](source) for out in needed[k]}
        for t in g.members:
            k, i, j, a = self.locations[t]
            row, col = i - r0 // self.strides[t], j - c0 // self.strides[t]
            for out in self.reads[t]:                      # head output [B, A·width, h, w] at (row, col)
                width = at_prior[out].shape[2]
                at_prior[out][:, t] = outs[k][out][:, a * width:(a + 1) * width, row, col]

    def _walk(self, g: _Group, x: torch.Tensor, at_prior: list) -> None:
        """The same from g's walk: input after input, each head recomputed only where its window changed."""
        r0, r1, c0, c1 = g.window
        reads = [(t, out, k, i - r0 // self.strides[t], j - c0 // self.strides[t], a)   # (row, col) in the crop
                 for t in g.members for out in self.reads[t] for k, i, j, a in [self.locations[t]]]
        with torch.no_grad():
            for b, changed in g.chain.each(x[:, :, r0:r1, c0:c1]):
                for t, out, k, row, col, a in reads:
                    if changed is None or (t, out) not in g.last or \
                            _touches(changed[g.tap[k]], self._head_layer(out, k), row, col):
                        g.last[t, out] = self._head(g.chain.activation(g.tap[k]), k, out, row, col, a)
                    at_prior[out][b, t] = g.last[t, out]

    def _head_layer(self, out: int, k: int) -> Layer:
        """Head `out` (CLS or BOX) of source k as a `perturb.incremental.Layer`."""
        if (out, k) not in self._heads:
            self._heads[out, k] = Layer((self.model.cls_heads, self.model.box_heads)[out][k])
        return self._heads[out, k]

    def _head(self, source: torch.Tensor, k: int, out: int, row: int, col: int, a: int) -> torch.Tensor:
        """Head `out` of source k at (row, col) of the source map [1,C,h,w] for box a: the head's
        window read from the map (ℓ2-normalised for source 0), padded as the head pads it -> [width]
        (the class logits, or the 4 deltas)."""
        layer = self._head_layer(out, k)
        h, w = source.shape[2:]
        i0, i1 = layer.reads(row, row + 1, 0)
        j0, j1 = layer.reads(col, col + 1, 1)
        window = source[:, :, max(i0, 0):min(i1, h), max(j0, 0):min(j1, w)]
        if k == 0:
            window = self.model.l2norm(window)
        window = F.pad(window, (max(0, -j0), max(0, j1 - w), max(0, -i0), max(0, i1 - h)))
        width = layer.module.out_channels // self.model.config.boxes_per_location[k]
        return layer.unpadded(window)[0, a * width:(a + 1) * width, 0, 0]


def _hooked(model: nn.Module) -> bool:
    """Whether a forward hook or pre-hook is registered on any module of the model, or globally."""
    from torch.nn.modules import module as torch_module
    if torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def _touches(rect, head: Layer, row: int, col: int) -> bool:
    """Whether a changed rectangle (r0, r1, c0, c1) of a source, or None (unchanged), reaches the
    window the head reads for position (row, col)."""
    if rect is None:
        return False
    r0, r1, c0, c1 = rect
    i0, i1 = head.reads(row, row + 1, 0)
    j0, j1 = head.reads(col, col + 1, 1)
    return r0 < i1 and i0 < r1 and c0 < j1 and j0 < c1


def ssd_score(model: "ssd.SSD", targets: Sequence["ssd.Target"], kind: str = "logit") -> WindowedScore:
    """Score function of the targets of any kind: f(x [B,3,H,W]) -> [B,T], each target's value at its
    prior (with softmax probabilities for class terms, `kind="probability"`), computed from the
    windows and blocks the targets can see (`WindowedScore`)."""
    return WindowedScore(model, targets, kind)
