"""SSD512 (VGG16) of our own: model, priors, pre- and post-processing, targets, checkpoint loading."""
from .boxes import decode, encode, mask_box
from .config import COCO_SSD512, MMDET_SSD512, SHAPES_SSD512, TORCHVISION_SSD300, SSDConfig
from .detect import Detections, detect, predicted_boxes
from .inputs import check_input
from .l2norm import L2Norm
from .load import load
from .model import SSD
from .preprocess import preprocess, read_image, to_image
from .priors import prior_location, priors
from .targets import (COORDINATES, BoxTarget, ContrastTarget, Target, as_target, check_targets, head_seeds,
                      missed_objects, missed_targets, score, target_values, targets)

__all__ = ["SSD", "SSDConfig", "L2Norm", "COCO_SSD512", "MMDET_SSD512", "TORCHVISION_SSD300",
           "SHAPES_SSD512", "priors", "prior_location", "encode", "decode", "mask_box", "preprocess", "read_image",
           "to_image", "detect", "Detections", "predicted_boxes", "Target", "BoxTarget", "ContrastTarget",
           "COORDINATES", "as_target", "targets", "missed_targets", "missed_objects", "score", "target_values", "check_targets",
           "head_seeds", "check_input", "load"]
