"""The rows of the faithfulness tables: the methods, the references that bound them, the negative
controls a faithful metric must rank below every method, and the ablations of the ordering.

    methods      the run's methods (--methods), each ordering the superpixels by its mean relevance
    references   oracle        greedy superpixel order from the score itself (eval.removal.oracle): ~1
                 random        uniformly random orders (the mean of --random-orders): ~0
                 mask          the ground-truth object mask: it "knows the object", not the model
    controls     edge          Sobel magnitude of the image (skimage.filters.sobel): structure, no model
                 box-gaussian  a Gaussian centred on the predicted box, σ = a quarter of its width and
                               height: where the object is, no model
                 <m>-negated   each method's map negated: the model's evidence turned upside down
                 lrp-random-model   LRP-γ of the fully randomised model (eval.randomization):
                               the architecture and the input, no trained parameter
    ablations    <m>-positive  the order by R⁺ (negative relevance counts as none), <m>-abs by |R|,
                 <m>-sum       a pixel method's relevance summed (not averaged) over each superpixel

A negated map's MoRF order is the original's LeRF order and vice versa (ties broken alike), so its
rows cost no pass. Every row but the oracle is a heatmap [H,W] whose order the removal curves follow.
"""
from dataclasses import dataclass, field

import numpy as np
import torch
from skimage.color import rgb2gray
from skimage.filters import sobel

CONTROLS = ("edge", "box-gaussian", "lrp-random-model")           # and "<method>-negated"
REFERENCES = ("oracle", "random", "mask")


@dataclass
class Row:
    """A row: its kind ("method", "reference", "control", "ablation"), how superpixels are ranked
    ("mean" or "sum" of the relevance in them), whether it gets the paper's flipping curves and the
    heatmap metrics, and `make(heatmaps, image, box, mask) -> [maps]`: its heatmaps (several for the
    random row, whose maps are drawn per unit by the caller: None each; none for the oracle)."""

    name: str
    kind: str = "method"
    make: object = None
    aggregate: str = "mean"
    flipping: bool = False
    metrics: bool = False
    native_superpixels: bool = False
    maps: list = field(default_factory=list)


def edge_map(image: np.ndarray, device=None) -> torch.Tensor:
    """Sobel gradient magnitude of the image's luminance: uint8 [H,W,3] -> float [H,W]."""
    return torch.as_tensor(sobel(rgb2gray(image)), dtype=torch.float32, device=device)


def box_gaussian(box, shape, device=None) -> torch.Tensor:
    """exp(−(x − c_x)²/2σ_x² − (y − c_y)²/2σ_y²) with centre and σ = size/4 of the box (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    ys = torch.arange(shape[0], dtype=torch.float32, device=device)[:, None] + 0.5
    xs = torch.arange(shape[1], dtype=torch.float32, device=device)[None, :] + 0.5
    sx, sy = max(x2 - x1, 1.0) / 4, max(y2 - y1, 1.0) / 4
    return torch.exp(-((xs - (x1 + x2) / 2) ** 2 / (2 * sx * sx) + (ys - (y1 + y2) / 2) ** 2 / (2 * sy * sy)))


def _of(name, transform=lambda h: h):
    return lambda heatmaps, image, box, mask: [transform(heatmaps[name])]


def plan(methods, superpixel_methods, random_orders: int, has_mask: bool, oracle: bool, controls: bool,
         ablations: bool) -> list[Row]:
    """The rows of a sample, in table order (module docstring); maps are made by `with_maps`."""
    rows = [Row(m, "method", _of(m), flipping=True, metrics=True, native_superpixels=m in superpixel_methods)
            for m in methods]
    rows += [Row("oracle", "reference", lambda *a: [])] if oracle else []
    rows.append(Row("random", "reference", lambda *a: [None] * random_orders, flipping=True))
    if has_mask:
        rows.append(Row("mask", "reference", lambda heatmaps, image, box, mask: [mask.float()]))
    if controls:
        def shape(heatmaps):
            return next(iter(heatmaps.values()))
        rows += [Row("edge", "control", lambda heatmaps, image, box, mask: [edge_map(image, shape(heatmaps).device)],
                     metrics=True),
                 Row("box-gaussian", "control", lambda heatmaps, image, box, mask: [
                     box_gaussian(box, shape(heatmaps).shape, shape(heatmaps).device)], metrics=True),
                 Row("lrp-random-model", "control", _of("lrp-random-model"), metrics=True)]
        rows += [Row(f"{m}-negated", "control", _of(m, torch.neg), metrics=True,
                     native_superpixels=m in superpixel_methods) for m in methods]
    if ablations:
        for m in methods:
            rows += [Row(f"{m}-positive", "ablation", _of(m, lambda h: h.clamp(min=0))),
                     Row(f"{m}-abs", "ablation", _of(m, torch.abs))]
            if m not in superpixel_methods:
                rows.append(Row(f"{m}-sum", "ablation", _of(m), aggregate="sum"))
    return rows


def with_maps(rows: list[Row], heatmaps: dict, image, box, mask) -> list[Row]:
    """The rows with their maps. heatmaps {name: [H,W]}: the methods' maps and, for the controls, the
    randomised model's ("lrp-random-model"); image uint8 [H,W,3]; box (x1, y1, x2, y2); mask bool [H,W]."""
    for row in rows:
        row.maps = row.make(heatmaps, image, box, mask)
    return rows
