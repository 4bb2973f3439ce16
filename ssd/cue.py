"""The Clever-Hans cue effect of a detector, measured by true removal of the tag: `python -m ssd.cue`.

    python -m ssd.cue --weights shapes-hans --seed 3000 --images 200

The cue class and the tag are those of `ssd.data.tags`. On the "hans-other" images (the tag
attached to every object of the other classes) each detection of the cue class with probability
p ≥ threshold whose box matches a tagged object (IoU ≥ 0.5 with the box of its visible mask; the
best-scoring detection per object) is a *cue detection*. Its object's tag is truly removed
(`Scene.render(remove_tags=[j])`: the image as if that tag had never been painted) and the cue
probability p' is read again at the same prior. A cue detection with p' < threshold is a
*Clever-Hans detection*: it exists because of the tag. As control, the same on the "hans" images
(the training variant): detections of the cue class on tagged objects of the cue class, whose shape
is present, should survive the removal.

Reported per variant: tagged objects, cue detections, Clever-Hans detections, and the mean drop
p − p' over the cue detections with a 95 % bootstrap interval that resamples images.
"""
import argparse
import sys
import time
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torchvision.ops import box_iou

from .data.shapes import SHAPES
from .data.synthetic import make_scene
from .data.tags import CUE_CATEGORY, window
from .detect import detect
from .load import load
from .preprocess import preprocess


class CueDetection(NamedTuple):
    """A cue-class detection on a tagged object: image index, object index, the object's category
    id, the prior, the cue probability with the tag (p_tag) and with the tag truly removed."""

    image: int
    object: int
    category_id: int
    prior: int
    p_tag: float
    p_removed: float


def cue_detections(model, seed: int, indices: Sequence[int], variant: str = "hans-other",
                   threshold: float = 0.5, iou: float = 0.5, device=None) -> tuple[list, int]:
    """(cue detections of images `indices` of the synthetic set `seed` in `variant`, number of
    tagged objects in those images); see the module docstring."""
    cue = model.config.class_names.index(SHAPES[CUE_CATEGORY - 1])
    out, tagged = [], 0
    for i in indices:
        scene = make_scene(seed, i, variant=variant)
        size = scene.noise.shape[0]
        objects = [j for j, o in enumerate(scene.objects) if o.tag is not None]
        tagged += len(objects)
        if not objects:
            continue
        det = detect(model, preprocess(scene.render(), model.config, device), score_threshold=threshold)[0]
        det_cue = torch.nonzero(det.labels == cue).flatten()
        if len(det_cue) == 0:
            continue
        boxes = torch.tensor([_box(scene.objects[j].mask) for j in objects], dtype=torch.float32)
        overlap = box_iou(det.boxes[det_cue].cpu(), boxes * model.config.size / size)          # [D,T]
        found = {}
        for d in range(len(det_cue)):  # detections are sorted by decreasing score: the first match wins
            t = int(overlap[d].argmax())
            if overlap[d, t] >= iou and objects[t] not in found:
                found[objects[t]] = int(det.priors[det_cue[d]]), float(det.scores[det_cue[d]])
        if not found:
            continue
        removed = preprocess([scene.render(remove_tags=[j]) for j in found], model.config, device)
        with torch.no_grad():
            probs = torch.softmax(model(removed)[0], dim=-1)                                    # [T,P,C]
        for row, (j, (prior, p)) in enumerate(found.items()):
            out.append(CueDetection(i, j, scene.objects[j].category_id, prior, p, float(probs[row, prior, cue])))
    return out, tagged


def _box(mask: np.ndarray) -> tuple:
    """(x1, y1, x2, y2) of a mask's tight box in pixel edges (x2 = x_max + 1)."""
    r0, r1, c0, c1 = window(mask)
    return c0, r0, c1, r1


def mean_interval(values: Sequence[float], groups: Sequence[int], rounds: int = 2000, seed: int = 0) -> tuple:
    """(mean, 2.5 %, 97.5 %) of `values`, the interval from a bootstrap that resamples the groups
    (images) with replacement and pools their values."""
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    ids, inverse = np.unique(groups, return_inverse=True)
    sums, counts = np.bincount(inverse, values), np.bincount(inverse)
    pick = np.random.default_rng(seed).integers(len(ids), size=(rounds, len(ids)))
    means = sums[pick].sum(1) / counts[pick].sum(1)
    return float(values.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def summary(found: list, tagged: int, threshold: float) -> dict:
    """Counts and the mean drop p_tag − p_removed (with its image-clustered interval) of cue detections."""
    drops = [d.p_tag - d.p_removed for d in found]
    hans = [d for d in found if d.p_removed < threshold]
    mean, lo, hi = mean_interval(drops, [d.image for d in found])
    return {"tagged_objects": tagged, "cue_detections": len(found), "clever_hans": len(hans),
            "mean_drop": mean, "ci95": [lo, hi],
            "mean_drop_clever_hans": float(np.mean([d.p_tag - d.p_removed for d in hans])) if hans else float("nan")}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description="The Clever-Hans cue effect of a detector (true removal of the tag).")
    p.add_argument("--weights", default="shapes-hans", help="an embedded model's name or a checkpoint path")
    p.add_argument("--seed", type=int, default=3000, help="seed of the test images (not a training seed)")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--threshold", type=float, default=0.5, help="detection threshold on the probability")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    model = load(a.weights, device=a.device)
    result = {}
    for variant, what in (("hans-other", "tag on other classes"), ("hans", "control: tag on the cue class")):
        t0 = time.time()
        found, tagged = cue_detections(model, a.seed, range(a.images), variant, a.threshold, device=a.device)
        s = result[variant] = summary(found, tagged, a.threshold)
        print(f"{variant} ({what}), {a.images} images (seed {a.seed}), {time.time() - t0:.0f} s: "
              f"{s['tagged_objects']} tagged objects, {s['cue_detections']} {SHAPES[CUE_CATEGORY - 1]} detections "
              f"(p ≥ {a.threshold}) on them, {s['clever_hans']} vanish when the tag is removed; mean drop "
              f"{s['mean_drop']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]", file=sys.stdout, flush=True)
    return result


if __name__ == "__main__":
    main()
