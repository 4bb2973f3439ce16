"""Data: the synthetic shapes data set (COCO format) and a COCO reader."""
from .coco import CONVENTIONS, CocoDataset, category_to_label, label_to_category
from .shapes import SHAPES
from .synthetic import categories, generate, make_image
