"""`deeplift.composite`: the common way of choosing a DeepLIFT rule per layer."""
from typing import Mapping

from torch import nn

from lrp.hooks import AtInput

from .rules import Gradient, Linear, Rescale, Rule, Unsupported

# Linear modules: their own gradient is the linear rule, they need no hook.
OWN_GRADIENT = (nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity, nn.Dropout, nn.BatchNorm2d)


def composite(linear: Rule = Linear(), relu: Rule = Rescale(), first: Rule | None = None,
              maxpool: Rule = Gradient(), layers: Mapping[type, Rule | None] | None = None):
    """A `rules(name, module)` function for `deeplift.attribute`.

    linear: rule of every nn.Conv2d and nn.Linear (default: the linear rule, γ = 0); relu: of every
    nn.ReLU (Rescale, or RevealCancel); first: of the Conv2d/Linear that reads the model input
    (e.g. Flat; None: it keeps `linear`); maxpool: of every nn.MaxPool2d (Gradient or MaxPoolRescale);
    layers: {module type: rule} for further layers, checked first, e.g. {ssd.L2Norm: L2NormRescale()},
    the way a detection layer adapts its network (`deeplift.explain`). Average pooling, Flatten,
    Identity, Dropout and BatchNorm2d keep their own gradient; other layers are reported by
    `deeplift.attribute` as unsupported.
    """
    layers = dict(layers or {})
    for kind, rule in (*layers.items(), (nn.Conv2d, linear), (nn.ReLU, relu), (nn.MaxPool2d, maxpool),
                       (nn.Module, first)):
        if not isinstance(kind, type) or not (rule is None or isinstance(rule, Rule)):
            raise TypeError(f"deeplift.composite takes deeplift rules, got {kind!r}: {rule!r}")

    def rules(name: str, module: nn.Module) -> Rule | AtInput | None:
        for kind, rule in layers.items():
            if isinstance(module, kind):
                return rule
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return linear if first is None else AtInput(first, linear)
        if isinstance(module, nn.ReLU):
            return relu
        if isinstance(module, nn.MaxPool2d):
            return maxpool
        if isinstance(module, OWN_GRADIENT) or next(module.children(), None) is not None:
            return None
        return Unsupported()

    return rules
