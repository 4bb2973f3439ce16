"""What an explanation explains: one class at one prior, and its score."""
from typing import NamedTuple, Sequence

import torch

from .checks import check_integer
from .priors import prior_location


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


def targets(detections) -> list[Target]:
    """The targets of one image's `Detections`, in detection order."""
    return [Target(int(p), int(c)) for p, c in zip(detections.priors.tolist(), detections.labels.tolist())]


def check_targets(targets_: Sequence[Target], num_priors: int, num_classes: int) -> None:
    """Raise a ValueError naming the problem if `targets_` is empty, or a target (a Target or a
    (prior, label) pair) is not two integers, its prior not in [0, num_priors) or its label not a
    class in [1, num_classes) (0 is the background)."""
    if len(targets_) == 0:
        raise ValueError("no targets to explain: the detection list is empty "
                         "(lower the score threshold or pick another image)")
    for t in targets_:
        t = t if isinstance(t, Target) else Target(*t)
        if not t.prior < num_priors:
            raise ValueError(f"target {t}: prior index out of range [0, {num_priors})")
        if t.label == 0:
            raise ValueError(f"target {t}: label 0 is the background, not a class to explain")
        if not t.label < num_classes:
            raise ValueError(f"target {t}: label out of range [1, {num_classes})")


def score(logits: torch.Tensor, targets_: Sequence[Target], kind: str = "logit") -> torch.Tensor:
    """Scores of the targets in every row of a batch.

    logits [N,P,C] -> [N,T]: the raw class logit at the target's prior (`kind="logit"`, the quantity
    the attribution methods explain) or its softmax probability over classes (`kind="probability"`,
    the quantity pixel flipping measures).
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be [N,P,C], got shape {tuple(logits.shape)}")
    check_targets(targets_, logits.shape[1], logits.shape[2])
    priors = torch.tensor([t.prior for t in targets_], device=logits.device)
    labels = torch.tensor([t.label for t in targets_], device=logits.device)
    if kind == "logit":
        return logits[:, priors, labels]
    if kind == "probability":
        return torch.softmax(logits[:, priors, :], dim=-1)[:, torch.arange(len(targets_), device=logits.device), labels]
    raise ValueError(f"unknown score kind {kind!r}: use 'logit' or 'probability'")


def head_seeds(model, kept: dict, logits: torch.Tensor, targets_: Sequence[Target]) -> list[tuple]:
    """Where each target's logit is computed, as seeds (tensor, index) for a backward pass of one image.

    logits[0, prior, label] is the output of the class head of the prior's source k, [1, A·C, F, F],
    at (0, a·C + label, i, j) (SSD.forward's reshape; ssd.prior_location gives k, i, j, a). `kept`:
    {model.cls_heads[k]: that head's output} as an explanation's hooks kept it; a target whose head
    output was not kept is seeded on `logits` [1,P,C] itself. Seeding the head leaves the other heads
    and the blocks after source k out of the backward pass."""
    C = model.config.num_classes
    seeds = []
    for t in targets_:
        k, i, j, a = prior_location(model.config, t.prior)
        head_out = kept.get(model.cls_heads[k])
        seeds.append((logits, (0, t.prior, t.label)) if head_out is None else (head_out, (0, a * C + t.label, i, j)))
    return seeds
