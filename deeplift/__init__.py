"""DeepLIFT (Shrikumar et al. 2017) on torch autograd, with the paper's modifications for SSD:
Rescale rule (also for ssd.L2Norm), RevealCancel, γ-scaled positive weights, ♭ first layer and
a Gaussian-blurred reference. See attribute.py for the core and hooks.py for how it works."""
from .attribute import attribute
from .blur import blur
from .explain import explain

__all__ = ["attribute", "blur", "explain"]
