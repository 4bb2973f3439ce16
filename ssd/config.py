"""Configuration of an SSD: architecture, priors, input convention and post-processing.

Presets (ssd/ssd512.md gives the source of each number):
`COCO_SSD512` (lufficc/SSD and the paper), `MMDET_SSD512` (mmdetection), `TORCHVISION_SSD300`
(torchvision's ssd300_vgg16) and `SHAPES_SSD512` (the embedded model trained on synthetic shapes).
Derive variants with `config.replace(width=0.125, ...)`.
"""
import dataclasses
from dataclasses import dataclass

from .checks import check_integer, check_real, check_reals
from .classes import COCO_NAMES, TORCHVISION_COCO_NAMES

SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross", "ring")


@dataclass(frozen=True)
class SSDConfig:
    """Everything that defines an SSD model and its input/output conventions.

    Sizes of priors are in input pixels; `extras` lists the extra blocks after fc7 as
    (mid channels, out channels, kernel, stride, padding) of their second convolution.
    Model input = (pixel[0..255] in `channel_order` - mean) / std, per channel.
    Class index 0 of our logits is always the background.
    Every field is checked when a config is built (`replace` and `from_dict` included): a one-line
    ValueError names the field and what it must be. That the feature maps are those the network
    computes at `size` is checked where the network is built (`ssd.SSD`).
    """

    size: int = 512
    width: float = 1.0
    class_names: tuple = ("background",) + COCO_NAMES
    extras: tuple = ((256, 512, 3, 2, 1), (128, 256, 3, 2, 1), (128, 256, 3, 2, 1),
                     (128, 256, 3, 2, 1), (128, 256, 4, 1, 1))
    feature_maps: tuple = (64, 32, 16, 8, 4, 2, 1)
    steps: tuple = (8, 16, 32, 64, 128, 256, 512)
    min_sizes: tuple = (20.48, 51.2, 133.12, 215.04, 296.96, 378.88, 460.8)
    max_sizes: tuple = (51.2, 133.12, 215.04, 296.96, 378.88, 460.8, 542.72)
    aspect_ratios: tuple = ((2,), (2, 3), (2, 3), (2, 3), (2, 3), (2,), (2,))
    clip: bool = True            # clamp prior widths and heights to [0, 1] (lufficc, torchvision)
    truncate: bool = False       # integer min/max sizes (Caffe layer, mmdetection)
    variances: tuple = (0.1, 0.2)
    channel_order: str = "RGB"
    mean: tuple = (123.0, 117.0, 104.0)
    std: tuple = (1.0, 1.0, 1.0)
    score_threshold: float = 0.01
    nms_iou: float = 0.45
    top_k: int = 400             # candidates per class before NMS
    max_detections: int = 200

    def __post_init__(self):
        field = "SSDConfig {}".format
        check_integer(self.size, field("size"), 1)
        check_real(self.width, field("width"), lambda v: v > 0, "> 0")
        names = self.class_names
        if not (isinstance(names, tuple) and len(names) >= 2 and all(isinstance(n, str) for n in names)):
            raise ValueError(f"SSDConfig class_names must be 2 or more names (the background first), got {names!r}")
        for extra in self.extras if isinstance(self.extras, tuple) else (None,):
            if not (isinstance(extra, tuple) and len(extra) == 5 and all(isinstance(v, int) for v in extra)
                    and min(extra[:4]) >= 1 and extra[4] >= 0):
                raise ValueError(f"SSDConfig extras must be (mid channels, out channels, kernel, stride, padding) "
                                 f"integers, got {extra!r}")
        # one entry per source in every per-source field (how many sources an ssd.SSD computes, 2 +
        # len(extras), is the network's check: ssd.SSD; a detector of another layout may use this config)
        sources = len(self.feature_maps) if isinstance(self.feature_maps, tuple) else None
        for name in ("feature_maps", "steps", "min_sizes", "max_sizes", "aspect_ratios"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != sources or not value:
                raise ValueError(f"SSDConfig {name} must have one entry per source ({sources or 'one or more'}), "
                                 f"got {len(value) if isinstance(value, tuple) else repr(value)}")
        for side in self.feature_maps:
            check_integer(side, field("feature_maps entry"), 1)
        for name in ("steps", "min_sizes", "max_sizes"):
            check_reals(getattr(self, name), field(name), sources, lambda v: v > 0, "> 0")
        for ratios in self.aspect_ratios:
            check_reals(ratios, field("aspect_ratios entry"), None, lambda v: v > 0, "> 0")
        check_reals(self.variances, field("variances"), 2, lambda v: v > 0, "> 0")
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"SSDConfig channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        check_reals(self.mean, field("mean"), 3)
        check_reals(self.std, field("std"), 3, lambda v: v > 0, "> 0")
        for name in ("score_threshold", "nms_iou"):
            check_real(getattr(self, name), field(name), lambda v: 0 <= v <= 1, "in [0, 1]")
        for name in ("top_k", "max_detections"):
            check_integer(getattr(self, name), field(name), 1)
        for name in ("clip", "truncate"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"SSDConfig {name} must be True or False, got {getattr(self, name)!r}")

    @property
    def num_classes(self) -> int:
        """Number of classes including the background."""
        return len(self.class_names)

    @property
    def boxes_per_location(self) -> tuple:
        """A per source layer: two squares plus two boxes per aspect ratio."""
        return tuple(2 + 2 * len(r) for r in self.aspect_ratios)

    def channels(self, c: int) -> int:
        """A channel count of the full-width network scaled by the width multiplier."""
        return max(1, int(round(c * self.width)))

    def replace(self, **changes) -> "SSDConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain types only, so that it can be stored in a checkpoint loaded with weights_only."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SSDConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown SSDConfig fields: {sorted(unknown)}")
        return cls(**{k: tuple(tuple(i) if isinstance(i, list) else i for i in v) if isinstance(v, list) else v
                      for k, v in d.items()})


COCO_SSD512 = SSDConfig()

MMDET_SSD512 = COCO_SSD512.replace(truncate=True, clip=False, mean=(123.675, 116.28, 103.53),
                                   score_threshold=0.02, top_k=1000)

TORCHVISION_SSD300 = SSDConfig(
    size=300,
    class_names=TORCHVISION_COCO_NAMES,
    extras=((256, 512, 3, 2, 1), (128, 256, 3, 2, 1), (128, 256, 3, 1, 0), (128, 256, 3, 1, 0)),
    feature_maps=(38, 19, 10, 5, 3, 1),
    steps=(8, 16, 32, 64, 100, 300),
    min_sizes=tuple(s * 300 for s in (0.07, 0.15, 0.33, 0.51, 0.69, 0.87)),
    max_sizes=tuple(s * 300 for s in (0.15, 0.33, 0.51, 0.69, 0.87, 1.05)),
    aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
)

SHAPES_SSD512 = COCO_SSD512.replace(width=0.125, class_names=("background",) + SHAPE_NAMES,
                                    max_detections=100)
