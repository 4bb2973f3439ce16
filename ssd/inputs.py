"""Checks of what is given to the model, so that bad input fails at once with an error that names
the problem and the fix, instead of deep inside torch or as a silently wrong result (one NaN pixel
makes every score NaN, and `topk` ranks NaN first: detection would return nothing).

- `check_tensor(x, name, dtype, device)`: the network-agnostic part: a floating-point torch tensor of
  the given dtype and device with only finite values. Any shape.
- `check_input(model, x)`: model input of an `ssd.SSD`: [N,3,S,S] with S = `model.config.size`, in the
  dtype and on the device of the model's parameters, all finite. Every public entry point that takes
  model input calls it first (ssd.detect, lrp.explain, deeplift.explain, perturb.explain, the score
  functions of perturb.ssd_score, eval.methods' gradient).
- `check_integer(value, name, low)`, `check_real(value, name, within, interval)`: hyperparameters
  (sample counts, kernel widths, penalties): an integer ≥ low, a finite number in a range.

Other floating dtypes are rejected, not cast: the input explained is then exactly the input given,
and a float64 image is not silently rounded to float32 (nor a float16 one widened). Both raise
before any forward pass; the cost is one pass over the input (`isfinite`).
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
    names the dtype or device asked for, or counts the NaN and ±inf values."""
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
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} has {_count_non_finite(x)}: every value must be finite")
    return x


def check_integer(value, name: str, low: int | None = 1) -> int:
    """`value` as an int if it is an integer (not a bool, not a float such as 2.0 or nan) ≥ `low`
    (None: any integer); ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (low is not None and value < low):
        bound = "an integer" if low is None else f"an integer ≥ {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return int(value)


def check_real(value, name: str, within=lambda v: True, interval: str = "") -> float:
    """`value` as a float if it is a finite real number for which `within(value)` holds; ValueError
    naming `name` and `interval` (e.g. "> 0", "in [0, 1)") otherwise. A bool is not a number here."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and within(value)):
        raise ValueError(f"{name} must be a finite number {interval}".rstrip() + f", got {value!r}")
    return float(value)


def check_input(model, x, name: str = "x") -> torch.Tensor:
    """`x` itself if it is valid input of the `ssd.SSD` `model`: a torch tensor [N,3,S,S], N ≥ 1, with
    S = `model.config.size`, of the dtype and on the device of the model's parameters (if it has
    any), all values finite. Raises TypeError if `x` is not a tensor, ValueError otherwise (see `check_tensor`)."""
    size = model.config.size
    fix = "ssd.preprocess(images, model.config) makes it from images of any size"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor [N,3,{size},{size}], got {type(x).__name__}: {fix}")
    if x.dim() != 4 or x.shape[0] < 1 or tuple(x.shape[1:]) != (3, size, size):
        raise ValueError(f"{name} must be [N,3,{size},{size}] with N ≥ 1 (the model's configured size "
                         f"{size}), got shape {tuple(x.shape)}: {fix}")
    if not x.is_floating_point():
        raise ValueError(f"{name} is {x.dtype}, not floating point: model input is the normalised image; {fix}")
    weight = next(model.parameters(), None)       # None: a stand-in model without parameters
    return check_tensor(x, name, *((weight.dtype, weight.device) if weight is not None else ()))
