"""The tag share at one granularity for every method: each map grouped into the SLIC superpixels that
LIME and SHAP use, and what a perfect map reaches there.

A superpixel is much larger than the 16×16 tag, so a map painted from superpixels can put at most a
fraction of its positive relevance on the tag, however right it is; a pixel-wise map is not bound by
that. Grouping every map into the same superpixels (eval.metrics.superpixels.group: each pixel of
superpixel s gets R_s / |s|, R_s = Σ_{p∈s} R_p) removes the difference. With s* the superpixel covering
most of the tag's pixels:

    grouped tag share   share(tag) of group(R)                       (eval.metrics.localization)
    ceiling             share(tag) of 1[s*] = |tag ∩ s*| / |s*|      all positive relevance on s*
    rank of s*          1 + #{s : v_s > v_s*}, ties averaged; v_s = R_s / |s|, the value group(R)
                        paints on s (for LIME and SHAP their own superpixel values); 1 = most relevant
    rank fraction       rank / number of superpixels

A map at the ceiling ranks s* first; the ceiling is a property of the detection's superpixels, the
same for every method.
"""
import torch

from eval import stats
from eval.metrics.localization import localization
from eval.metrics.superpixels import group, superpixel_sums

MEASURES = ("tag_grouped", "tag_rank", "tag_rank_fraction")


def tag_superpixel(segments: torch.Tensor, tag: torch.Tensor) -> int:
    """s*: the label of the superpixel covering most of the tag.  segments int [H,W], tag bool [H,W]."""
    return int(torch.bincount(segments[tag].long()).argmax())


def ceiling(segments: torch.Tensor, tag: torch.Tensor) -> float:
    """The grouped tag share of a map whose positive relevance all lies on s*: |tag ∩ s*| / |s*|."""
    on_tag_superpixel = segments == tag_superpixel(segments, tag)
    return localization(on_tag_superpixel.double(), tag)


def superpixel_values(heatmap: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """v_s = R_s / |s| of every superpixel that has pixels.  heatmap, segments [H,W] -> [S]."""
    sizes = superpixel_sums(torch.ones_like(heatmap, dtype=torch.float64), segments)
    return (superpixel_sums(heatmap.double(), segments) / sizes.clamp(min=1))[sizes > 0]


def tag_rank(heatmap: torch.Tensor, segments: torch.Tensor, tag: torch.Tensor) -> tuple[float, int]:
    """(rank of s* among the superpixels by v_s, 1 = most relevant, ties averaged; their number)."""
    present = torch.unique(segments)
    values = superpixel_values(heatmap, segments)
    ascending = stats.rankdata(values.cpu().numpy())
    position = int(torch.searchsorted(present, torch.tensor(tag_superpixel(segments, tag), device=present.device)))
    return float(len(values) + 1 - ascending[position]), len(values)


def at_superpixels(heatmap: torch.Tensor, segments: torch.Tensor, tag: torch.Tensor) -> dict:
    """The measures of one map [H,W] at the granularity of `segments` [H,W] (module docstring)."""
    rank, count = tag_rank(heatmap, segments, tag)
    return {"tag_grouped": localization(group(heatmap.double(), segments), tag), "tag_rank": rank,
            "tag_rank_fraction": rank / count}
