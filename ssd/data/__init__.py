"""Data: the synthetic shapes data set (COCO format) and a COCO reader."""
from .coco import CONVENTIONS, CocoDataset, category_to_label, label_to_category
from .shapes import SHAPES
from .synthetic import Scene, SyntheticObject, categories, generate, make_image, make_scene
from .tags import CUE_CATEGORY, VARIANTS

__all__ = ["CONVENTIONS", "CocoDataset", "category_to_label", "label_to_category", "SHAPES", "Scene", "SyntheticObject", "categories", "generate", "make_image", "make_scene", "CUE_CATEGORY", "VARIANTS"]
