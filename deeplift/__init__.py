"""DeepLIFT (Shrikumar et al. 2017) on torch autograd, with the paper's modifications for SSD:
Rescale rule (also for the ℓ2-Norm), RevealCancel, γ-scaled positive weights, ♭ first layer and a
Gaussian-blurred reference. Rules are small classes (rules.py) chosen per module by `composite`;
`attribute` works on any network, `explain` on SSD detections. The core (rules, attribute, composite,
blur) knows nothing of the detector: from `ssd` it imports only `ssd.checks`.

    c = deeplift.attribute(model, x, reference, seed, deeplift.composite(linear=deeplift.Linear(0.1)))
"""
from lrp.engine import stand_in

from .attribute import attribute
from .blur import blur
from .composite import composite
from .explain import explain, gamma_limit
from .rules import (EPS, Flat, Gradient, L2NormRescale, Linear, MaxPoolRescale, Rescale, RevealCancel, Rule,
                    rescale)

__all__ = ["attribute", "blur", "composite", "explain", "gamma_limit", "Rule", "Linear", "Rescale", "RevealCancel", "Flat",
           "L2NormRescale", "Gradient", "MaxPoolRescale", "rescale", "EPS", "stand_in"]
