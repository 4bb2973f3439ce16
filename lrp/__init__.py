"""Layer-wise relevance propagation (LRP) on torch autograd: rules as forward hooks.

    relevance = lrp.attribute(model, x, seed, lrp.composite(conv=lrp.Gamma(0.1), first=lrp.Flat()))
    heatmaps = lrp.explain(ssd_model, x, targets)            # [K,H,W], the paper's setting

The core (engine, hooks, backward pass, kernels, rules, composite, attribute) works on any network and
knows nothing of the detector: from `ssd` it imports only `ssd.checks`. `explain` is the detection layer,
and so is `gradcam` (Grad-CAM and ODAM for the detector's targets, the gradient-based reference method).
"""
from .attribute import attribute
from .composite import composite
from .engine import affine, parameters
from .explain import explain
from .gradcam import gradcam
from .redistribute import redistribute, safe_divide
from .rules import Epsilon, Flat, Gamma, Pass, Rule, ZPlus

__all__ = ["attribute", "composite", "explain", "gradcam", "Rule", "Epsilon", "Gamma", "ZPlus", "Flat", "Pass",
           "affine", "parameters", "redistribute", "safe_divide"]
