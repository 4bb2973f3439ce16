"""`lrp.explain`: LRP heatmaps of SSD detections, the paper's setting (section 3.2.1)."""
from typing import Sequence

import torch
from torch import nn

import ssd

from .attribute import prepare, propagate
from .composite import composite
from .rules import Epsilon, Flat, Gamma, Rule, ZPlus


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


def explain(model: nn.Module, x: torch.Tensor, targets: Sequence[ssd.Target], rule: str | Rule = "gamma",
            gamma: float = 0.1, epsilon: float = 1e-6, first: str | Rule | None = "flat",
            chunk: int = 8) -> torch.Tensor:
    """LRP heatmaps of K targets of one image: x [1,3,H,W] -> [K,H,W] on x's device.

    Each target's relevance is its class logit at its prior (R = logit, all other outputs 0),
    propagated with `rule` ("epsilon", "gamma", "zplus" as in figure 4, or an lrp.Rule) in every
    convolution (heads included), Pass through the ℓ2-Norm (eq. 3.2), and `first` ("flat": the ♭ rule)
    in the layer that sees the input; relevance is summed over the colour channels.
    One forward pass serves all targets; their backward passes run batched, `chunk` at a time.
    x is checked first (`ssd.check_input`: the model's size, dtype and device, finite values).
    """
    ssd.check_input(model, x)
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"x must be one image [1,3,H,W], got shape {tuple(x.shape)}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    conv = _rule(rule, gamma, epsilon)
    unit, (logits, deltas) = prepare(model, x, composite(conv=conv, linear=conv, first=_first(first)))
    ssd.check_targets(targets, logits.shape[1], logits.shape[2])
    priors = torch.tensor([t.prior for t in targets], device=x.device)
    labels = torch.tensor([t.label for t in targets], device=x.device)
    values = logits.detach()[0, priors, labels]
    heatmaps = []
    for start in range(0, len(targets), chunk):
        k = torch.arange(start, min(start + chunk, len(targets)), device=x.device)
        seed = logits.new_zeros((len(k),) + tuple(logits.shape))
        seed[torch.arange(len(k), device=x.device), 0, priors[k], labels[k]] = values[k]
        last = start + chunk >= len(targets)
        if len(k) == 1:  # a plain backward pass is cheaper than a batched one of size 1
            relevance = propagate(unit, (logits, deltas), (seed[0], None), retain_graph=not last)[None]
        else:
            relevance = propagate(unit, (logits, deltas), (seed, None), batched=True, retain_graph=not last)
        heatmaps.append(relevance[:, 0].sum(dim=1))
    return torch.cat(heatmaps)
