"""The weights of a `python -m ssd.train` run and the files that hold them.

A run from scratch starts a `BatchNormSSD` with torch's default initialisation and small heads
(`init_heads`); `EMA` averages the weights while they train. RUN/last.pt holds the full training
state (`training_state`: model, average, optimiser, iteration, config, arguments, whether the model
has BatchNorm), read back by `read_last` to resume; the model that is shipped and evaluated is the
average, folded into plain convolutions (`averaged`, `export`) in the layout `ssd.load` reads. Every
file is written to PATH.tmp first and then moved over PATH, so that an interrupted write never
leaves a truncated file behind.
"""
import os

import torch
from torch import nn

from .bn_fold import BatchNormSSD
from .config import SSDConfig
from .load import _read
from .model import SSD


def init_heads(model: SSD, box_heads: bool = True) -> None:
    """Small head weights (N(0, 0.01²)), zero bias: near-uniform class scores at the start (the class
    heads only, when not `box_heads`)."""
    for head in list(model.cls_heads) + (list(model.box_heads) if box_heads else []):
        nn.init.normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)


class EMA:
    """Exponential moving average of a model's state (the weights that are exported):
    ema ← d·ema + (1 − d)·θ after every step, d = min(decay, (1 + t)/(10 + t)); buffers such as
    BatchNorm's running statistics are copied. Averaging the iterates of a constant learning rate
    gives much of the benefit of a decayed one, at any point of a run that may be resumed later."""

    def __init__(self, model: nn.Module, decay: float, state: dict = None):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in (state or model.state_dict()).items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        params = dict(model.named_parameters())
        for k, v in model.state_dict().items():
            if k in params:
                self.state[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.state[k].copy_(v)

    def model(self, like: nn.Module) -> nn.Module:
        """A model of `like`'s kind (BatchNormSSD or plain SSD) and configuration holding the averaged
        state (on the CPU)."""
        out = BatchNormSSD(SSD(like.config)) if isinstance(like, BatchNormSSD) else SSD(like.config)
        out.load_state_dict({k: v.cpu() for k, v in self.state.items()})
        return out.eval()


def write(path: str, state: dict) -> None:
    """torch.save(state) to PATH.tmp, then moved over `path` (module docstring)."""
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def export(model: nn.Module, path: str, info: dict) -> None:
    """Write the folded model (a BatchNormSSD folded, a plain SSD as it is) in our checkpoint layout
    (what `ssd.load(path)` reads)."""
    folded = model.fold() if isinstance(model, BatchNormSSD) else model
    write(path, {"format": "xai-ssd", "config": folded.config.to_dict(), "state_dict": folded.state_dict(),
                 "training": info})


def training_state(model: nn.Module, ema: EMA, optimizer, it: int, args) -> dict:
    """What RUN/last.pt holds after iteration `it` (module docstring)."""
    return {"model": model.state_dict(), "ema": ema.state, "optimizer": optimizer.state_dict(),
            "iteration": it, "config": model.config.to_dict(), "args": vars(args),
            "batchnorm": isinstance(model, BatchNormSSD)}


def read_last(path: str):
    """The training state in RUN/last.pt, or None if there is none; errors name the file."""
    if not os.path.isfile(path):
        return None
    try:
        ckpt = _read(path)
    except ValueError as e:
        raise ValueError(f"{e}; move it away to start the run afresh") from None
    missing = [k for k in ("model", "ema", "optimizer", "iteration", "config", "args") if k not in ckpt]
    if missing:
        raise ValueError(f"{path} is not a checkpoint of ssd.train (missing {missing}); "
                         "use another --run or move it away")
    return ckpt


def averaged(ckpt: dict) -> nn.Module:
    """The exported weights of a training state: its moving average (its model in old states), as a
    BatchNormSSD, or as a plain SSD for a fine-tuning run (`--init`)."""
    model = SSD(SSDConfig.from_dict(ckpt["config"]))
    if ckpt.get("batchnorm", True):
        model = BatchNormSSD(model)
    model.load_state_dict(ckpt.get("ema", ckpt["model"]))
    return model
