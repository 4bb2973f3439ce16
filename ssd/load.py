"""Loading checkpoints: the embedded model and the layouts of public SSD checkpoints.

Supported layouts (detected from the keys; their key names are listed in ssd/ssd512.md):
our own (`{"format": "xai-ssd", "config": …, "state_dict": …}`), lufficc/SSD (`{"model": …}`),
mmdetection (`{"state_dict": …}`, new and old key names; background moved from last to index 0) and
torchvision's `ssd300_vgg16` (a plain state dict).
"""
import os
from pathlib import Path

import torch

from .classes import COCO_NAMES
from .config import COCO_SSD512, MMDET_SSD512, TORCHVISION_SSD300, SSDConfig
from .model import SSD

SHAPES_WEIGHTS = Path(__file__).with_name("shapes.pt")
# The embedded models by name (ssd/README.md): the shapes model, two more trained with the same recipe
# from other seeds (the replication of eval.compare), and the Clever-Hans model.
EMBEDDED = {"shapes": SHAPES_WEIGHTS, **{name: Path(__file__).with_name(f"{name}.pt")
                                        for name in ("shapes-seed1", "shapes-seed2", "shapes-hans")}}

# Our names of the 15 convolutions of the VGG16 body, and their indices in torch's `vgg16.features`.
_BODY = [f"features.0.conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3)) for i in range(1, n + 1)]
_BODY += ["features.1.conv5_1", "features.1.conv5_2", "features.1.conv5_3", "features.1.fc6", "features.1.fc7"]
_VGG_INDEX = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33)


def _extra(j: int) -> str:
    """Our name of the j-th extra convolution (0 = conv6_1, 1 = conv6_2, 2 = conv7_1, …)."""
    return f"features.{2 + j // 2}.conv{6 + j // 2}_{j % 2 + 1}"


def _rename(sd: dict, pairs: list[tuple[str, str]]) -> dict:
    """Map parameter prefixes (theirs -> ours); keys matching no prefix are kept as they are, so that
    the check against our model reports them."""
    out = {}
    for key, value in sd.items():
        for theirs, ours in pairs:
            if key.startswith(theirs + "."):
                key = ours + key[len(theirs):]
                break
        out[key] = value
    return out


def _from_lufficc(sd: dict) -> dict:
    pairs = [(f"backbone.vgg.{i}", n) for i, n in zip(_VGG_INDEX, _BODY)]
    pairs += [(f"backbone.extras.{j}", _extra(j)) for j in range(10)]
    pairs += [("backbone.l2_norm", "l2norm")]
    pairs += [(f"box_head.predictor.cls_headers.{k}", f"cls_heads.{k}") for k in range(7)]
    pairs += [(f"box_head.predictor.reg_headers.{k}", f"box_heads.{k}") for k in range(7)]
    return _rename(sd, pairs)


def _from_mmdet(sd: dict) -> dict:
    pairs = [(f"backbone.features.{i}", n) for i, n in zip(_VGG_INDEX, _BODY)]
    pairs += [(f"neck.extra_layers.{j // 2}.{j % 2}.conv", _extra(j)) for j in range(10)]
    pairs += [(f"backbone.extra.{j}", _extra(j)) for j in range(10)]
    pairs += [("neck.l2_norm", "l2norm"), ("backbone.l2_norm", "l2norm")]
    for k in range(7):  # new files end in ".0", old ones do not: try the longer prefix first
        pairs += [(f"bbox_head.cls_convs.{k}.0", f"cls_heads.{k}"), (f"bbox_head.cls_convs.{k}", f"cls_heads.{k}")]
        pairs += [(f"bbox_head.reg_convs.{k}.0", f"box_heads.{k}"), (f"bbox_head.reg_convs.{k}", f"box_heads.{k}")]
    return _rename(sd, pairs)


def _background_first(sd: dict, config: SSDConfig) -> dict:
    """Reorder mmdetection's class heads (background last) so that the background is class 0 and
    the other classes keep their order: channel a·C + c of ours = channel a·C + (c - 1) mod C of theirs."""
    C = config.num_classes
    for k, a in enumerate(config.boxes_per_location):
        order = torch.tensor([i * C + (c - 1) % C for i in range(a) for c in range(C)])
        for p in ("weight", "bias"):
            key = f"cls_heads.{k}.{p}"
            if key in sd and sd[key].shape[0] == a * C:
                sd[key] = sd[key][order]
    return sd


def _from_torchvision(sd: dict) -> dict:
    pairs = [(f"backbone.features.{i}", n) for i, n in zip(_VGG_INDEX[:10], _BODY[:10])]
    pairs += [(f"backbone.extra.0.{i}", n) for i, n in zip((1, 3, 5), _BODY[10:13])]
    pairs += [("backbone.extra.0.7.1", "features.1.fc6"), ("backbone.extra.0.7.3", "features.1.fc7")]
    pairs += [(f"backbone.extra.{i}.{2 * h}", _extra(2 * (i - 1) + h)) for i in range(1, 5) for h in range(2)]
    pairs += [(f"head.classification_head.module_list.{k}", f"cls_heads.{k}") for k in range(6)]
    pairs += [(f"head.regression_head.module_list.{k}", f"box_heads.{k}") for k in range(6)]
    sd = _rename(sd, pairs)
    if "backbone.scale_weight" in sd:
        sd["l2norm.weight"] = sd.pop("backbone.scale_weight")
    return sd


def _infer(base: SSDConfig, sd: dict) -> SSDConfig:
    """Width and class count of a converted state dict, read off its tensor shapes."""
    width = sd["features.0.conv1_1.weight"].shape[0] / 64
    classes = sd["cls_heads.0.weight"].shape[0] // base.boxes_per_location[0]
    if classes == base.num_classes:
        return base.replace(width=width)
    names = ("background",) + (COCO_NAMES if classes == 81 else tuple(f"class_{i}" for i in range(1, classes)))
    return base.replace(width=width, class_names=names)


def _read(path) -> dict:
    path = os.fspath(path)
    if os.path.isdir(path):
        raise FileNotFoundError(f"checkpoint {path} is a directory, not a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"cannot read checkpoint {path} (truncated, corrupt or not a torch file "
                         f"of plain tensors): {e}") from e
    if not isinstance(ckpt, dict):
        raise ValueError(f"checkpoint {path}: expected a dict, got {type(ckpt).__name__}")
    return ckpt


def convert(ckpt: dict, name: str = "checkpoint") -> tuple[SSDConfig, dict]:
    """(config, state dict in our names) of a loaded checkpoint of any supported layout."""
    if ckpt.get("format") == "xai-ssd":
        for key in ("config", "state_dict"):
            if key not in ckpt:
                raise ValueError(f"{name}: a checkpoint of format 'xai-ssd' needs '{key}' "
                                 f"(it holds {sorted(ckpt)}); ssd.train's export writes both")
        if not isinstance(ckpt["config"], dict):
            raise ValueError(f"{name}: 'config' must be a dict of SSDConfig fields, "
                             f"got {type(ckpt['config']).__name__}")
        try:
            return SSDConfig.from_dict(ckpt["config"]), ckpt["state_dict"]
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    sd = ckpt.get("model", ckpt.get("state_dict", ckpt))
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{name}: no state dict of tensors found (keys: {sorted(ckpt)[:10]})")
    keys = set(sd)
    if any(k.startswith("backbone.vgg.") for k in keys):
        sd, base = _from_lufficc(sd), COCO_SSD512
    elif any(k.startswith("bbox_head.") for k in keys):
        sd, base = _from_mmdet(sd), MMDET_SSD512
    elif "backbone.scale_weight" in keys:
        sd, base = _from_torchvision(sd), TORCHVISION_SSD300
    else:
        raise ValueError(f"{name}: not an SSD checkpoint of a known layout (lufficc, mmdetection, "
                         f"torchvision ssd300_vgg16, ours); unmatched keys: {sorted(keys)[:12]}")
    if "features.0.conv1_1.weight" not in sd or "cls_heads.0.weight" not in sd:
        raise ValueError(f"{name}: missing the first convolution or the first class head")
    config = _infer(base, sd)
    if base is MMDET_SSD512:
        sd = _background_first(sd, config)
    return config, sd


def load_state(model: SSD, sd: dict, name: str = "checkpoint") -> None:
    """Copy `sd` into `model`, with errors that list missing/unexpected keys, wrong shapes, tensors
    not of floating point (integers would be copied in as whole numbers) and those holding NaN or ±inf."""
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{name}: the state dict must map names to tensors")
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(sd)), sorted(set(sd) - set(own))
    if missing or unexpected:
        raise ValueError(f"{name} does not fit {type(model).__name__}: "
                         f"missing keys {missing[:10]}{' …' if len(missing) > 10 else ''}, "
                         f"unmatched keys {unexpected[:10]}{' …' if len(unexpected) > 10 else ''}")
    wrong = [f"{k}: expected {tuple(own[k].shape)}, got {tuple(sd[k].shape)}"
             for k in own if own[k].shape != sd[k].shape]
    if wrong:
        raise ValueError(f"{name}: wrong tensor shapes: " + "; ".join(wrong[:10]))
    integral = [k for k, v in sd.items() if not v.is_floating_point()]
    if integral:
        raise ValueError(f"{name}: the weights must be floating point; {integral[0]} is {sd[integral[0]].dtype}"
                         + (f" (and {len(integral) - 1} more)" if len(integral) > 1 else ""))
    bad = [(k, v) for k, v in sd.items() if not bool(torch.isfinite(v).all())]
    if bad:
        counts = [f"{k} ({int(v.isnan().sum())} NaN, {int(v.isinf().sum())} ±inf)" for k, v in bad]
        raise ValueError(f"{name}: non-finite weights in {len(bad)} tensors: " + ", ".join(counts[:10])
                         + (" …" if len(bad) > 10 else ""))
    model.load_state_dict(sd)


def load(source="shapes", device=None) -> SSD:
    """An `ssd.SSD` in eval mode from an embedded model's name (`EMBEDDED`: "shapes", "shapes-seed1",
    "shapes-seed2", "shapes-hans") or a checkpoint path."""
    path = EMBEDDED.get(source, source) if isinstance(source, str) else source
    if source in EMBEDDED and not path.is_file():
        raise FileNotFoundError(f"the embedded model {path} is missing: "
                                "train it with `python -m ssd.train` (see README)")
    config, sd = convert(_read(path), name=os.fspath(path))
    try:
        model = SSD(config)
    except ValueError as e:                       # a config whose layout does not fit its size
        raise ValueError(f"{os.fspath(path)}: {e}") from None
    load_state(model, sd, name=os.fspath(path))
    return model.to(device).eval()
