"""Reading COCO-format data sets (real COCO or the synthetic shapes) with pycocotools, and the
mapping between COCO category ids and the label indices of each checkpoint convention.

Layout: `root/<split>/<file_name>` images and `root/annotations/instances_<split>.json`.
Label conventions (our logits always have the background at index 0):
- "lufficc": index i ≥ 1 is the i-th COCO category in id order (COCO_IDS[i-1]).
- "mmdetection": the same order once `ssd.load` has moved mmdetection's background from the last
  index to 0 (in the raw mmdetection head, label = our index − 1 and 80 is the background).
- "torchvision": index = COCO category id (91 outputs, "N/A" where COCO has no category).
- "names": by category name into a model's `config.class_names` (used for the shapes model).
"""
import contextlib
import io
import json
import os
import sys
from typing import Iterator, Optional, Sequence

import numpy as np
from pycocotools.coco import COCO

from ..classes import COCO_IDS
from ..preprocess import read_image

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


class CocoDataset:
    """A COCO-format data set: `ids` (sorted image ids), `categories` {id: name}, and per image
    the pixels (`image`), the boxes and category ids (`annotations`) and the masks (`masks`)."""

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

    def __len__(self) -> int:
        return len(self.ids)

    def path(self, image_id: int) -> str:
        return os.path.join(self.image_dir, self.coco.imgs[image_id]["file_name"])

    def image(self, image_id: int) -> np.ndarray:
        """uint8 RGB [H,W,3]; FileNotFoundError / ValueError naming the file if missing or corrupt."""
        return read_image(self.path(image_id))

    def _anns(self, image_id: int) -> list:
        return [a for a in self.coco.imgToAnns[image_id] if not a.get("iscrowd", 0)]

    def annotations(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(boxes float32 [K,4] x1,y1,x2,y2 in pixels (x2 = x + w), category ids int64 [K]) of the
        image's non-crowd objects."""
        anns = self._anns(image_id)
        boxes = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        return boxes, np.array([a["category_id"] for a in anns], dtype=np.int64)

    def masks(self, image_id: int) -> np.ndarray:
        """bool [K,H,W] masks of the image's non-crowd objects, in `annotations` order."""
        info = self.coco.imgs[image_id]
        anns = self._anns(image_id)
        if not anns:
            return np.zeros((0, info["height"], info["width"]), dtype=bool)
        return np.stack([self.coco.annToMask(a).astype(bool) for a in anns])

    def label_map(self, class_names: Sequence[str]) -> dict:
        """{category id: index into class_names} matched by name (categories a model lacks are left out)."""
        index = {n: i for i, n in enumerate(class_names)}
        return {cid: index[name] for cid, name in self.categories.items() if name in index}

    def images(self, ids: Optional[Sequence[int]] = None, log=sys.stderr) -> Iterator[tuple[int, np.ndarray]]:
        """(image id, pixels) for each image; an unreadable or missing file is reported on `log`
        (naming the file), remembered in `self.errors`, and skipped, so a run goes on."""
        self.errors = []
        for image_id in self.ids if ids is None else ids:
            try:
                yield image_id, self.image(image_id)
            except (FileNotFoundError, ValueError) as e:
                self.errors.append((image_id, str(e)))
                print(f"skipping image {image_id}: {e}", file=log, flush=True)
