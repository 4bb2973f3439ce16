"""The COCO reader: annotations, masks, label conventions of public checkpoints, bad input."""
import json

import numpy as np
import pytest

from ssd.classes import COCO_IDS, COCO_NAMES, TORCHVISION_COCO_NAMES
from ssd.config import COCO_SSD512, MMDET_SSD512, SHAPES_SSD512, TORCHVISION_SSD300
from ssd.data import CONVENTIONS, CocoDataset, category_to_label, generate, label_to_category

# A few COCO categories as the official annotation files list them (id, name), written out by hand
# as an independent reference for the id gaps.
OFFICIAL = [(1, "person"), (2, "bicycle"), (11, "fire hydrant"), (13, "stop sign"), (27, "backpack"),
            (44, "bottle"), (46, "wine glass"), (67, "dining table"), (70, "toilet"), (72, "tv"),
            (84, "book"), (90, "toothbrush")]


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    generate(root, 2, seed=3)
    return root


def _write(root, images, categories, annotations=()):
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "val2017").mkdir(exist_ok=True)
    data = {"images": images, "categories": categories, "annotations": list(annotations)}
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))


def test_reads_synthetic_set(shapes_root):
    data = CocoDataset(shapes_root)
    assert data.ids == [1, 2]
    raw = json.loads((shapes_root / "annotations" / "instances_val2017.json").read_text())
    for image_id in data.ids:
        image = data.image(image_id)
        assert image.shape == (512, 512, 3) and image.dtype == np.uint8
        boxes, cats = data.annotations(image_id)
        anns = [a for a in raw["annotations"] if a["image_id"] == image_id]
        expected = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
        np.testing.assert_array_equal(boxes, expected)
        assert cats.tolist() == [a["category_id"] for a in anns]
        masks = data.masks(image_id)
        assert masks.shape == (len(anns), 512, 512)
        assert [m.sum() for m in masks] == [a["area"] for a in anns]


def test_shapes_categories_map_by_name_to_the_shapes_model(shapes_root):
    data = CocoDataset(shapes_root)
    assert data.label_map(SHAPES_SSD512.class_names) == {i: i for i in range(1, 7)}


@pytest.mark.parametrize("cid, name", OFFICIAL)
def test_conventions_agree_with_official_ids(cid, name):
    assert COCO_SSD512.class_names[category_to_label(cid, "lufficc")] == name
    assert MMDET_SSD512.class_names[category_to_label(cid, "mmdetection")] == name
    assert TORCHVISION_COCO_NAMES[category_to_label(cid, "torchvision")] == name
    assert category_to_label(cid, "torchvision") == cid


def test_conventions_known_positions():
    assert category_to_label(1, "lufficc") == 1
    assert category_to_label(13, "lufficc") == 12       # id 12 does not exist in COCO
    assert category_to_label(90, "lufficc") == 80
    assert category_to_label(90, "mmdetection") == 80   # after ssd.load moved mmdet's background to 0


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_conventions_round_trip(convention):
    labels = [category_to_label(c, convention) for c in COCO_IDS]
    assert len(set(labels)) == 80
    assert [label_to_category(l, convention) for l in labels] == list(COCO_IDS)


@pytest.mark.parametrize("bad", [0, 12, 91])
def test_unknown_category_ids_are_errors(bad):
    for convention in CONVENTIONS:
        with pytest.raises(ValueError, match="COCO category id"):
            category_to_label(bad, convention)
    with pytest.raises(ValueError, match="convention"):
        category_to_label(1, "caffe")
    with pytest.raises(ValueError):
        label_to_category(0, "lufficc")


def test_label_map_by_names_equals_the_conventions(tmp_path):
    _write(tmp_path, [], [{"id": i, "name": n} for i, n in zip(COCO_IDS, COCO_NAMES)])
    data = CocoDataset(tmp_path)
    assert data.label_map(COCO_SSD512.class_names) == {c: category_to_label(c, "lufficc") for c in COCO_IDS}
    assert data.label_map(TORCHVISION_SSD300.class_names) == {c: c for c in COCO_IDS}


def test_missing_root_or_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        CocoDataset(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="instances_val2017.json"):
        CocoDataset(tmp_path)


def test_corrupt_annotation_file_names_it(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text("{not json")
    with pytest.raises(ValueError, match="instances_val2017.json"):
        CocoDataset(tmp_path)


def test_missing_and_corrupt_images_are_named_and_skipped(shapes_root, tmp_path):
    import shutil

    shutil.copytree(shapes_root, tmp_path, dirs_exist_ok=True)
    raw = json.loads((tmp_path / "annotations" / "instances_val2017.json").read_text())
    raw["images"] += [{"id": 3, "file_name": "missing.png", "width": 512, "height": 512},
                      {"id": 4, "file_name": "corrupt.png", "width": 512, "height": 512}]
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(raw))
    (tmp_path / "val2017" / "corrupt.png").write_bytes(b"\x89PNG not really")
    data = CocoDataset(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        data.image(3)
    with pytest.raises(ValueError, match="corrupt.png"):
        data.image(4)
    import io
    log = io.StringIO()
    seen = [image_id for image_id, _ in data.images(log=log)]
    assert seen == [1, 2]
    assert [i for i, _ in data.errors] == [3, 4]
    assert "missing.png" in log.getvalue() and "corrupt.png" in log.getvalue()


@pytest.mark.parametrize("drop", ["categories", "images", "annotations"])
def test_annotation_file_without_a_section_names_it(tmp_path, drop):
    _write(tmp_path, [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}], [{"id": 1, "name": "circle"}])
    path = tmp_path / "annotations" / "instances_val2017.json"
    raw = json.loads(path.read_text())
    del raw[drop]
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=rf"instances_val2017.json: no '{drop}' list"):
        CocoDataset(tmp_path)


def test_annotation_entries_without_their_fields_are_named(tmp_path):
    _write(tmp_path, [{"id": 1, "width": 8, "height": 8}], [{"id": 1, "name": "circle"}])
    with pytest.raises(ValueError, match=r"instances_val2017.json: images\[0\] has no 'file_name'"):
        CocoDataset(tmp_path)
    _write(tmp_path, [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}], [{"id": 1, "name": "circle"}],
           [{"id": 1, "image_id": 1, "category_id": 1}])
    with pytest.raises(ValueError, match=r"instances_val2017.json: annotations\[0\] has no 'bbox'"):
        CocoDataset(tmp_path)


def _image_file(root, name, width, height, value=90):
    from PIL import Image
    Image.new("RGB", (width, height), (value,) * 3).save(root / "val2017" / name)


def test_a_file_whose_size_disagrees_with_its_json_entry_is_an_error(tmp_path):
    """File 512×256 but JSON 512×512: boxes scaled from the file and masks built at the JSON size
    would silently disagree."""
    _write(tmp_path, [{"id": 1, "file_name": "a.png", "width": 512, "height": 512}], [{"id": 1, "name": "circle"}],
           [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "segmentation": [[10, 10, 30, 10, 30, 30]]}])
    _image_file(tmp_path, "a.png", 512, 256)
    data = CocoDataset(tmp_path)
    message = r"a.png is 512×256 pixels \(width×height\) but .*instances_val2017.json gives 512×512"
    with pytest.raises(ValueError, match=message):
        data.image(1)
    with pytest.raises(ValueError, match=message):     # not skipped: the annotations do not fit the files
        list(data.images())


def test_detection_only_annotations_give_box_masks_and_say_so(tmp_path, capsys):
    """No `segmentation` and no `height`/`width`: masks are the filled boxes, at the file's size."""
    _write(tmp_path, [{"id": 1, "file_name": "a.png"}], [{"id": 1, "name": "circle"}],
           [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 5, 10, 20]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 2, 7, 4], "segmentation": []}])
    _image_file(tmp_path, "a.png", 48, 32)
    data = CocoDataset(tmp_path)
    err = capsys.readouterr().err
    assert data.box_masks is True
    assert err.count("\n") == 1 and "2 of 2 annotations have no segmentation" in err
    masks = data.masks(1)
    assert masks.shape == (2, 32, 48)
    assert [m.sum() for m in masks] == [10 * 20, 7 * 4]
    import ssd
    assert [ssd.mask_box(m) for m in masks] == [(3, 5, 13, 25), (30, 2, 37, 6)]
    assert data.image(1).shape == (32, 48, 3)
    data.masks(1)
    assert capsys.readouterr().err == ""                 # said once


def test_segmentation_masks_are_not_box_masks(shapes_root, capsys):
    assert CocoDataset(shapes_root).box_masks is False
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("images, annotations, message", [
    ([{"id": 1, "file_name": "a.png"}], [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1]}],
     r"annotations\[0\] \(id 1\) has category_id 7, which 'categories' does not list \(ids 1, 2\)"),
    ([{"id": "0001", "file_name": "a.png"}], [],
     r"images\[0\] has id '0001' \(str\): image ids must be integers"),
    ([{"id": 1, "file_name": "a.png"}], [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}],
     r"annotations\[0\] \(id 1\) names image_id 2, which 'images' does not list"),
    ([{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}], [],
     r"images\[1\] has id 1 like images\[0\]: image ids must be unique"),
    ([{"id": 1, "file_name": "a.png"}], [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1]}],
     r"annotations\[0\] \(id 1\) has bbox \[0, 0, -1, 1\]: it must be \[x, y, width, height\], 4 finite numbers"),
])
def test_inconsistent_ids_are_one_error_naming_the_id(tmp_path, images, annotations, message):
    _write(tmp_path, images, [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}], annotations)
    with pytest.raises(ValueError, match=message):
        CocoDataset(tmp_path)


def test_an_unknown_image_id_is_named(shapes_root):
    data = CocoDataset(shapes_root)
    for read in (data.image, data.annotations, data.masks, data.path):
        with pytest.raises(ValueError, match=r"image id 99 is not in .*instances_val2017.json"):
            read(99)
    with pytest.raises(ValueError, match="image id 99"):
        list(data.images([1, 99]))
