"""Configuration of an SSD: architecture, priors, input convention and post-processing.

Presets (ssd/ssd512.md gives the source of each number):
`COCO_SSD512` (lufficc/SSD and the paper), `MMDET_SSD512` (mmdetection), `TORCHVISION_SSD300`
(torchvision's ssd300_vgg16) and `SHAPES_SSD512` (the embedded model trained on synthetic shapes).
Derive variants with `config.replace(width=0.125, ...)`.
"""
import dataclasses
from dataclasses import dataclass

from .classes import COCO_NAMES, TORCHVISION_COCO_NAMES

SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross", "ring")


@dataclass(frozen=True)
class SSDConfig:
    """Everything that defines an SSD model and its input/output conventions.

    Sizes of priors are in input pixels; `extras` lists the extra blocks after fc7 as
    (mid channels, out channels, kernel, stride, padding) of their second convolution.
    Model input = (pixel[0..255] in `channel_order` - mean) / std, per channel.
    Class index 0 of our logits is always the background.
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
