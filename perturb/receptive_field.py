"""Exact theoretical receptive fields of a chain of convolutions and pools, from the modules.

A layer with kernel k, stride s, padding p and dilation d computes output position o from input
positions o·s − p + d·i, i = 0..k−1, so an output interval [a, b] (per axis) reads the input
interval [a·s − p, b·s − p + d·(k−1)]. Composing this from the output back to the input, and
clipping to each layer's valid positions (padded positions hold constants, not input), gives the
rectangle of input pixels that can influence the output position. Shape-preserving layers (ReLU,
batch norm, dropout, identity: `POINTWISE`; the caller adds its own, e.g. SSD's ℓ2-Norm over
channels) leave the interval unchanged. For
dilated kernels the rectangle is the bounding box of the exact set (it may have holes), so it
is always a superset: safe for pruning.
"""
from typing import Sequence

import torch
from torch import nn

POINTWISE = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.Dropout, nn.BatchNorm2d)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _geometry(layer: nn.Module, pointwise: tuple[type, ...]):
    """(kernel, stride, padding, dilation, ceil_mode) per axis, or None for a pointwise layer."""
    if isinstance(layer, pointwise):
        return None
    if isinstance(layer, nn.Conv2d):
        if isinstance(layer.padding, str):
            raise ValueError(f"receptive field: string padding {layer.padding!r} of {layer} is not supported")
        return (_pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding), _pair(layer.dilation), False)
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        dilation = _pair(getattr(layer, "dilation", 1))
        stride = _pair(layer.stride if layer.stride is not None else layer.kernel_size)
        return (_pair(layer.kernel_size), stride, _pair(layer.padding), dilation, layer.ceil_mode)
    raise ValueError(f"receptive field: unsupported layer {type(layer).__name__} "
                     "(only Conv2d, MaxPool2d, AvgPool2d and pointwise layers; name other shape-preserving "
                     "types in `pointwise`)")


def input_span(a: int, b: int, k: int, s: int, p: int, d: int) -> tuple[int, int]:
    """The input positions [a·s − p, b·s − p + d·(k−1)] (inclusive, before clipping to the map) that
    output positions a..b of a layer with kernel k, stride s, padding p and dilation d read."""
    return a * s - p, b * s - p + d * (k - 1)


def output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's output length of a conv/pool along one axis."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:   # the last window must start inside the input
        out -= 1
    return out


def receptive_field(layers: Sequence[nn.Module], row: int, col: int, size: tuple[int, int],
                    pointwise: Sequence[type] = POINTWISE) -> tuple[int, int, int, int]:
    """Input rectangle that output position (row, col) of the chain `layers` can depend on.

    layers: modules applied in order to an input of spatial `size` (H, W); pointwise: the types of
    shape-preserving layers among them (default `POINTWISE`; add e.g. an ℓ2-Norm type). Returns
    (row0, row1, col0, col1), inclusive bounds clipped to the image (row1 < row0 if empty). Raises ValueError for a
    position outside the output map or for layers other than conv/pool/pointwise.
    """
    pointwise = tuple(pointwise)
    geometry = [g for g in (_geometry(layer, pointwise) for layer in layers) if g is not None]
    bounds = []
    for axis, (position, length) in enumerate(zip((row, col), size)):
        lengths = [length]
        for k, s, p, d, ceil_mode in geometry:
            lengths.append(output_size(lengths[-1], k[axis], s[axis], p[axis], d[axis], ceil_mode))
        if not 0 <= position < lengths[-1]:
            raise ValueError(f"output position {position} outside the output map of length {lengths[-1]}")
        a, b = position, position
        for (k, s, p, d, _), n_in in zip(reversed(geometry), reversed(lengths[:-1])):
            a, b = input_span(a, b, k[axis], s[axis], p[axis], d[axis])
            a, b = max(a, 0), min(b, n_in - 1)
            if a > b:       # the window lies in the padding: no input pixel reaches this position
                a, b = 0, -1
                break
        bounds += [a, b]
    return tuple(bounds)


def receptive_field_mask(layers: Sequence[nn.Module], row: int, col: int, size: tuple[int, int], device=None,
                         pointwise: Sequence[type] = POINTWISE) -> torch.Tensor:
    """The rectangle of `receptive_field` as a boolean mask [H,W]."""
    r0, r1, c0, c1 = receptive_field(layers, row, col, size, pointwise)
    mask = torch.zeros(size, dtype=torch.bool, device=device)
    mask[r0:r1 + 1, c0:c1 + 1] = True
    return mask
