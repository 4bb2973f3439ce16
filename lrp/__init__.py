"""Layer-wise relevance propagation (LRP) on torch autograd: rules as forward hooks.

    relevance = lrp.attribute(model, x, seed, lrp.composite(conv=lrp.Gamma(0.1), first=lrp.Flat()))
    heatmaps = lrp.explain(ssd_model, x, targets)            # [K,H,W], the paper's setting

The core (engine, rules, composite, attribute) works on any network; only `explain`, the detection
layer, imports `ssd`.
"""
from .attribute import attribute
from .composite import composite
from .engine import affine, parameters
from .redistribute import redistribute, safe_divide
from .rules import Epsilon, Flat, Gamma, Pass, Rule, ZPlus

__all__ = ["attribute", "composite", "explain", "Rule", "Epsilon", "Gamma", "ZPlus", "Flat", "Pass",
           "affine", "parameters", "redistribute", "safe_divide"]


try:   # the detection layer needs ssd; without it the core above still works on any network
    from .explain import explain
except ModuleNotFoundError as error:
    if (error.name or "").split(".")[0] != "ssd":
        raise
