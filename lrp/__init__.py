"""Layer-wise relevance propagation (LRP) on torch autograd: rules as forward hooks.

    relevance = lrp.attribute(model, x, seed, lrp.composite(conv=lrp.Gamma(0.1), first=lrp.Flat()))
    heatmaps = lrp.explain(ssd_model, x, targets)            # [K,H,W], the paper's setting
"""
from .affine import affine, parameters
from .attribute import attribute
from .composite import composite
from .explain import explain
from .redistribute import redistribute, safe_divide
from .rules import Epsilon, Flat, Gamma, Pass, Rule, ZPlus

__all__ = ["attribute", "composite", "explain", "Rule", "Epsilon", "Gamma", "ZPlus", "Flat", "Pass",
           "affine", "parameters", "redistribute", "safe_divide"]
