"""The SSD training objective (Liu et al. 2016, eq. 1): matching, smooth-L1 and hard-negative CE."""
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from .boxes import encode


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """[...,4] (cx, cy, w, h) -> [...,4] (x1, y1, x2, y2)."""
    return torch.cat([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], dim=-1)


def match(boxes: torch.Tensor, labels: torch.Tensor, priors: torch.Tensor, variances=(0.1, 0.2),
          threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign ground truth to priors.

    boxes [G,4] (x1,y1,x2,y2 relative), labels [G] (≥ 1), priors [P,4] (cx,cy,w,h) ->
    (prior labels [P] (0 = background), target deltas [P,4] (`ssd.encode` of the matched box)).
    Each prior takes the box it overlaps most if that IoU ≥ threshold; in addition each box takes
    its best prior (so no object goes unmatched), as in SSD.
    """
    P = priors.shape[0]
    if boxes.shape[0] == 0:
        return torch.zeros(P, dtype=torch.long, device=priors.device), torch.zeros(P, 4, device=priors.device)
    iou = box_iou(boxes, cxcywh_to_xyxy(priors))                   # [G,P]
    best_iou, best_box = iou.max(dim=0)                            # per prior
    best_prior = iou.argmax(dim=1)                                 # per box
    best_box[best_prior] = torch.arange(boxes.shape[0], device=boxes.device)
    best_iou[best_prior] = 2.0
    prior_labels = labels[best_box].clone()
    prior_labels[best_iou < threshold] = 0
    return prior_labels, encode(boxes[best_box], priors, variances)


def multibox_loss(logits: torch.Tensor, deltas: torch.Tensor, labels: torch.Tensor,
                  target_deltas: torch.Tensor, neg_pos_ratio: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(localisation loss, confidence loss), each summed and divided by the number of matched priors.

    logits [N,P,C], deltas [N,P,4] (model outputs); labels [N,P], target_deltas [N,P,4] (from `match`).
    L_loc = Σ_pos smooth-L1(deltas − targets); L_conf = Σ_{pos ∪ hard neg} CE, where the hard
    negatives of an image are its `neg_pos_ratio`·#pos background priors with the highest loss
    −log p(background).
    """
    pos = labels > 0                                               # [N,P]
    num_pos = pos.sum(dim=1, keepdim=True)                         # [N,1]
    with torch.no_grad():
        bg_loss = -F.log_softmax(logits, dim=-1)[..., 0]
        bg_loss[pos] = -float("inf")
        rank = bg_loss.argsort(dim=1, descending=True).argsort(dim=1)
        neg = rank < neg_pos_ratio * num_pos
    selected = pos | neg
    ce = F.cross_entropy(logits[selected], labels[selected], reduction="sum")
    loc = F.smooth_l1_loss(deltas[pos], target_deltas[pos], reduction="sum")
    n = num_pos.sum().clamp(min=1)
    return loc / n, ce / n
