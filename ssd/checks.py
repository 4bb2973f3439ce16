"""The argument checks of every package: bad input fails at once, with a message that names the
argument, what it must be and what was given, instead of deep inside torch or as a silently wrong
result (one NaN pixel makes every heatmap NaN; `topk` ranks NaN first).

- `check_tensor(x, name, dtype, device)`: x itself, a floating-point torch tensor (of that dtype, on
  that device where given) whose values are all finite; TypeError if it is not a tensor.
- `check_integer(value, name, low, high)`: value as an int, an integer in [low, high] (no bound
  where None); never a bool, nor a float such as 2.0 or nan.
- `check_real(value, name, within, interval)`: value as a float, a finite number for which
  `within(value)` holds (`interval` says which, e.g. "> 0"); never a bool.
- `check_reals(values, name, count, within, interval)`: values as a tuple of floats, a sequence (of
  `count` entries where given) of finite numbers for which `within` holds.
- `check_hyperparameter(name, value, low)`: a rule's ε or γ, a finite number ≥ low.
- `check_maps(maps, method, settings, targets)`: a method's heatmaps [K,...], every value finite;
  otherwise the error names the method, its settings and the first target whose map is not.

Each raises ValueError otherwise (`{name} must be …, got …`; with an empty name, as on a command line
where argparse names the option, `must be …, got …`). Tensors are never cast: a float64 image
is not rounded to float32 nor a float16 one widened, so that what is explained is exactly what was
given, and the message names the cast to make instead. The command-line types of `ssd.cli` are these
checks on the text typed, so that a bad value is reported the same way in code and on the command line.

The checks know nothing of a network: `ssd.check_input` adds an SSD's input shape to `check_tensor`,
and the cores of `lrp`, `deeplift` and `perturb` import this module and nothing else of `ssd`.
"""
import math
import numbers

import torch


def _count_non_finite(x: torch.Tensor) -> str:
    """'n NaN and m ±inf values (of N; the first at [i, j, …])' of a tensor holding some."""
    bad = ~torch.isfinite(x)
    nan = int(torch.isnan(x).sum())
    first = [int(i) for i in torch.nonzero(bad)[0]]
    return f"{nan} NaN and {int(bad.sum()) - nan} ±inf values (of {x.numel()}; the first at {first})"


def check_tensor(x, name: str = "x", dtype: torch.dtype = None, device: torch.device = None) -> torch.Tensor:
    """`x` itself if it is a floating-point torch tensor (of `dtype` and on `device` where given) with
    only finite values. Raises TypeError if `x` is not a tensor, ValueError otherwise; the message
    names the dtype or device asked for, or counts the NaN and ±inf values. Other dtypes are named,
    never cast, so that what is explained is exactly what was given."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} is {x.dtype}, not floating point: pass x.to({dtype or torch.float32})")
    if dtype is not None and x.dtype != dtype:
        fix = {torch.float32: "x.float()", torch.float64: "x.double()"}.get(dtype, f"x.to({dtype})")
        raise ValueError(f"{name} is {x.dtype} but the model computes in {dtype}: pass {fix} "
                         f"(inputs are not cast, so that what is explained is what was given)")
    if device is not None and x.device != torch.device(device):
        raise ValueError(f"{name} is on {x.device} but the model on {device}: pass x.to('{device}')")
    if not all_finite(x):
        raise ValueError(f"{name} has {_count_non_finite(x)}: every value must be finite")
    return x


def all_finite(x: torch.Tensor) -> bool:
    """Whether every value of a floating-point x is finite. A NaN or ±inf makes the sum NaN or ±inf,
    so a finite sum proves it in one read without a mask (a twentieth of isfinite(x).all() on the
    CPU); a non-finite sum — a NaN or inf, or finite values whose sum overflows — is settled exactly
    by isfinite."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def check_integer(value, name: str, low: int | None = 1, high: int | None = None) -> int:
    """`value` as an int if it is an integer (not a bool, not a float such as 2.0 or nan) ≥ `low` and
    ≤ `high` (None: no bound); ValueError naming `name` otherwise."""
    integral = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if not integral or (low is not None and value < low) or (high is not None and value > high):
        bound = ("an integer" + (f" ≥ {low}" if low is not None and high is None else "")
                 + (f" in [{low}, {high}]" if low is not None and high is not None else "")
                 + (f" ≤ {high}" if low is None and high is not None else ""))
        raise ValueError(f"{name} must be {bound}, got {value!r}".lstrip())
    return int(value)


def check_real(value, name: str, within=lambda v: True, interval: str = "") -> float:
    """`value` as a float if it is a finite real number for which `within(value)` holds; ValueError
    naming `name` and `interval` (e.g. "> 0", ">= 0") otherwise. A bool is not a number here."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and within(value)):
        raise ValueError(f"{name} must be a finite number {interval}".strip() + f", got {value!r}")
    return float(value)


def check_reals(values, name: str, count: int | None = None, within=lambda v: True, interval: str = "") -> tuple:
    """`values` as a tuple of floats if it is a tuple or list (of `count` entries where given) of finite
    real numbers for which `within` holds; ValueError naming `name`, `count` and `interval` otherwise."""
    ok = isinstance(values, (tuple, list)) and (count is None or len(values) == count) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and within(v) for v in values)
    if not ok:
        how_many = f"{count} finite numbers" if count is not None else "a tuple of finite numbers"
        raise ValueError(f"{name} must be {how_many} {interval}".rstrip() + f", got {values!r}")
    return tuple(float(v) for v in values)


def check_hyperparameter(name: str, value, low: float = 0.0) -> float:
    """A rule's hyperparameter (ε, γ) as a float: a finite number >= low (`check_real`)."""
    return check_real(value, name, lambda v: v >= low, f">= {low:g}")


def check_maps(maps: torch.Tensor, method: str, settings: dict, targets) -> torch.Tensor:
    """`maps` [K,...] (one heatmap per target) itself if every value is finite; otherwise a
    ValueError naming `method`, its `settings` {name: value} and the first target whose map holds NaN
    or ±inf, with their count, so that no NaN heatmap leaves a method. One isfinite pass."""
    finite = torch.isfinite(maps.flatten(1)).all(dim=1)                                     # [K]
    if bool(finite.all()):
        return maps
    k = int((~finite).nonzero()[0])
    described = ", ".join(f"{name}={value}" for name, value in settings.items())
    raise ValueError(f"{method} ({described}) gave {_count_non_finite(maps[k])} in the map of target "
                     f"{targets[k]} ({int((~finite).sum())} of {len(finite)} maps not finite)")
