"""Model-parameter randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps"): copies of a
network with groups of its parameters ("levels") re-drawn from the network's own initialisation.

A `Level` is a named group of modules (exact module names) and the function that re-initialises
them in place. For `ssd.SSD`, `ssd_levels(model)` gives, from the output down to the input:

    level      modules                                    re-drawn from
    heads      cls_heads.*, box_heads.*                   W ~ N(0, 0.01²), b = 0 (ssd.train_state.init_heads)
    extras     features.2 … (conv6_1 … conv11_2)          W, b ~ U(−1/√fan_in, 1/√fan_in)
    fc6–fc7    features.1.fc6, features.1.fc7             W, b ~ U(−1/√fan_in, 1/√fan_in)
    conv5      features.1.conv5_1 … conv5_3               W, b ~ U(−1/√fan_in, 1/√fan_in)
    conv4      features.0.conv4_1 … conv4_3, l2norm       W, b ~ U(−1/√fan_in, 1/√fan_in); ℓ2-Norm α_c = 20
    conv3, conv2, conv1                                   W, b ~ U(−1/√fan_in, 1/√fan_in)

with fan_in = in_channels / groups · kernel height · kernel width. These are the distributions
`ssd.SSD` draws from when it is built (torch's `Conv2d.reset_parameters`: kaiming_uniform with
a = √5, whose bound is 1/√fan_in, and the same bound for the bias; `ssd.L2Norm` starts at the
constant 20, a point mass, so its "randomisation" is the reset to 20) and that `ssd.train` starts
training from (it re-draws the heads with `init_heads`). The body was trained with BatchNorm, folded
into the convolutions on export (ssd.bn_fold), so trained weights have another scale than drawn ones.
Every parameter of an SSD belongs to exactly one level (`check_levels`).

Seeds. Level `name` is drawn under torch.manual_seed(level_seed(init_seed, name)) on a CPU copy
(so the draw is the same on every device) and does not depend on which other levels are drawn:
the cascading and the independent variant share each level's weights, and a level is reproduced
bit for bit from (init_seed, name). The original model is never modified (a deep copy is changed).

Variants (`schedule`): cascading, step k randomises levels 0..k (heads first, down to conv1, where
every parameter is drawn); independent, step k randomises level k alone.
"""
import copy
import inspect
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

VARIANTS = ("cascading", "independent")


@dataclass(frozen=True)
class Level:
    """A named group of modules; `init(model)` re-initialises them in `model` in place (None: each
    module's own initialisation, `reset_module`)."""

    name: str
    modules: tuple
    init: Callable[[nn.Module], None] | None = None

    def reinitialise(self, model: nn.Module) -> None:
        if self.init is not None:
            self.init(model)
        else:
            for name in self.modules:
                reset_module(model.get_submodule(name))

    def parameter_names(self, model: nn.Module) -> list[str]:
        """Names of the parameters of this level's modules (as in model.named_parameters())."""
        return [f"{m}.{p}" for m in self.modules for p, _ in model.get_submodule(m).named_parameters()]


def reset_module(module: nn.Module) -> None:
    """Re-draw one module's parameters from its initial distribution: `reset_parameters()` (Conv2d,
    Linear: torch's default), ssd.L2Norm: its initial constant scale."""
    import ssd
    if isinstance(module, ssd.L2Norm):
        with torch.no_grad():
            module.weight.fill_(inspect.signature(ssd.L2Norm).parameters["scale"].default)
    elif hasattr(module, "reset_parameters"):
        module.reset_parameters()
    else:
        raise ValueError(f"cannot re-initialise {type(module).__name__}: it has no reset_parameters()")


def level_seed(init_seed: int, name: str) -> int:
    """The torch seed of level `name`'s draw: crc32 of "init_seed:name"."""
    return zlib.crc32(f"{init_seed}:{name}".encode())


def check_levels(model: nn.Module, levels: Sequence[Level]) -> None:
    """ValueError unless every parameter of `model` belongs to exactly one level."""
    owner = {}
    for level in levels:
        for name in level.parameter_names(model):
            if name in owner:
                raise ValueError(f"parameter {name} is in levels {owner[name]!r} and {level.name!r}")
            owner[name] = level.name
    unassigned = [n for n, _ in model.named_parameters() if n not in owner]
    if unassigned:
        raise ValueError(f"parameters in no level: {', '.join(unassigned[:8])}{' …' if len(unassigned) > 8 else ''}")


def randomized(model: nn.Module, levels: Sequence[Level], init_seed: int = 0) -> nn.Module:
    """A copy of `model` (on its device, same dtype and memory format) whose `levels` are re-drawn."""
    device = next(model.parameters()).device
    out = copy.deepcopy(model).cpu()
    for level in levels:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(level_seed(init_seed, level.name))
            level.reinitialise(out)
    return out.to(device)


def schedule(levels: Sequence[Level], variant: str) -> list[tuple[str, tuple]]:
    """[(level name, levels to randomise)] of a variant, in the order of `levels` (output first)."""
    if variant == "cascading":
        return [(level.name, tuple(levels[:k + 1])) for k, level in enumerate(levels)]
    if variant == "independent":
        return [(level.name, (level,)) for level in levels]
    raise ValueError(f"unknown variant {variant!r}: choose from {', '.join(VARIANTS)}")


def randomised_models(model: nn.Module, levels: Sequence[Level], variant: str,
                      init_seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """(level name, randomised copy) for each step of the variant, one copy at a time."""
    for name, chosen in schedule(levels, variant):
        yield name, randomized(model, chosen, init_seed)


def ssd_levels(model) -> list[Level]:
    """The eight levels of an ssd.SSD, from the heads down to conv1 (module docstring)."""
    from ssd.train_state import init_heads

    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]

    def body(prefix: str, *stems: str) -> tuple:
        return tuple(n for n in convs if n.startswith(prefix) and n.split(".")[-1].startswith(stems))

    heads = tuple(n for n in convs if n.startswith(("cls_heads.", "box_heads.")))
    extras = tuple(n for n in convs if n.split(".")[:2] not in (["features", "0"], ["features", "1"])
                   and n.startswith("features."))
    levels = [Level("heads", heads, init_heads), Level("extras", extras),
              Level("fc6–fc7", body("features.1.", "fc6", "fc7")), Level("conv5", body("features.1.", "conv5_")),
              Level("conv4", body("features.0.", "conv4_") + ("l2norm",))]
    levels += [Level(f"conv{k}", body("features.0.", f"conv{k}_")) for k in (3, 2, 1)]
    check_levels(model, levels)
    return levels
