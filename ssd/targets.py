"""What an explanation explains: one output of the detector at one prior, and its score.

Every target is a fixed linear combination of the outputs of ONE prior p, its class logits z [C]
and its box regression d [4] (`ssd.SSD.forward`):

    s = Σ_c w_c · z_c + Σ_m v_m · d_m                       (`terms`: the non-zero w and v)

    Target(p, label)               s = z_label                  the class logit (the paper's target)
    ContrastTarget(p, label, o)    s = z_label − z_o            "why label and not o here?"
    BoxTarget(p, coordinate)       s = d_m, m = cx, cy, w, h    one regression output; the decoded
                                                                box's edges are monotone in it

so that one rule serves every kind: LRP and DeepLIFT place the weights w, v as the seed on the head
that computes each term (`head_seeds`), perturbation methods compute s from the head outputs at the
prior (`target_values`). With kind="probability" the class terms use the softmax probabilities
instead of the logits (s = p_label, or p_label − p_o); a box term has no probability and stays
the raw regression output. `missed_targets` names the prior that should have found an object the
detector missed.
"""
from typing import NamedTuple, Sequence

import torch
from torchvision.ops import box_iou

from .checks import check_integer
from .detect import predicted_boxes
from .inputs import check_input
from .priors import prior_location

COORDINATES = ("cx", "cy", "w", "h")     # the order of the regression outputs, deltas[..., 0:4]
CLS, BOX = 0, 1                          # which output a term reads: the model's (logits, deltas)


class _PriorLabel(NamedTuple):
    prior: int
    label: int


class Target(_PriorLabel):
    """One detection to explain: the class `label` (index into the logits, background is 0) at the
    prior with index `prior`. Both are ints ≥ 0 (0-d integer tensors and numpy integers are
    converted); anything else is a ValueError naming the field. `check_targets` checks the ranges."""

    __slots__ = ()

    def __new__(cls, prior, label):
        return super().__new__(cls, _index(prior, "Target prior"), _index(label, "Target label"))


def _index(value, name: str) -> int:
    """value as an int ≥ 0: an integer, or a 0-d integer tensor; ValueError naming `name` otherwise."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"{name} must be an integer ≥ 0 (a 0-d integer tensor will do), got a {value.dtype} "
                             f"tensor of shape {tuple(value.shape)}")
        value = int(value)
    return check_integer(value, name, 0)


class _PriorCoordinate(NamedTuple):
    prior: int
    coordinate: str


class BoxTarget(_PriorCoordinate):
    """The box regression output `coordinate` ("cx", "cy", "w" or "h": deltas[prior, 0…3]) at the
    prior with index `prior` (an int ≥ 0, converted as `Target`'s)."""

    __slots__ = ()

    def __new__(cls, prior, coordinate):
        return super().__new__(cls, _index(prior, "BoxTarget prior"), coordinate)


class _PriorLabels(NamedTuple):
    prior: int
    label: int
    other: int


class ContrastTarget(_PriorLabels):
    """logit[label] − logit[other] at the prior with index `prior` (ints ≥ 0, converted as `Target`'s)."""

    __slots__ = ()

    def __new__(cls, prior, label, other):
        return super().__new__(cls, _index(prior, "ContrastTarget prior"), _index(label, "ContrastTarget label"),
                               _index(other, "ContrastTarget other"))


KINDS = (Target, BoxTarget, ContrastTarget)


def as_target(t) -> Target | BoxTarget | ContrastTarget:
    """A target of any kind as it is; a plain (prior, label) pair as a `Target`."""
    return t if isinstance(t, KINDS) else Target(*t)


def terms(t) -> tuple[tuple[int, int, float], ...]:
    """The target as (output, channel, weight) terms of its prior's outputs: output CLS (logits,
    channel = class) or BOX (deltas, channel = coordinate index), see the module docstring."""
    if isinstance(t, BoxTarget):
        return ((BOX, COORDINATES.index(t.coordinate), 1.0),)
    if isinstance(t, ContrastTarget):
        return ((CLS, t.label, 1.0), (CLS, t.other, -1.0))
    return ((CLS, t.label, 1.0),)


def targets(detections) -> list[Target]:
    """The targets of one image's `Detections`, in detection order."""
    return [Target(int(p), int(c)) for p, c in zip(detections.priors.tolist(), detections.labels.tolist())]


def check_targets(targets_: Sequence[Target], num_priors: int, num_classes: int) -> None:
    """Raise a ValueError naming the problem if `targets_` is empty, or a target (of any kind, or a
    (prior, label) pair) has its prior not in [0, num_priors), its label not a class in
    [1, num_classes) (0 is the background; a contrast's label may be it), a contrast's other class
    out of [0, num_classes) or equal to its label, or a box target an unknown coordinate."""
    if len(targets_) == 0:
        raise ValueError("no targets to explain: the detection list is empty "
                         "(lower the score threshold or pick another image)")
    for t in targets_:
        t = as_target(t)
        if not t.prior < num_priors:
            raise ValueError(f"target {t}: prior index out of range [0, {num_priors})")
        if isinstance(t, BoxTarget):
            if t.coordinate not in COORDINATES:
                raise ValueError(f"target {t}: coordinate must be one of {COORDINATES}")
            continue
        if t.label == 0 and not isinstance(t, ContrastTarget):      # a contrast may ask "why background here?"
            raise ValueError(f"target {t}: label 0 is the background, not a class to explain")
        if not t.label < num_classes:
            raise ValueError(f"target {t}: label out of range [1, {num_classes})")
        if isinstance(t, ContrastTarget) and not (t.other < num_classes and t.other != t.label):
            raise ValueError(f"target {t}: other must be a class in [0, {num_classes}) other than label")


def weights(targets_: Sequence, num_classes: int, device=None, dtype=torch.float32):
    """The terms of T targets as weight matrices (w [T,C] on the logits, v [T,4] on the deltas)."""
    w = torch.zeros(len(targets_), num_classes, dtype=dtype)
    v = torch.zeros(len(targets_), len(COORDINATES), dtype=dtype)
    for row, t in enumerate(targets_):
        for output, channel, weight in terms(t):
            (w if output == CLS else v)[row, channel] += weight
    return w.to(device), v.to(device)


def check_kind(kind: str) -> str:
    """`kind` if it is a score kind ("logit" or "probability"); ValueError naming it otherwise."""
    if kind not in ("logit", "probability"):
        raise ValueError(f"unknown score kind {kind!r}: use 'logit' or 'probability'")
    return kind


def target_values(logits: torch.Tensor, deltas: torch.Tensor | None, targets_: Sequence,
                  kind: str = "logit") -> torch.Tensor:
    """s = w·z + v·d of each target (module docstring) from its own prior's outputs: logits [N,T,C]
    and deltas [N,T,4] at the targets' priors (deltas may be None when no target reads them) -> [N,T].
    kind "logit": z = the logits; "probability": z = their softmax over the classes."""
    check_kind(kind)
    w, v = weights(targets_, logits.shape[-1], logits.device, logits.dtype)
    z = logits if kind == "logit" else torch.softmax(logits, dim=-1)
    s = (z * w).sum(-1)
    if bool(v.any()):
        if deltas is None:
            raise ValueError("box targets need the box regression output: pass the model output (logits, deltas)")
        s = s + (deltas * v).sum(-1)
    return s


def score(output, targets_: Sequence, kind: str = "logit") -> torch.Tensor:
    """Scores of the targets in every row of a batch: output = the model output (logits [N,P,C],
    deltas [N,P,4]), or the logits alone when every target is a class target -> [N,T].

    The raw value of each target (`kind="logit"`, the quantity the attribution methods explain) or,
    for class terms, with softmax probabilities (`kind="probability"`, the quantity pixel flipping
    measures); see `target_values`.
    """
    logits, deltas = output if isinstance(output, (tuple, list)) else (output, None)
    if logits.dim() != 3:
        raise ValueError(f"logits must be [N,P,C], got shape {tuple(logits.shape)}")
    targets_ = [as_target(t) for t in targets_]
    check_targets(targets_, logits.shape[1], logits.shape[2])
    priors = torch.tensor([t.prior for t in targets_], device=logits.device)
    return target_values(logits[:, priors], None if deltas is None else deltas[:, priors], targets_, kind)


def head_seeds(model, kept: dict, output, targets_: Sequence) -> list[list[tuple]]:
    """Where each target is computed, as seeds for a backward pass of one image: per target its
    terms as (tensor, index, weight).

    logits[0, prior, c] is the output of the class head of the prior's source k, [1, A·C, F, F], at
    (0, a·C + c, i, j) (SSD.forward's reshape; ssd.prior_location gives k, i, j, a); deltas[0, prior,
    m] that of the box head, [1, A·4, F, F], at (0, a·4 + m, i, j). `kept`: {head module: its output}
    as an explanation's hooks kept it; a term whose head output was not kept is seeded on the model
    output (logits, deltas) itself. Seeding the head leaves the other heads and the blocks after
    source k out of the backward pass."""
    heads = (model.cls_heads, model.box_heads)
    width = (model.config.num_classes, len(COORDINATES))
    seeds = []
    for t in targets_:
        k, i, j, a = prior_location(model.config, t.prior)
        entries = []
        for out, channel, weight in terms(t):
            head_out = kept.get(heads[out][k])
            if head_out is not None:
                entries.append((head_out, (0, a * width[out] + channel, i, j), weight))
            elif isinstance(output, (tuple, list)) or out == CLS:
                entries.append((output[out] if isinstance(output, (tuple, list)) else output, (0, t.prior, channel),
                                weight))
            else:
                raise ValueError(f"target {t}: its box head's output was not kept and no deltas were given")
        seeds.append(entries)
    return seeds


@torch.no_grad()
def missed_targets(model, x: torch.Tensor, detections, gt_boxes, gt_labels, iou: float = 0.5) -> list[Target]:
    """"What the detector saw where it should have found this object": one Target per ground-truth
    object of x [1,3,S,S] that no detection of its class matches at IoU ≥ `iou` — the prior whose
    predicted box (`ssd.predicted_boxes` of the model's regression on x) overlaps the object most,
    and the object's class; in the order of the objects.

    detections: the image's `Detections`; gt_boxes [G,4] (x1, y1, x2, y2 in model-input pixels),
    gt_labels [G] (class indices). A missed object that no predicted box overlaps gets the first
    prior (all overlaps are 0). `missed_objects` also names the object of each."""
    return [t for _, t in missed_objects(model, x, detections, gt_boxes, gt_labels, iou)]


def missed_objects(model, x: torch.Tensor, detections, gt_boxes, gt_labels, iou: float = 0.5) -> list[tuple]:
    """[(object index g, its Target)] of the missed objects (`missed_targets`), in the order of the objects."""
    check_input(model, x)
    if x.shape[0] != 1:
        raise ValueError(f"missed_targets takes one image x [1,3,S,S], got shape {tuple(x.shape)}")
    if not 0 <= iou <= 1:
        raise ValueError(f"iou must be in [0, 1], got {iou}")
    boxes = torch.as_tensor(gt_boxes, dtype=torch.float32, device=x.device).reshape(-1, 4)
    labels = torch.as_tensor(gt_labels, dtype=torch.long, device=x.device).reshape(-1)
    if len(labels) != len(boxes):
        raise ValueError(f"gt_boxes [G,4] and gt_labels [G] must have the same G, got {len(boxes)} and {len(labels)}")
    found = torch.zeros(len(boxes), dtype=torch.bool, device=x.device)
    if len(detections) and len(boxes):
        overlap = box_iou(boxes, detections.boxes.float().to(x.device))                       # [G,D]
        same = labels[:, None] == detections.labels.to(x.device)[None, :]
        found = ((overlap >= iou) & same).any(dim=1)
    if bool(found.all()):
        return []
    predicted = predicted_boxes(model.config, model(x)[1])[0].float()                         # [P,4]
    best = box_iou(boxes[~found], predicted).argmax(dim=1)
    objects = torch.nonzero(~found).flatten().tolist()
    return [(g, Target(int(p), int(c))) for g, p, c in zip(objects, best.tolist(), labels[~found].tolist())]
