"""Reading COCO-format data sets (real COCO or the synthetic shapes) with pycocotools, and the
mapping between COCO category ids and the label indices of each checkpoint convention.

Layout: `root/<split>/<file_name>` images and `root/annotations/instances_<split>.json`.
Label conventions (our logits always have the background at index 0):
- "lufficc": index i ≥ 1 is the i-th COCO category in id order (COCO_IDS[i-1]).
- "mmdetection": the same order once `ssd.load` has moved mmdetection's background from the last
  index to 0 (in the raw mmdetection head, label = our index − 1 and 80 is the background).
- "torchvision": index = COCO category id (91 outputs, "N/A" where COCO has no category).
- "names": by category name into a model's `config.class_names` (used for the shapes model).

Checked when read, each a one-line ValueError naming the entry: the sections and fields the reader
needs, integer and unique image ids, annotations that name a listed image and a listed category,
boxes of 4 finite numbers; and per image, when its pixels are read, that the file has the size its
entry gives (boxes and masks in other pixels would silently miss the object). Detection-only files
work: an annotation without a segmentation has its filled box as mask (`box_masks` says so), and an
image entry without `height`/`width` takes the size of its file.
"""
import contextlib
import io
import json
import os
import sys
from typing import Iterator, Optional, Sequence

import math
import numbers

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from ..classes import COCO_IDS
from ..preprocess import image_size, read_image

CONVENTIONS = ("lufficc", "mmdetection", "torchvision")


def category_to_label(category_id: int, convention: str) -> int:
    """Our label index (background 0) of a COCO category id in a checkpoint convention."""
    if convention in ("lufficc", "mmdetection"):
        if category_id not in COCO_IDS:
            raise ValueError(f"{category_id} is not a COCO category id")
        return COCO_IDS.index(category_id) + 1
    if convention == "torchvision":
        if category_id not in COCO_IDS:
            raise ValueError(f"{category_id} is not a COCO category id")
        return category_id
    raise ValueError(f"unknown label convention {convention!r}; known: {CONVENTIONS}")


def label_to_category(label: int, convention: str) -> int:
    """Inverse of `category_to_label`: the COCO category id of a label index (not background)."""
    if convention in ("lufficc", "mmdetection"):
        if not 1 <= label <= len(COCO_IDS):
            raise ValueError(f"label {label} out of range 1..{len(COCO_IDS)} for {convention}")
        return COCO_IDS[label - 1]
    if convention == "torchvision":
        if label not in COCO_IDS:
            raise ValueError(f"label {label} is background or 'N/A' in torchvision's 91 classes")
        return label
    raise ValueError(f"unknown label convention {convention!r}; known: {CONVENTIONS}")


# The fields of a COCO instances file that the reader, training and COCOeval use.
REQUIRED = {"images": ("id", "file_name"), "annotations": ("id", "image_id", "category_id", "bbox"),
            "categories": ("id", "name")}


def _check_instances(dataset, path: str) -> None:
    """ValueError naming the file and the first missing section or field of an instances file."""
    if not isinstance(dataset, dict):
        raise ValueError(f"{path}: expected a JSON object with {sorted(REQUIRED)}, got {type(dataset).__name__}")
    for section, fields in REQUIRED.items():
        entries = dataset.get(section)
        if not isinstance(entries, list):
            raise ValueError(f"{path}: no '{section}' list (a COCO instances file holds 'images', "
                             f"'annotations' and 'categories')")
        for i, entry in enumerate(entries):
            missing = [k for k in fields if not isinstance(entry, dict) or k not in entry]
            if missing:
                raise ValueError(f"{path}: {section}[{i}] has no '{missing[0]}' (each needs {', '.join(fields)})")
    images = _check_ids(dataset["images"], "images", path)
    categories = _check_ids(dataset["categories"], "categories", path)
    for i, a in enumerate(dataset["annotations"]):
        where = f"{path}: annotations[{i}] (id {a['id']!r})"
        if _hashable(a["image_id"]) not in images:
            raise ValueError(f"{where} names image_id {a['image_id']!r}, which 'images' does not list")
        if _hashable(a["category_id"]) not in categories:
            listed = ", ".join(map(str, sorted(categories)[:20])) + (", …" if len(categories) > 20 else "")
            raise ValueError(f"{where} has category_id {a['category_id']!r}, which 'categories' does not "
                             f"list (ids {listed})")
        box = a["bbox"]
        if not (isinstance(box, list) and len(box) == 4 and all(_finite(v) for v in box) and min(box[2:]) >= 0):
            raise ValueError(f"{where} has bbox {box!r}: it must be [x, y, width, height], 4 finite "
                             f"numbers with width, height ≥ 0")


def _finite(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _hashable(value):
    """value itself, or None where it cannot be a dict key (a list given as an id)."""
    return value if isinstance(value, (numbers.Number, str)) else None


def _check_ids(entries: list, section: str, path: str) -> dict:
    """{id: index} of the entries of 'images' or 'categories': ids integers and unique; an image's
    height and width, where given, integers ≥ 1."""
    index, kind = {}, {"images": "image", "categories": "category"}[section]
    for i, entry in enumerate(entries):
        value = entry["id"]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{path}: {section}[{i}] has id {value!r} ({type(value).__name__}): "
                             f"{kind} ids must be integers")
        if value in index:
            raise ValueError(f"{path}: {section}[{i}] has id {value} like {section}[{index[value]}]: "
                             f"{kind} ids must be unique")
        for side in ("height", "width") if section == "images" else ():
            if side in entry and (isinstance(entry[side], bool) or not isinstance(entry[side], numbers.Integral)
                                  or entry[side] < 1):
                raise ValueError(f"{path}: {section}[{i}] (id {value}) has {side} {entry[side]!r}: "
                                 f"it must be an integer ≥ 1 (or left out: the file's size is used)")
        index[value] = i
    return index


class CocoDataset:
    """A COCO-format data set: `ids` (sorted image ids), `categories` {id: name}, and per image
    the pixels (`image`), the boxes and category ids (`annotations`) and the masks (`masks`).
    `box_masks`: True if some annotations have no segmentation, so that their masks are their
    filled boxes (said once on stderr when the file is read). An unknown image id is a ValueError."""

    def __init__(self, root, split: str = "val2017", annotation_file=None):
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"data set root is not a directory: {self.root}")
        self.annotation_file = os.fspath(annotation_file or os.path.join(
            self.root, "annotations", f"instances_{split}.json"))
        if not os.path.isfile(self.annotation_file):
            raise FileNotFoundError(f"annotation file not found: {self.annotation_file} "
                                    f"(expected root/annotations/instances_{split}.json)")
        self.image_dir = os.path.join(self.root, split)
        try:
            with open(self.annotation_file) as f:
                dataset = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read annotation file {self.annotation_file}: {e}") from e
        _check_instances(dataset, self.annotation_file)
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            self.coco = COCO()
            self.coco.dataset = dataset
            self.coco.createIndex()
        self.ids = sorted(self.coco.getImgIds())
        self.categories = {c["id"]: c["name"] for c in self.coco.loadCats(self.coco.getCatIds())}
        boxes_only = sum(not a.get("segmentation") for a in dataset["annotations"])
        self.box_masks = boxes_only > 0
        if self.box_masks:
            print(f"{self.annotation_file}: {boxes_only} of {len(dataset['annotations'])} annotations have no "
                  f"segmentation: their masks are their filled boxes", file=sys.stderr, flush=True)

    def __len__(self) -> int:
        return len(self.ids)

    def _info(self, image_id) -> dict:
        """The JSON entry of an image; ValueError naming an id the file does not list."""
        info = self.coco.imgs.get(_hashable(image_id))
        if info is None:
            raise ValueError(f"image id {image_id!r} is not in {self.annotation_file}")
        return info

    def path(self, image_id: int) -> str:
        return os.path.join(self.image_dir, self._info(image_id)["file_name"])

    def size(self, image_id: int) -> tuple[int, int]:
        """(height, width) of an image: its entry's, or where the entry gives none, its file's (read
        from the header and kept)."""
        info = self._info(image_id)
        if "height" not in info or "width" not in info:
            info["height"], info["width"] = image_size(self.path(image_id))
        return info["height"], info["width"]

    def _fits(self, image_id: int, pixels: np.ndarray) -> np.ndarray:
        """pixels, if they have the size the entry gives; ValueError naming the file and both sizes."""
        (height, width), (h, w) = self.size(image_id), pixels.shape[:2]
        if (h, w) != (height, width):
            turned = " (turned upright by its EXIF orientation)" if (w, h) == (height, width) else ""
            raise ValueError(f"{self.path(image_id)} is {w}×{h} pixels (width×height){turned} but "
                             f"{self.annotation_file} gives {width}×{height}: its boxes and masks would not fit")
        return pixels

    def image(self, image_id: int) -> np.ndarray:
        """uint8 RGB [H,W,3]; FileNotFoundError / ValueError naming the file if missing, corrupt or
        not of the size its entry gives."""
        return self._fits(image_id, read_image(self.path(image_id)))

    def _anns(self, image_id: int) -> list:
        self._info(image_id)
        return [a for a in self.coco.imgToAnns[image_id] if not a.get("iscrowd", 0)]

    def annotations(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(boxes float32 [K,4] x1,y1,x2,y2 in pixels (x2 = x + w), category ids int64 [K]) of the
        image's non-crowd objects."""
        anns = self._anns(image_id)
        boxes = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        return boxes, np.array([a["category_id"] for a in anns], dtype=np.int64)

    def masks(self, image_id: int) -> np.ndarray:
        """bool [K,H,W] masks of the image's non-crowd objects, in `annotations` order: the
        segmentation, or for an annotation without one its filled box (pycocotools' rasterisation)."""
        height, width = self.size(image_id)
        anns = self._anns(image_id)
        if not anns:
            return np.zeros((0, height, width), dtype=bool)
        return np.stack([self.coco.annToMask(a).astype(bool) if a.get("segmentation") else
                         mask_utils.decode(mask_utils.frPyObjects(np.array([a["bbox"]], np.float64), height, width))
                         [:, :, 0].astype(bool) for a in anns])

    def label_map(self, class_names: Sequence[str]) -> dict:
        """{category id: index into class_names} matched by name (categories a model lacks are left out)."""
        index = {n: i for i, n in enumerate(class_names)}
        return {cid: index[name] for cid, name in self.categories.items() if name in index}

    def images(self, ids: Optional[Sequence[int]] = None, log=sys.stderr) -> Iterator[tuple[int, np.ndarray]]:
        """(image id, pixels) for each image; an unreadable or missing file is reported on `log`
        (naming the file), remembered in `self.errors`, and skipped, so a run goes on. An unknown id
        and a file of another size than its entry gives are errors (the annotations do not describe
        the files)."""
        self.errors = []
        for image_id in self.ids if ids is None else ids:
            path = self.path(image_id)
            try:
                pixels = read_image(path)
            except (FileNotFoundError, ValueError) as e:
                self.errors.append((image_id, str(e)))
                print(f"skipping image {image_id}: {e}", file=log, flush=True)
                continue
            yield image_id, self._fits(image_id, pixels)
