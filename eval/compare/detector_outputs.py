"""What a detector outputs beyond a class logit, as eval.compare records it (issue "explain everything
a detector outputs"): the box, the objects it missed, and how the fixed score of LIME compares with
D-RISE's matched one.

- box maps: for the first sample of the first `BOX_IMAGES` images, LRP-γ + ♭ of its class logit and
  of the four regression outputs of its prior (ssd.BoxTarget cx, cy, w, h): why the box is where it
  is, beside why it is that class; stored as heatmap/lrp-box-<coordinate>, drawn by the report.
- missed objects: for every image, the ground-truth objects no detection of their class matches at
  IoU ≥ 0.5 (ssd.missed_targets: the prior whose decoded box overlaps the object most, its class),
  explained by LRP-γ + ♭: "what the detector saw where it should have found this object"; stored
  with the image's first sample (missed_boxes [M,4], missed_labels [M], heatmap/missed-<k>).
- fixed vs matched: LIME with the fixed score (the target's own prior, the paper's) against LIME
  with the matched score (the best-matching detection of each perturbed input, eval --matched-images
  images): the Spearman ρ of the two maps' superpixel values, and the share of perturbed inputs
  whose best match moved off the target's prior.
"""
import torch

import perturb
import ssd
from eval.metrics.superpixels import superpixel_sums
from eval.stats import spearman

BOX_IMAGES = 2


def box_maps(method, model, x: torch.Tensor, target) -> dict:
    """{"lrp-box-<coordinate>": [H,W]} of the four box outputs at the target's prior (one call)."""
    maps = method.explain(model, x, [ssd.BoxTarget(target.prior, c) for c in ssd.COORDINATES])
    return {f"lrp-box-{c}": m for c, m in zip(ssd.COORDINATES, maps)}


def missed(method, model, item) -> dict:
    """The arrays of the image's missed objects (module docstring): missed_boxes [M,4] (model-input
    pixels), missed_labels [M], missed_priors [M], and heatmap/missed-<k> [H,W] for each."""
    if item.gt_boxes is None or len(item.gt_boxes) == 0:
        return {"missed_boxes": torch.zeros(0, 4), "missed_labels": torch.zeros(0, dtype=torch.long),
                "missed_priors": torch.zeros(0, dtype=torch.long)}
    detections = ssd.detect(model, item.x)[0]
    found = [(t, item.gt_boxes[g]) for g, t in ssd.missed_objects(model, item.x, detections, item.gt_boxes,
                                                                  item.gt_labels)]
    arrays = {"missed_boxes": torch.stack([b for _, b in found]) if found else torch.zeros(0, 4),
              "missed_labels": torch.tensor([t.label for t, _ in found], dtype=torch.long),
              "missed_priors": torch.tensor([t.prior for t, _ in found], dtype=torch.long)}
    if found:
        maps = method.explain(model, item.x, [t for t, _ in found])
        arrays.update({f"heatmap/missed-{k}": m for k, m in enumerate(maps)})
    return arrays


def superpixel_values(heatmap: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """The mean of a map over each superpixel: [S] (a LIME/SHAP map's own values)."""
    sizes = torch.bincount(segments.reshape(-1).long()).to(heatmap.dtype)
    return superpixel_sums(heatmap, segments) / sizes


def fixed_vs_matched(method, model, x: torch.Tensor, targets, segments: torch.Tensor, fixed_maps) -> list[dict]:
    """Per target: {"spearman": ρ of the fixed and the matched map's superpixel values, "moved_share":
    share of the perturbed inputs whose best match left the target's prior}."""
    matched = perturb.matched_score(model, x, targets)
    maps = method.explain(model, x, targets, segments, score=matched)
    moved = matched.moved_share().tolist()
    return [{"spearman": spearman(superpixel_values(f, segments).double().cpu().numpy(),
                                  superpixel_values(m, segments).double().cpu().numpy()),
             "moved_share": share} for f, m, share in zip(fixed_maps, maps, moved)]
