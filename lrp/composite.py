"""`lrp.composite`: the common way of choosing a rule per layer."""
from typing import Mapping

from torch import nn

from .hooks import AtInput
from .rules import Rule


def composite(conv: Rule | None = None, linear: Rule | None = None, first: Rule | None = None,
              layers: Mapping[type, Rule | None] | None = None):
    """A `rules(name, module)` function for `lrp.attribute`.

    conv: rule of every nn.Conv2d; linear: of every nn.Linear; first: of the Conv2d/Linear that sees
    the model input (decided during the forward pass; None: it keeps the rule of its type);
    layers: {module type: rule}, checked first, e.g. {ssd.L2Norm: lrp.Pass()} (eq. 3.2), the way a
    detection layer adapts its network (`lrp.explain`). A None rule leaves the module's own gradient
    (LRP-0 for Conv2d/Linear). ReLU, pooling and Flatten need no rule.
    """
    layers = dict(layers or {})
    for kind, rule in layers.items():
        if not isinstance(kind, type) or not (rule is None or isinstance(rule, Rule)):
            raise TypeError(f"layers maps module types to lrp rules, got {kind!r}: {rule!r}")

    def rules(name: str, module: nn.Module) -> Rule | AtInput | None:
        for kind, rule in layers.items():
            if isinstance(module, kind):
                return rule
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            rule = conv if isinstance(module, nn.Conv2d) else linear
            return rule if first is None else AtInput(first, rule)
        return None

    return rules
