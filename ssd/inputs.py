"""The check of model input, so that bad input fails at once with an error that names the problem and
the fix, instead of deep inside torch or as a silently wrong result (one NaN pixel makes every score
NaN, and `topk` ranks NaN first: detection would return nothing).

`check_input(model, x)`: model input of an `ssd.SSD`: [N,3,S,S] with S = `model.config.size`, in the
dtype and on the device of the model's parameters, all finite. Every public entry point that takes
model input calls it first (ssd.detect, lrp.explain, deeplift.explain, perturb.explain, the score
functions of perturb.ssd_score, eval.methods' gradient).

It builds on the network-agnostic `ssd.checks.check_tensor` (a finite floating-point tensor of a dtype
and device), which every package shares.

Other floating dtypes are rejected, not cast: the input explained is then exactly the input given,
and a float64 image is not silently rounded to float32 (nor a float16 one widened). Both raise
before any forward pass; the cost is one pass over the input (`isfinite`).
"""
import torch

from .checks import check_tensor


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
