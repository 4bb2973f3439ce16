"""Exact forward passes of a chain of convolutions and poolings that recompute only what changed.

SHAP walks from the baseline to the input one superpixel at a time, the oracle scores each
superpixel's removal from one state, a removal curve removes a few more pixels per point: most of
the inputs a perturbation method evaluates differ from the input before them in one small rectangle.
A convolution or pooling layer with kernel k, stride s, padding p and dilation d computes output o
from inputs o·s − p + d·i (i = 0..k−1), so if its input changed only in rows [a0, a1), its output
changed at most in rows

    o0 = ⌈(a0 + p − d(k−1)) / s⌉  …  o1 = ⌊(a1 − 1 + p) / s⌋      (clipped to the output map)

(columns alike; a pointwise layer — ReLU — keeps the rectangle). Every other output equals the
previous input's. Recomputing rows o0..o1 needs the input rows o0·s − p … o1·s − p + d(k−1): read
from the stored input of the layer (already updated to the new input), padded explicitly where they
leave the map (0 for a convolution, −∞ for a max-pool: what the layer's own padding adds) and passed
through the layer without padding. Writing the result into the stored output makes it the new
input's activation, layer after layer. The values are those of a full pass up to float rounding
(a crop's convolution sums the same products, perhaps in another order).

`Walk` keeps the activations of the last input it evaluated (one image) and, for each next input,
finds the rectangle where it differs from that one (exactly: every changed pixel, by comparison),
estimates the multiply-adds of recomputing it against a full pass of the chain, and does the cheaper:
runs of inputs far apart (LIME's random states) still go through the chain as one batch. Each input
evaluated becomes the one the next is compared with, so a walk of small steps (SHAP's permutations,
a removal curve's points) costs a small step each, whatever order the caller evaluates them in.

Taps: the layer outputs the caller reads (the sources of a detector), each read at a few positions
through a readout (a head) of a 3×3 window; `Walk.taps_changed` says which stored window changed.
Shapes: an input is [B,C,H,W]; a layer's activation [1,C_l,H_l,W_l] (the last input's).
"""
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .receptive_field import POINTWISE, input_span, output_size

OVERHEAD_MACS = 4e5        # the cost of launching one layer on a small crop, in multiply-adds (CPU)
INCREMENTAL_SHARE = 0.7    # recompute a rectangle only while it costs under this share of a full pass


class Layer:
    """One step of the chain: a Conv2d (with the pointwise layers after it) or a max-pool, with its
    geometry per axis: kernel k, stride s, padding p, dilation d, and the value its padding holds."""

    def __init__(self, module: nn.Module):
        self.module, self.after = module, []
        pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)                     # noqa: E731
        if isinstance(module, nn.Conv2d):
            if isinstance(module.padding, str) or module.padding_mode != "zeros":
                raise ValueError(f"incremental passes: {module} must use numeric zero padding")
            self.fill = 0.0
            self.macs = module.kernel_size[0] * module.kernel_size[1] * module.in_channels * module.out_channels \
                / module.groups
        elif isinstance(module, nn.MaxPool2d):
            k = module.kernel_size
            self.fill, self.macs = -math.inf, k * k if isinstance(k, int) else k[0] * k[1]
        else:
            raise ValueError(f"incremental passes: unsupported layer {type(module).__name__} (Conv2d, MaxPool2d "
                             "and pointwise layers)")
        stride = module.stride if module.stride is not None else module.kernel_size
        self.k, self.s = pair(module.kernel_size), pair(stride)
        self.p, self.d = pair(module.padding), pair(module.dilation)

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        """The layer as in the network (its own padding)."""
        return self._pointwise(self.module(h))

    def unpadded(self, h: torch.Tensor) -> torch.Tensor:
        """The layer on an input already padded by the caller."""
        m = self.module
        if isinstance(m, nn.Conv2d):
            h = F.conv2d(h, m.weight, m.bias, m.stride, 0, m.dilation, m.groups)
        else:
            h = F.max_pool2d(h, m.kernel_size, m.stride, 0, m.dilation, ceil_mode=False)
        return self._pointwise(h)

    def _pointwise(self, h: torch.Tensor) -> torch.Tensor:
        """The pointwise layers on the layer's fresh output; a ReLU in place (no second tensor to
        allocate and fill: a few % of a pass)."""
        for layer in self.after:
            h = torch.relu_(h) if type(layer) is nn.ReLU else layer(h)
        return h

    def changed(self, a0: int, a1: int, axis: int, n_out: int) -> tuple[int, int]:
        """Output rows [o0, o1) that can change when input rows [a0, a1) change (module docstring)."""
        k, s, p, d = self.k[axis], self.s[axis], self.p[axis], self.d[axis]
        return max(0, -(-(a0 + p - d * (k - 1)) // s)), min(n_out, (a1 - 1 + p) // s + 1)

    def reads(self, o0: int, o1: int, axis: int) -> tuple[int, int]:
        """Input rows [i0, i1) (may leave the map) that output rows [o0, o1) read."""
        i0, last = input_span(o0, o1 - 1, self.k[axis], self.s[axis], self.p[axis], self.d[axis])
        return i0, last + 1


def chain_of(modules: Sequence[nn.Module]) -> list[Layer]:
    """The chain's layers from modules in order: each Conv2d or MaxPool2d with the pointwise layers
    (`perturb.receptive_field.POINTWISE`) that follow it. ValueError for anything else."""
    layers = []
    for m in modules:
        if isinstance(m, POINTWISE):
            if not layers:
                raise ValueError("incremental passes: the chain may not start with a pointwise layer")
            layers[-1].after.append(m)
        else:
            layers.append(Layer(m))
    return layers


def changed_rectangle(a: torch.Tensor, b: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1), half-open, the bounding box of the pixels where a and b [C,H,W] differ in
    any channel; None where they are equal."""
    unequal = a != b
    diff = unequal[0]
    for channel in unequal[1:]:       # an OR per channel: a third of the time of any(0) on the CPU
        diff = diff | channel
    rows, cols = torch.nonzero(diff.any(1)).flatten(), torch.nonzero(diff.any(0)).flatten()
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


class Walk:
    """Activations of a chain for the last input evaluated, advanced exactly by recomputing the
    rectangles that change (module docstring).

    layers: `chain_of(...)`; taps: indices into the layers whose outputs are read (after layer i).
    `each(x [B,C,H,W])` evaluates the inputs in order and yields after each (index, changed taps);
    `activation(tap)` is then the output of that tap for that input. `full_passes` and
    `incremental_passes` count the inputs evaluated each way. The stored activations are updated in
    place: run it under torch.no_grad()."""

    def __init__(self, layers: Sequence[Layer], taps: Sequence[int]):
        self.layers, self.taps = list(layers), sorted(set(taps))
        self.depth = self.taps[-1] + 1 if self.taps else 0     # layers after the last tap are never run
        self.acts = None                                         # [input, out of layer 0, …]
        self.sizes = None
        self.full_macs = None
        self._current = None                                     # (outputs of a batched pass, index)
        self.incremental_passes = self.full_passes = 0

    def _plan_sizes(self, size: tuple[int, int]) -> None:
        """Each layer's output size for input `size` (H, W) and the multiply-adds of a full pass."""
        sizes, macs = [size], 0.0
        for layer in self.layers[:self.depth]:
            ceil_mode = getattr(layer.module, "ceil_mode", False)
            out = tuple(output_size(n, k, s, p, d, ceil_mode)
                        for n, k, s, p, d in zip(sizes[-1], layer.k, layer.s, layer.p, layer.d))
            sizes.append(out)
            macs += out[0] * out[1] * layer.macs + OVERHEAD_MACS
        self.sizes, self.full_macs = sizes, macs

    def _rectangles(self, rect) -> tuple[list, float]:
        """The changed rectangle of each layer's output (index 0: the input, `rect`) and the cost of
        recomputing them in multiply-adds."""
        rects, cost = [rect], 0.0
        for i, layer in enumerate(self.layers[:self.depth]):
            r0, r1, c0, c1 = rects[-1]
            (h, w) = self.sizes[i + 1]
            o = layer.changed(r0, r1, 0, h) + layer.changed(c0, c1, 1, w)
            rects.append(o)
            cost += (o[1] - o[0]) * (o[3] - o[2]) * layer.macs + OVERHEAD_MACS
        return rects, cost

    def _increment(self, new: torch.Tensor, old: torch.Tensor) -> list | None:
        """The changed rectangle of every layer's output (index 0: the input) when the input goes
        from `old` to `new` [C,H,W]: [] if they are equal, None if recomputing the rectangles would
        cost more than INCREMENTAL_SHARE of a full pass. A look at every 8th row and column first
        finds a rectangle inside the true one: if that already costs too much, the full look is spared
        (LIME's random states differ everywhere)."""
        coarse = changed_rectangle(new[:, ::8, ::8], old[:, ::8, ::8])
        if coarse is not None:
            r0, r1, c0, c1 = coarse
            if self._rectangles((8 * r0, 8 * (r1 - 1) + 1, 8 * c0, 8 * (c1 - 1) + 1))[1] \
                    >= INCREMENTAL_SHARE * self.full_macs:
                return None
        rect = changed_rectangle(new, old)
        if rect is None:
            return []
        rects, cost = self._rectangles(rect)
        return rects if cost < INCREMENTAL_SHARE * self.full_macs else None

    def each(self, x: torch.Tensor):
        """Evaluate the inputs x [B,C,H,W] in order; yield (b, changed) after input b, where changed
        {tap: (r0, r1, c0, c1), or None if unchanged} is where each tap's output changed since the
        input before, or is None when the whole chain ran for input b (every tap counts as changed).
        Read the activations with `activation`."""
        if self.sizes is None or self.sizes[0] != tuple(x.shape[2:]):
            self._plan_sizes(tuple(x.shape[2:]))
            self.acts = None
        b = 0
        while b < x.shape[0]:
            rects = None if self.acts is None else self._increment(x[b], self.acts[0][0])
            if rects is not None:                                   # a small step (or none)
                if rects:
                    self._step(x[b:b + 1], rects)
                    self.incremental_passes += 1
                yield b, {t: rects[t + 1] if rects else None for t in self.taps}
                b += 1
                continue
            end = b + 1                 # a run of inputs, each far from the one before it: one batched pass
            while end < x.shape[0] and self._increment(x[end], x[end - 1]) is None:
                end += 1
            outs = self._full(x[b:end])
            for i in range(b, end):
                self._current = (outs, i - b)
                yield i, None
            self.acts, self._current = [a[-1:] for a in outs], None
            self.full_passes += end - b
            b = end

    def activation(self, tap: int) -> torch.Tensor:
        """The output of layer `tap` for the input just yielded: [1,C,H,W]."""
        if self._current is not None:
            outs, i = self._current
            return outs[tap + 1][i:i + 1]
        return self.acts[tap + 1]

    def _full(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x.clone()]
        for layer in self.layers[:self.depth]:
            outs.append(layer(outs[-1]))
        return outs

    def _step(self, x: torch.Tensor, rects: list) -> None:
        """Advance the stored activations to x [1,C,H,W], which differs from the stored input only
        inside rects[0]."""
        r0, r1, c0, c1 = rects[0]
        self.acts[0][:, :, r0:r1, c0:c1] = x[:, :, r0:r1, c0:c1]
        for i, layer in enumerate(self.layers[:self.depth]):
            o0, o1, q0, q1 = rects[i + 1]
            source = self.acts[i]
            h, w = source.shape[2:]
            i0, i1 = layer.reads(o0, o1, 0)
            j0, j1 = layer.reads(q0, q1, 1)
            crop = source[:, :, max(i0, 0):min(i1, h), max(j0, 0):min(j1, w)]
            pad = (max(0, -j0), max(0, j1 - w), max(0, -i0), max(0, i1 - h))
            if any(pad):
                crop = F.pad(crop, pad, value=layer.fill)
            self.acts[i + 1][:, :, o0:o1, q0:q1] = layer.unpadded(crop)
