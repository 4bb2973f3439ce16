"""Control rows: the same tagged objects explained under models for which the tag means nothing.

    shapes        the plain model ssd.load("shapes"), trained without tags: its own detection of the
                  object, i.e. the best-scoring detection of the object's true class (p ≥ the score
                  threshold) whose box matches the object's box at IoU ≥ 0.5, if it has one
    random-model  shapes-hans with every parameter re-drawn from its initialisation
                  (eval.randomization.randomized over all of ssd_levels): the cue detection's
                  own target (prior, label)

each explained by LRP-γ + ♭ (the paper's setting, eval.methods "lrp"). A tag share that is high for
shapes-hans and low under both controls comes from what shapes-hans learnt, not from the tag's pixels
or from the architecture alone.
"""
import torch
from torchvision.ops import box_iou

import ssd

CONTROLS = ("shapes", "random-model")
METHOD = "lrp"
LABELS = {"shapes": "control model: plain shapes, its own detection (LRP-γ)",
          "random-model": "control model: shapes-hans fully randomised, same target (LRP-γ)"}


def control_models(model, init_seed: int, device=None) -> dict:
    """{"shapes": the plain model, "random-model": `model` with every level re-drawn under `init_seed`}."""
    from eval.randomization import randomized, ssd_levels
    plain = ssd.load("shapes", device=device)
    for p in plain.parameters():                  # explanations need gradients of the input only
        p.requires_grad_(False)
    return {"shapes": plain, "random-model": randomized(model, ssd_levels(model), init_seed)}


@torch.no_grad()
def own_detection(model, x: torch.Tensor, category: str, mask: torch.Tensor, threshold: float,
                  iou: float = 0.5) -> tuple[ssd.Target, float] | None:
    """(target, p) of the best-scoring detection by `model` on x [1,3,S,S] of class `category` whose box
    has IoU ≥ `iou` with the tight box of the object's mask bool [S,S]; None if there is none."""
    label = model.config.class_names.index(category)
    det = ssd.detect(model, x, score_threshold=threshold)[0]
    mine = torch.nonzero(det.labels == label).flatten()
    box = torch.tensor([ssd.mask_box(mask)], dtype=torch.float32, device=x.device)
    hits = mine[box_iou(det.boxes[mine], box)[:, 0] >= iou]                 # detections come best first
    return (ssd.Target(int(det.priors[hits[0]]), label), float(det.scores[hits[0]])) if len(hits) else None


def control_target(name: str, models: dict, sample, threshold: float) -> tuple[ssd.Target, float | None] | None:
    """The target each control explains for a CueSample (module docstring), with the control model's
    detection probability where it has its own detection; None when the plain model has none."""
    if name == "shapes":
        return own_detection(models["shapes"], sample.x, sample.category, sample.mask, threshold)
    return sample.target, None
