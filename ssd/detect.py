"""Post-processing: from raw outputs to detections (softmax, threshold, top-k, NMS)."""
from dataclasses import dataclass

import torch
from torchvision.ops import batched_nms

from .boxes import decode
from .inputs import check_input
from .priors import priors as make_priors


@dataclass
class Detections:
    """Detections of one image: boxes [K,4] (x1,y1,x2,y2 in model-input pixels), scores [K] (softmax
    probability), labels [K] (class index, never the background 0), priors [K] (index of the prior
    whose outputs gave the box and the score), sorted by decreasing score."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    priors: torch.Tensor

    def __len__(self) -> int:
        return len(self.scores)


def predicted_boxes(config, deltas: torch.Tensor) -> torch.Tensor:
    """The box every prior predicts, as detections report it: deltas [N,P,4] -> boxes [N,P,4]
    (x1, y1, x2, y2 in model-input pixels, decoded against the priors and clipped to the image)."""
    return decode(deltas, make_priors(config, deltas.device), config.variances).clamp(0, 1) * config.size


@torch.no_grad()
def detect(model, x: torch.Tensor, score_threshold: float = None, nms_iou: float = None,
           top_k: int = None, max_detections: int = None) -> list[Detections]:
    """Detections for each image of x [N,3,S,S]; thresholds default to `model.config`'s.

    Per image: p = softmax(logits) [P,C]; per class c ≥ 1 keep the `top_k` priors with p > threshold;
    class-wise NMS at IoU `nms_iou`; keep the `max_detections` best. Vectorised over priors and classes.
    x is checked first (`ssd.check_input`), and so are the thresholds: score_threshold in [0, 1],
    nms_iou in [0, 1], top_k and max_detections integers ≥ 1 (ValueError naming the one out of range).
    """
    cfg = model.config
    score_threshold = cfg.score_threshold if score_threshold is None else score_threshold
    nms_iou = cfg.nms_iou if nms_iou is None else nms_iou
    top_k = cfg.top_k if top_k is None else top_k
    max_detections = cfg.max_detections if max_detections is None else max_detections
    if not 0 <= score_threshold <= 1:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
    if not 0 <= nms_iou <= 1:
        raise ValueError(f"nms_iou must be in [0, 1], got {nms_iou}")
    for name, value in (("top_k", top_k), ("max_detections", max_detections)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {value}")
    check_input(model, x)
    logits, deltas = model(x)
    probs = torch.softmax(logits, dim=-1)[..., 1:]                                 # [N,P,C-1]
    boxes = predicted_boxes(cfg, deltas)
    result = []
    for p, b in zip(probs, boxes):
        k = min(top_k, p.shape[0])
        scores, prior_idx = p.topk(k, dim=0)                                       # [k,C-1]
        labels = torch.arange(1, p.shape[1] + 1, device=x.device).expand(k, -1)
        keep = scores > score_threshold
        scores, prior_idx, labels = scores[keep], prior_idx[keep], labels[keep]
        kept = batched_nms(b[prior_idx], scores, labels, nms_iou)[:max_detections]
        result.append(Detections(b[prior_idx[kept]], scores[kept], labels[kept], prior_idx[kept]))
    return result
