"""`lrp.explain`: LRP heatmaps of SSD detections, the paper's setting (section 3.2.1)."""
from typing import Sequence

import torch
from torch import nn

import ssd
from ssd.checks import check_maps

from .attribute import prepare
from .backward_pass import BACKWARDS, target_maps
from .composite import composite
from .rules import Epsilon, Flat, Gamma, Pass, Rule, ZPlus


def _rule(rule: str | Rule, gamma: float, epsilon: float) -> Rule:
    if isinstance(rule, Rule):
        return rule
    rules = {"epsilon": lambda: Epsilon(epsilon), "gamma": lambda: Gamma(gamma, epsilon),
             "zplus": lambda: ZPlus(epsilon)}
    if rule not in rules:
        raise ValueError(f"unknown LRP rule {rule!r}: use one of {sorted(rules)} or an lrp.Rule")
    return rules[rule]()


def _first(first: str | Rule | None) -> Rule | None:
    if first is None or isinstance(first, Rule):
        return first
    if first != "flat":
        raise ValueError(f"unknown first-layer rule {first!r}: use 'flat', None or an lrp.Rule")
    return Flat()


def explain(model: nn.Module, x: torch.Tensor,
            targets: Sequence[ssd.Target | ssd.BoxTarget | ssd.ContrastTarget | tuple[int, int]],
            rule: str | Rule = "gamma", gamma: float = 0.1, epsilon: float = 1e-6,
            first: str | Rule | None = "flat", chunk: int = 8, backward: str = "auto") -> torch.Tensor:
    """LRP heatmaps of K targets of one image: x [1,3,H,W] -> [K,H,W] on x's device.

    Each target (an ssd.Target or a (prior, label) pair, an ssd.BoxTarget, an ssd.ContrastTarget, in
    any mix) has its value as relevance, placed on the outputs it is made of (`ssd.targets`: R = logit;
    R = the regression output, in the box head; R = +logit[label] and −logit[other] for a contrast;
    all other outputs 0), propagated with `rule` ("epsilon", "gamma", "zplus" as in figure 4, or an
    lrp.Rule) in every convolution (heads included), Pass through the ℓ2-Norm (eq. 3.2), and `first`
    ("flat": the ♭ rule) in the layer that sees the input; relevance is summed over the colour
    channels. One forward pass serves all targets; their backward passes run `chunk` at a time, as a
    loop or batched (`backward`, see `lrp.backward_pass.backward`; same result).
    A map holding NaN or ±inf (a model whose outputs overflow) is a ValueError naming the rule
    settings and the target (`ssd.checks.check_maps`).
    """
    ssd.check_input(model, x)
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"x must be one image [1,3,H,W], got shape {tuple(x.shape)}")
    if int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}")
    if backward not in BACKWARDS:
        raise ValueError(f"unknown backward mode {backward!r}: use one of {BACKWARDS}")
    targets = [ssd.as_target(t) for t in targets]
    conv = _rule(rule, gamma, epsilon)
    rules = composite(conv=conv, linear=conv, first=_first(first), layers={ssd.L2Norm: Pass()})
    heads = {head: None for head in (*model.cls_heads, *model.box_heads)}   # their outputs, to seed there
    unit, output = prepare(model, x, rules, keep=heads)
    ssd.check_targets(targets, output[0].shape[1], output[0].shape[2])
    # relevance R = w·output on each term, i.e. the gradient R / output = w (0 where the output is 0)
    seeds = [[(out, index, weight * (out.detach()[index] != 0).to(out.dtype)) for out, index, weight in terms]
             for terms in ssd.head_seeds(model, heads, output, targets)]
    maps = target_maps(unit, seeds, chunk, backward)
    settings = {"rule": rule, "gamma": gamma, "epsilon": epsilon, "first": first}
    return check_maps(maps, "lrp", settings, targets)
