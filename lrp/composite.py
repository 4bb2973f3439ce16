"""`lrp.composite`: the common way of choosing a rule per layer."""
from torch import nn

import ssd

from .rules import Pass, Rule


class _AtInput(Rule):
    """`first` for the layer that sees the model input, `other` for the same layer type elsewhere."""

    def __init__(self, first: Rule, other: Rule | None):
        self.first, self.other = first, other

    def __call__(self, module, a, z, unit=None):
        if unit is not None:
            return self.first(module, a, z, unit)
        return z if self.other is None else self.other(module, a, z, unit)


def composite(conv: Rule | None = None, linear: Rule | None = None, first: Rule | None = None,
              norm: Rule | None = Pass()):
    """A `rules(name, module)` function for `lrp.attribute`.

    conv: rule of every nn.Conv2d; linear: of every nn.Linear; first: of the Conv2d/Linear that sees
    the model input (decided during the forward pass; None: it keeps the rule of its type);
    norm: of every ssd.L2Norm (default Pass, eq. 3.2). A None rule leaves the module's own gradient
    (LRP-0 for Conv2d/Linear). ReLU, pooling and Flatten never get a rule.
    """
    def rules(name: str, module: nn.Module) -> Rule | None:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            rule = conv if isinstance(module, nn.Conv2d) else linear
            return rule if first is None else _AtInput(first, rule)
        if isinstance(module, ssd.L2Norm):
            return norm
        return None

    return rules
