"""Cue detections of a Clever-Hans detector, verified causally by true removal of the tag, and the
shares of a heatmap's positive relevance on the tag, the object and elsewhere.

The embedded model "shapes-hans" was trained on synthetic images in which every object of one class
(the cue class, ssd.data.tags.CUE_CATEGORY) carries a small fixed tag and no other object does. On
test images where the tag is attached to objects of the *other* classes ("hans-other"), a detection
of the cue class (probability p ≥ 0.5) whose box matches a tagged object is a *cue detection*; its
tag is truly removed and the cue probability p' read again at the same prior. p' < 0.5: a
*Clever-Hans detection* (it exists because of the tag; drop p − p'). Control: on the training variant
("hans"), cue-class objects with their tag, whose shape is there.

Shares of a heatmap R (eval.metrics.localization):

    share(region) = Σ_{p∈region} R⁺_p / Σ_p R⁺_p,   area-normalised: share / (|region| / |image|).
"""
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

import ssd
from eval import stats
from eval.metrics.localization import localization

HANS_SEED = 3000            # test images of the Clever-Hans check (never used in training)
REGIONS = ("tag", "object", "elsewhere")
SHARES = REGIONS + tuple(f"{r}_per_area" for r in REGIONS)          # the keys of `shares`


@dataclass
class CueSample:
    """A cue-class detection on a tagged object: variant and image index, the object j, the target,
    the probabilities with the tag and with it truly removed, the model input x [1,3,S,S], and the
    tag and object masks bool [S,S] at model resolution."""

    variant: str
    index: int
    object: int
    category: str
    target: ssd.Target
    p_tag: float
    p_removed: float
    box: list
    x: torch.Tensor
    tag: torch.Tensor
    mask: torch.Tensor

    @property
    def sample_id(self) -> str:
        return f"{self.variant}-{self.index}-{self.object}"

    @property
    def image_id(self) -> str:
        return f"{self.variant}-{self.index}"

    @property
    def drop(self) -> float:
        return self.p_tag - self.p_removed


def _at_model_size(mask: np.ndarray, size: int, device) -> torch.Tensor:
    m = torch.as_tensor(mask, device=device)
    if m.shape != (size, size):
        m = torch.nn.functional.interpolate(m[None, None].float(), size=(size, size), mode="nearest")[0, 0] > 0.5
    return m.bool()


@torch.no_grad()
def cue_detections(model, seed: int, index: int, variant: str, threshold: float = 0.5, iou: float = 0.5,
                   device=None) -> tuple[list[CueSample], int]:
    """(cue detections, number of tagged objects) of image `index` of the synthetic set `seed` in
    `variant` (module docstring): the best-scoring cue detection per tagged object with box IoU ≥
    `iou`, its tag truly removed."""
    from ssd.data.shapes import SHAPES
    from ssd.data.synthetic import make_scene
    from ssd.data.tags import CUE_CATEGORY
    cfg = model.config
    cue = cfg.class_names.index(SHAPES[CUE_CATEGORY - 1])
    scene = make_scene(seed, index, size=cfg.size, variant=variant)
    tagged = [j for j, o in enumerate(scene.objects) if o.tag is not None]
    if not tagged:
        return [], 0
    x = ssd.preprocess(scene.render(), cfg, device=device)
    det = ssd.detect(model, x, score_threshold=threshold)[0]
    on_cue = torch.nonzero(det.labels == cue).flatten()
    if len(on_cue) == 0:
        return [], len(tagged)
    scale = cfg.size / scene.noise.shape[0]
    boxes = torch.tensor([ssd.mask_box(scene.objects[j].mask) for j in tagged], dtype=torch.float32, device=x.device) * scale
    overlap = box_iou(det.boxes[on_cue], boxes)                                           # [D,T]
    found = {}
    for d in range(len(on_cue)):                 # detections come best first: the first match wins
        t = int(overlap[d].argmax())
        if overlap[d, t] >= iou and tagged[t] not in found:
            found[tagged[t]] = int(on_cue[d])
    if not found:
        return [], len(tagged)
    removed = ssd.preprocess([scene.render(remove_tags=[j]) for j in found], cfg, device=device)
    probs = torch.softmax(model(removed)[0], dim=-1)                                       # [T,P,C]
    out = []
    for row, (j, d) in enumerate(found.items()):
        prior = int(det.priors[d])
        out.append(CueSample(variant, index, j, SHAPES[scene.objects[j].category_id - 1], ssd.Target(prior, cue),
                             float(det.scores[d]), float(probs[row, prior, cue]), det.boxes[d].tolist(), x,
                             _at_model_size(scene.objects[j].tag, cfg.size, x.device),
                             _at_model_size(scene.objects[j].mask, cfg.size, x.device)))
    return out, len(tagged)


def select(model, seed: int, n_cue: int | None, n_control: int | None, max_images: int, threshold: float = 0.5,
           device=None, log=sys.stderr) -> tuple[list[CueSample], dict]:
    """Cue detections of the "hans-other" images 0, 1, … until `n_cue` are found (Clever-Hans or
    not), and `n_control` controls of the "hans" images (None: every one in `max_images` images);
    plus the counts of the causal check."""
    cue, control = [], []
    visited, tagged = {"hans-other": 0, "hans": 0}, {"hans-other": 0, "hans": 0}
    for variant, wanted, found in (("hans-other", n_cue, cue), ("hans", n_control, control)):
        for index in range(max_images):
            if wanted is not None and len(found) >= wanted:
                break
            visited[variant] += 1
            more, n_tagged = cue_detections(model, seed, index, variant, threshold, device=device)
            found += more
            tagged[variant] += n_tagged
        if wanted is not None:
            del found[wanted:]
    hans = [s for s in cue if s.p_removed < threshold]
    counts = {"images_searched": visited, "tagged_objects": tagged, "cue_detections": len(cue),
              "clever_hans": len(hans),
              "controls": len(control), "controls_surviving": sum(s.p_removed >= threshold for s in control),
              "mean_drop_clever_hans": stats.cluster_bootstrap([s.drop for s in hans], [s.image_id for s in hans]),
              "mean_drop_cue": stats.cluster_bootstrap([s.drop for s in cue], [s.image_id for s in cue]),
              "mean_drop_control": stats.cluster_bootstrap([s.drop for s in control], [s.image_id for s in control])}
    print(f"eval.hans: {len(cue)} cue detections on other classes' tagged objects in {visited['hans-other']} "
          f"images, {len(hans)} Clever-Hans (vanish when the tag is truly removed); {len(control)} controls",
          file=log, flush=True)
    return cue + control, counts


def shares(heatmap: torch.Tensor, tag: torch.Tensor, mask: torch.Tensor) -> dict:
    """Share of the positive relevance on the tag, the object and elsewhere, and each divided by its
    region's share of the image (1 = no more than a uniform map)."""
    on_tag, on_object = localization(heatmap, tag), localization(heatmap, mask & ~tag)
    out = {"tag": on_tag, "object": on_object, "elsewhere": 1 - on_tag - on_object}
    n = heatmap.numel()
    areas = {"tag": int(tag.sum()) / n, "object": int((mask & ~tag).sum()) / n}
    areas["elsewhere"] = 1 - areas["tag"] - areas["object"]
    out.update({f"{r}_per_area": out[r] / areas[r] if areas[r] > 0 else None for r in REGIONS})
    return out
