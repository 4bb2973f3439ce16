"""The causal split of a cue detection between its tag and its object, and how close each map's split
comes to it.

Four true renderings of the image (ssd.data.synthetic.Scene.render; an object's tag stays when only
the object is removed, so "object removed" is exactly the object gone and its tag still there):

    both        as is                           p_both
    no_tag      remove_tags=[j]                 p_no_tag
    no_object   remove=[j]                      p_no_object
    none        remove=[j], remove_tags=[j]     p_none

with p the target's probability (its class at its prior) in each. The tag and the object are the
two players of a game whose value is p; their Shapley values average each one's marginal effect over
both orders of arrival:

    φ_tag    = ½ [(p_both − p_no_tag)    + (p_no_object − p_none)]
    φ_object = ½ [(p_both − p_no_object) + (p_no_tag − p_none)]

so φ_tag + φ_object = p_both − p_none (efficiency). The causal tag share c = φ_tag / (φ_tag + φ_object)
is undefined when that sum is ≤ 0 (counted, never averaged). A map's own split of its positive
relevance between the two, and its distance to the causal one (lower is better):

    relative tag share   r = R⁺(tag) / (R⁺(tag) + R⁺(object))
    distance             |r − c|

c = 1 means the tag alone carries the detection, c = ½ that both are needed alike (p = 1 only with
both present): then a map with all of its relevance on the tag is as far off as one with none.
"""
import math

import torch

import ssd

RENDERINGS = ("both", "no_tag", "no_object", "none")


def removals(j: int) -> dict:
    """The arguments of Scene.render for each rendering of object j (module docstring)."""
    return {"both": {}, "no_tag": {"remove_tags": [j]}, "no_object": {"remove": [j]},
            "none": {"remove": [j], "remove_tags": [j]}}


@torch.no_grad()
def probabilities(model, seed: int, sample, device=None) -> dict:
    """{rendering: p} of a CueSample (eval.hans.cues): its image of the synthetic set `seed` rendered
    four ways, p the target's class probability at its prior."""
    from ssd.data.synthetic import make_scene
    scene = make_scene(seed, sample.index, size=model.config.size, variant=sample.variant)
    x = ssd.preprocess([scene.render(**removals(sample.object)[k]) for k in RENDERINGS], model.config, device=device)
    p = torch.softmax(model(x)[0], dim=-1)[:, sample.target.prior, sample.target.label]         # [4]
    return {k: float(v) for k, v in zip(RENDERINGS, p)}


def shapley(p: dict) -> tuple[float, float]:
    """(φ_tag, φ_object) of the two-player game with values p = {rendering: p}."""
    phi_tag = 0.5 * ((p["both"] - p["no_tag"]) + (p["no_object"] - p["none"]))
    phi_object = 0.5 * ((p["both"] - p["no_object"]) + (p["no_tag"] - p["none"]))
    return phi_tag, phi_object


def causal_tag_share(p: dict) -> float:
    """c = φ_tag / (φ_tag + φ_object); NaN when φ_tag + φ_object ≤ 0."""
    phi_tag, phi_object = shapley(p)
    total = phi_tag + phi_object
    return phi_tag / total if total > 0 else math.nan


def split(p: dict) -> dict:
    """The record fields of a detection's causal split: p of each rendering, φ_tag, φ_object, c."""
    phi_tag, phi_object = shapley(p)
    c = causal_tag_share(p)
    return {**{f"p_{k}": v for k, v in p.items()}, "phi_tag": phi_tag, "phi_object": phi_object,
            "causal_tag_share": None if math.isnan(c) else c}


def relative_tag_share(shares: dict) -> float | None:
    """r = R⁺(tag) / (R⁺(tag) + R⁺(object)) from a map's shares (eval.hans.cues.shares); None when the
    map has no positive relevance on either."""
    on_both = shares["tag"] + shares["object"]
    return shares["tag"] / on_both if on_both > 0 else None


def distance(relative: float | None, causal: float | None) -> float | None:
    """|r − c|, None when either is undefined."""
    return None if relative is None or causal is None else abs(relative - causal)
