"""The matched score of SSD targets (D-RISE, Petsiuk et al. 2021): how well a perturbed input still
finds each original detection, wherever in the output it finds it.

The fixed score reads a target at its own prior. A perturbation may instead move the detection: the
object is then found by a neighbouring prior (shifted, or of another shape) while the target's own
prior loses it, and the fixed score calls the pixels that moved it important. D-RISE compares the
original detection t — its prior's predicted box b_t and class-probability vector π_t (softmax over
all classes, background included) on the unperturbed image — with every detection q of the
perturbed input (its predicted boxes b_q and vectors π_q) and keeps the best match:

    s_t = max_q IoU(b_t, b_q) · cos(π_t, π_q)                  ∈ [0, 1], 1 on the unperturbed input

Detections here are all P priors of the perturbed input, before threshold and NMS: the maximum over
every proposal (as D-RISE takes it over all of a detector's proposals) never loses a weakened
detection below a threshold, needs no top-k by a class (so one score serves targets of any kind),
and costs B·P·T·(C + 4) multiply-adds per batch, little next to the forward pass. The background
entry of π plays D-RISE's objectness: a prior that turned to background matches poorly.

The score needs full forward passes (the best match may lie anywhere), so SHAP's receptive-field
pruning does not apply. For every input scored the best match is recorded (`best` [B,T]) and
whether it moved off the target's own prior (the own prior's similarity is below the best):
`moved_share()` gives, per target, the share of scored inputs where it moved.

The matched score explains the detection at the target's prior: for a BoxTarget or a
ContrastTarget it is that prior's detection (box and class vector) that is matched, not the kind's
own value (use the fixed score for that).
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

import ssd


class MatchedScore:
    """f(x [B,3,S,S]) -> [B,T]: the D-RISE similarity s_t of each target's original detection (module
    docstring) to the detections of each input. model: an ssd.SSD; x [1,3,S,S] the unperturbed input;
    targets of any kind (their priors name the detections). After each call `best` holds the best
    matching prior of every input [B,T] and `moved` lists bool [B,T] per call."""

    def __init__(self, model: "ssd.SSD", x: torch.Tensor, targets: Sequence):
        ssd.check_input(model, x)
        if x.shape[0] != 1:
            raise ValueError(f"the matched score needs one unperturbed image x [1,3,S,S], got shape {tuple(x.shape)}")
        self.model, self.targets = model, [ssd.as_target(t) for t in targets]
        ssd.check_targets(self.targets, len(ssd.priors(model.config)), model.config.num_classes)
        self.priors = torch.tensor([t.prior for t in self.targets], device=x.device)           # [T]
        with torch.no_grad():
            boxes, probs = self.detections(x)
        self.boxes, self.probs = boxes[0, self.priors], probs[0, self.priors]                # [T,4], [T,C]
        self.best, self.moved = None, []

    def detections(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every prior's detection of x [B,3,S,S]: predicted boxes [B,P,4] (pixels) and unit-length
        class-probability vectors [B,P,C]."""
        logits, deltas = self.model(x)
        return ssd.predicted_boxes(self.model.config, deltas), F.normalize(torch.softmax(logits, dim=-1), dim=-1)

    def similarity(self, x: torch.Tensor) -> torch.Tensor:
        """IoU(b_t, b_q) · cos(π_t, π_q) of every target t and prior q of x [B,3,S,S]: [B,T,P]."""
        boxes, probs = self.detections(x)
        B, P = boxes.shape[:2]
        iou = box_iou(self.boxes, boxes.reshape(B * P, 4)).view(-1, B, P).transpose(0, 1)   # [B,T,P]
        cosine = torch.einsum("tc,bpc->btp", self.probs, probs)
        return torch.nan_to_num(iou, nan=0.0) * cosine

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        ssd.check_input(self.model, x)
        similarity = self.similarity(x)
        score, self.best = similarity.max(dim=-1)                                              # [B,T]
        own = similarity.gather(2, self.priors.expand(x.shape[0], -1)[..., None])[..., 0]
        self.moved.append((own < score).cpu())
        return score

    def moved_share(self) -> torch.Tensor:
        """Per target, the share of the inputs scored so far whose best match is not its own prior: [T]."""
        if not self.moved:
            raise ValueError("no input scored yet: call the score function first")
        return torch.cat(self.moved).double().mean(dim=0)


def matched_score(model: "ssd.SSD", x: torch.Tensor, targets: Sequence) -> MatchedScore:
    """The D-RISE matched score of the targets' detections on the unperturbed image x [1,3,S,S]:
    f(x̃ [B,3,S,S]) -> [B,T] (`MatchedScore`; its `moved_share()` counts where the best match moved)."""
    return MatchedScore(model, x, targets)
