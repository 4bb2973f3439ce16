"""The measurements of one explained detection: every metric of section 4, pixel-wise and grouped
into the image's SLIC superpixels, and the random flipping baseline."""
import zlib

import torch

import ssd
from eval import methods as explainers
from eval.metrics import auc, entropy, group, localization, pixel_flipping, random_heatmap

RANDOM_SEEDS = 5


def score_function(model, target):
    """x [B,3,H,W] -> [B]: the target's softmax probability at its prior (what pixel flipping measures)."""
    def f(x):
        logits, _ = model(x)
        return ssd.score(logits, [target], kind="probability")[:, 0]
    return f


def measure(model, item, sample, heatmap, segments, method: str, steps: int, batch_size: int) -> dict:
    """Metrics and flipping curves of one heatmap [H,W] of `sample` (an eval.samples.Sample of `item`).

    Returns {"metrics": {metric: {mode: value}}, "curves": {mode: [steps+1]}} with metrics entropy
    (eq. 4.1), entropy_binned (256 bins), auc (table 2), localization_box and localization_mask
    (table 3; None/NaN without positive relevance), modes "pixels" (the heatmap as it is) and
    "superpixels" (grouped into `segments` [H,W]). LIME and SHAP heatmaps are superpixel maps
    already: they get the "superpixels" mode only.
    """
    native = method in explainers.SUPERPIXEL_METHODS
    maps = {"superpixels": heatmap if native else group(heatmap, segments)}
    if not native:
        maps["pixels"] = heatmap
    f = score_function(model, sample.target)
    mask = item.masks[sample.gt_index]
    metrics = {"entropy": {}, "entropy_binned": {}, "auc": {}, "localization_box": {}, "localization_mask": {}}
    curves = {}
    for mode, h in maps.items():
        metrics["entropy"][mode] = entropy(h)
        metrics["entropy_binned"][mode] = entropy(h, bins=256)
        metrics["localization_box"][mode] = localization(h, sample.box)
        metrics["localization_mask"][mode] = localization(h, mask)
        curve = pixel_flipping(f, item.x, heatmap, steps, segments if mode == "superpixels" else None,
                               batch_size=batch_size)
        curves[mode] = curve.tolist()
        metrics["auc"][mode] = auc(curve)
    return {"metrics": metrics, "curves": curves}


def measure_random(model, item, sample, segments, seed: int, steps: int, batch_size: int) -> dict:
    """The random baseline of table 2: flipping curves of RANDOM_SEEDS random orders, averaged."""
    f = score_function(model, sample.target)
    shape = item.x.shape[-2:]
    curves = {}
    for mode in ("pixels", "superpixels"):
        segs = segments if mode == "superpixels" else None
        runs = [pixel_flipping(f, item.x, random_heatmap(shape, _seed(seed, sample.sample_id, k), segs,
                                                        item.x.device), steps, segs, batch_size=batch_size)
                for k in range(RANDOM_SEEDS)]
        curves[mode] = torch.stack(runs).mean(0)
    return {"metrics": {"auc": {m: auc(c) for m, c in curves.items()}},
            "curves": {m: c.tolist() for m, c in curves.items()}}


def _seed(seed: int, sample_id: str, k: int) -> int:
    return zlib.crc32(f"{seed}:{sample_id}:{k}".encode())
