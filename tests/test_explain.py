"""`python -m eval.explain`: one PNG per detection, a JSON per image, bad files reported, others done."""
import json
from pathlib import Path

import numpy as np
import pytest
import skimage.io
import torch

import ssd
from eval import explain

# A tiny SSD on 128×128 inputs (five sources: 16, 8, 4, 2, 1), so that each pass costs milliseconds.
TINY = ssd.SHAPES_SSD512.replace(
    width=1 / 64, size=128, extras=((256, 512, 3, 2, 1), (128, 256, 3, 2, 1), (128, 256, 3, 2, 1)),
    feature_maps=(16, 8, 4, 2, 1), steps=(8, 16, 32, 64, 128), min_sizes=(10, 30, 60, 90, 110),
    max_sizes=(30, 60, 90, 110, 140), aspect_ratios=((2,), (2, 3), (2, 3), (2,), (2,)))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random-weight tiny SSD saved in our checkpoint format (loaded through ssd.load)."""
    torch.manual_seed(0)
    model = ssd.SSD(TINY)
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    torch.save({"format": "xai-ssd", "config": TINY.to_dict(), "state_dict": model.state_dict()}, path)
    return path


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    png = tmp_path / "rgba.png"
    skimage.io.imsave(png, rng.integers(0, 256, (90, 130, 4), dtype=np.uint8), check_contrast=False)
    jpg = tmp_path / "sub" / "grey.jpg"
    jpg.parent.mkdir()
    skimage.io.imsave(jpg, rng.integers(0, 256, (300, 200), dtype=np.uint8), check_contrast=False)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    return png, jpg, broken, tmp_path / "missing.jpg"


def test_png_and_grey_jpeg_one_file_per_detection_bad_files_reported(weights, images, tmp_path, capsys, device):
    png, jpg, broken, missing = images
    out = tmp_path / "out"
    rc = explain.main([str(missing), str(png), str(broken), str(jpg), "--weights", str(weights),
                       "--methods", "lrp", "deeplift", "--score-threshold", "0", "--max-detections", "2",
                       "--out", str(out), "--device", str(device)])
    err = capsys.readouterr().err
    assert rc == 1                                                     # some failed
    assert str(missing) in err and "not found" in err
    assert str(broken) in err and "cannot read" in err
    assert "2 of 4 image(s) failed" in err
    for image, stem, (h, w) in ((png, "rgba", (90, 130)), (jpg, "grey", (300, 200))):
        record = json.loads((out / f"{stem}.json").read_text())
        assert record["image"] == str(image) and (record["height"], record["width"]) == (h, w)
        dets = record["detections"]
        assert len(dets) == 2
        assert sorted(p.name for p in out.glob(f"{stem}_*.png")) == sorted(d["png"] for d in dets)
        for d in dets:
            picture = skimage.io.imread(out / d["png"])
            s = TINY.size
            assert picture.shape == (s, 3 * s + 2 * 4, 3)               # image + 2 heatmaps, 4 px gaps
            assert d["class"] == TINY.class_names[d["label"]]
            # box in original pixels = box in input pixels scaled by the warp
            sx, sy = w / s, h / s
            bi = np.array(d["box_input"])
            assert np.allclose(d["box"], bi * [sx, sy, sx, sy], atol=0.02)
            assert set(d["relevance_sum"]) == {"lrp", "deeplift"}
    assert not list(out.glob("broken*")) and not list(out.glob("missing*"))


def test_all_good_exit_zero_and_same_names_kept_apart(weights, images, tmp_path, monkeypatch):
    png, jpg, _, _ = images
    other = jpg.parent / "rgba.png"                                    # same stem, other folder
    other.write_bytes(png.read_bytes())
    calls = []

    def fake(name, model, x, targets):                                 # the plumbing, not the method
        calls.append(name)
        return torch.zeros(len(targets), *x.shape[-2:])

    monkeypatch.setattr(explain, "explain_method", fake)
    out = tmp_path / "out"
    rc = explain.main([str(png), str(other), "--weights", str(weights), "--methods", "shap",
                       "--score-threshold", "0", "--max-detections", "1", "--out", str(out)])
    assert rc == 0 and calls == ["shap", "shap"]
    assert json.loads((out / "rgba.json").read_text())["image"] == str(png)
    assert json.loads((out / "rgba_2.json").read_text())["image"] == str(other)


def test_no_detections_writes_empty_record(weights, images, tmp_path, capsys):
    png = images[0]
    out = tmp_path / "out"
    rc = explain.main([str(png), "--weights", str(weights), "--score-threshold", "0.999", "--out", str(out)])
    assert rc == 0
    assert json.loads((out / "rgba.json").read_text())["detections"] == []
    assert "none above score" in capsys.readouterr().out


def test_bad_weights_and_threshold_exit_two(images, tmp_path, capsys):
    assert explain.main([str(images[0]), "--weights", str(tmp_path / "nope.pt"), "--out", str(tmp_path)]) == 2
    assert "cannot load model" in capsys.readouterr().err
    assert explain.main([str(images[0]), "--score-threshold", "1.5", "--out", str(tmp_path)]) == 2


def test_colliding_names_keep_every_record(weights, images, tmp_path, monkeypatch):
    """`d1/a.png d2/a.png a_2.png` once gave a, a_2, a_2: the third overwrote the second."""
    png = images[0]
    paths = [tmp_path / "d1" / "a.png", tmp_path / "d2" / "a.png", tmp_path / "a_2.png", tmp_path / "A.png"]
    for p in paths:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(png.read_bytes())
    monkeypatch.setattr(explain, "explain_method", lambda name, model, x, targets: torch.zeros(len(targets), *x.shape[-2:]))
    out = tmp_path / "out"
    rc = explain.main([str(p) for p in paths] + ["--weights", str(weights), "--methods", "lrp",
                                                 "--score-threshold", "0", "--max-detections", "2", "--out", str(out)])
    assert rc == 0
    records = {f.name: json.loads(f.read_text()) for f in out.glob("*.json")}
    assert sorted(r["image"] for r in records.values()) == sorted(str(p) for p in paths)
    # an image keeps its own name where it can (a_2.png is a_2.json); names differ ignoring case too
    assert json.loads((out / "a_2.json").read_text())["image"] == str(paths[2])
    assert len({n.lower() for n in records}) == 4
    pngs = [d["png"] for r in records.values() for d in r["detections"]]
    assert len(pngs) == 8 and len({n.lower() for n in pngs}) == 8
    assert sorted(p.name for p in out.glob("*.png")) == sorted(pngs)


def test_png_names_cannot_collide_through_class_names():
    """<stem>_<k>_<class>.png: the class part holds no '_', so the name determines (stem, k, class)."""
    assert explain.png_name("a", 1, "b_01_c") == "a_01_b-01-c.png"
    assert explain.png_name("a_01_b", 1, "c") == "a_01_b_01_c.png"


@pytest.mark.parametrize("value", ["-1", "0", "1.5"])
def test_bad_max_detections_exit_two(images, tmp_path, capsys, value):
    assert explain.main([str(images[0]), "--max-detections", value, "--out", str(tmp_path)]) == 2
    assert "--max-detections" in capsys.readouterr().err


def test_out_that_is_a_file_exits_two(weights, images, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    assert explain.main([str(images[0]), "--weights", str(weights), "--out", str(target)]) == 2
    assert f"--out {target} is a file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def shapes_image(tmp_path_factory):
    """A held-out synthetic image with its COCO annotations (the embedded model detects its objects)."""
    from ssd.data import generate
    root = tmp_path_factory.mktemp("coco")
    annotations = generate(str(root), 2, seed=20210913)
    return sorted((root / "val2017").glob("*.png"))[0], annotations


def test_box_and_contrast_targets_give_their_panels(shapes_image, tmp_path):
    image, _ = shapes_image
    for target, panels in (("box", 4), ("contrast", 1)):
        out = tmp_path / target
        assert explain.main([str(image), "--target", target, "--methods", "lrp", "--out", str(out)]) == 0
        record = json.loads((out / f"{image.stem}.json").read_text())
        assert record["target"] == target and record["detections"]
        for d in record["detections"]:
            assert len(d["targets"]) == len(d["relevance_sum"]["lrp"]) == panels
            assert len(d["panels"]) == panels and (out / d["png"]).is_file() and f"_{target}_" in d["png"]
            if target == "box":
                assert [t[1] for t in d["targets"]] == ["cx", "cy", "w", "h"] and {t[0] for t in d["targets"]} == {d["prior"]}
            else:
                assert d["targets"][0][1] == d["label"] and d["targets"][0][2] not in (0, d["label"])


def test_missed_objects_need_annotations_and_are_the_undetected_ones(shapes_image, tmp_path, capsys):
    image, annotations = shapes_image
    assert explain.main([str(image), "--target", "missed", "--out", str(tmp_path)]) == 2
    assert "--annotations" in capsys.readouterr().err
    # raise the threshold so high that nothing counts as detected: every object is "missed"
    assert explain.main([str(image), "--target", "missed", "--annotations", annotations, "--methods", "lrp",
                         "--score-threshold", "0.999", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / f"{image.stem}.json").read_text())
    coco = json.loads(Path(annotations).read_text())
    image_id = next(im["id"] for im in coco["images"] if Path(im["file_name"]).name == image.name)
    objects = [a for a in coco["annotations"] if a["image_id"] == image_id]
    assert len(record["detections"]) == len(objects) > 0                # each object, with its class
    assert sorted(d["class"] for d in record["detections"]) == sorted(
        next(c["name"] for c in coco["categories"] if c["id"] == a["category_id"]) for a in objects)
