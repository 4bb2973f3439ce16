"""Figures 4–11 and report.html from an output folder of the layout eval.compare writes."""
import base64
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
import skimage.io
import torch

import ssd
from eval import figures, report, tables
from eval.results import flipping_curves, read_samples

# A tiny SSD on 128×128 inputs (five sources: 16, 8, 4, 2, 1), so that each pass costs milliseconds.
TINY = ssd.SHAPES_SSD512.replace(
    width=1 / 64, size=128, extras=((256, 512, 3, 2, 1), (128, 256, 3, 2, 1), (128, 256, 3, 2, 1)),
    feature_maps=(16, 8, 4, 2, 1), steps=(8, 16, 32, 64, 128), min_sizes=(10, 30, 60, 90, 110),
    max_sizes=(30, 60, 90, 110, 140), aspect_ratios=((2,), (2, 3), (2, 3), (2,), (2,)))
METHODS = ["lrp", "deeplift", "lime", "shap"]


def make_out_dir(out, n_samples: int = 3, size: int = 64):
    """A hand-made compare output folder: heatmaps/*.npz, samples.jsonl, tables.json/md, curves.json."""
    rng = np.random.default_rng(0)
    (out / "heatmaps").mkdir(parents=True)
    segments = (np.arange(size)[:, None] // 16 * (size // 16) + np.arange(size)[None, :] // 16).astype(np.int32)
    records, ids = [], []
    for i in range(n_samples):
        sid = f"{i + 1}-0"
        ids.append(sid)
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        maps = {m: rng.normal(size=(size, size)).astype(np.float32) for m in ("lrp", "deeplift")}
        maps.update({m: rng.normal(size=16)[segments].astype(np.float32) for m in ("lime", "shap")})
        box, gt = [8.0, 10.0, 40.0, 50.0], [9.0, 9.0, 41.0, 52.0]
        np.savez_compressed(out / "heatmaps" / f"{sid}.npz", image=image, segments=segments,
                            box=np.array(box, np.float32), gt_box=np.array(gt, np.float32),
                            gt_mask=np.zeros((size, size), bool), **maps)
        for m in METHODS + ["random"]:
            curve = {mode: np.linspace(1, 0, 11).tolist() for mode in ("pixels", "superpixels")}
            metrics = {"auc": {mode: float(rng.uniform()) for mode in curve}}
            if m != "random":
                metrics.update({k: {mode: float(rng.uniform()) for mode in curve}
                                for k in ("entropy", "entropy_binned", "localization_box", "localization_mask")})
            records.append({"settings_hash": "h", "sample_id": sid, "method": m, "image_id": i + 1,
                            "class_name": "circle", "label": 1, "prior": 7 * i, "score": 0.9, "box": box,
                            "gt_box": gt, "metrics": metrics, "curves": curve, "seconds": 0.5 + i})
    (out / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    meta = {"complete": True, "samples": n_samples, "sample_ids": ids, "methods": METHODS, "data": "synthetic",
            "weights": "tiny", "device_name": "cpu", "settings_hash": "h"}
    tables.write(out, tables.build(records, METHODS, ids), tables.curves(records, METHODS, ids), meta)
    return out


def test_reader_understands_the_compare_layout(tmp_path):
    out = make_out_dir(tmp_path / "out")
    samples = read_samples(out)
    assert [s.id for s in samples] == ["1-0", "2-0", "3-0"]
    s = samples[0]
    assert set(s.heatmaps) == set(METHODS) and s.image.shape == (64, 64, 3) and s.segments.shape == (64, 64)
    assert (s.prior, s.label, s.class_name) == (0, 1, "circle") and len(s.records) == 5
    curves = flipping_curves(out, "pixels")
    assert list(curves) == ["LRP-γ(0.1)", "DeepLIFT-γ(0.1)", "LIME", "SHAP", "random"]
    fraction, mean, se = curves["random"]
    assert np.allclose(fraction, np.linspace(0, 1, 11)) and np.allclose(mean, np.linspace(1, 0, 11))
    assert np.allclose(se, 0)                                     # equal curves: zero standard error


def test_figures_without_model_skip_only_the_model_figures(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = make_out_dir(tmp_path / "out")
    skipped = figures.write_figures(out, model=None)
    assert skipped == ["fig4_lrp_rules", "fig5_deeplift", "fig7_perturbation_std"]
    assert "needs the model" in capsys.readouterr().err
    for name in set(figures.FIGURES) - set(skipped):
        assert skimage.io.imread(out / "figures" / f"{name}.png").ndim == 3
    notes = json.loads((out / "figures" / "notes.json").read_text())
    e = notes["fig9_entropy_noise"]
    assert e["method"] == "shap" and e["entropy"] == pytest.approx(4.0)   # 16 equal superpixels: log2 16
    assert e["entropy_with_noise"] > e["entropy"] + 5                      # noise: almost every value distinct


def test_without_matplotlib_every_figure_is_skipped_and_said(tmp_path, monkeypatch, capsys):
    import builtins
    real_import = builtins.__import__
    out = make_out_dir(tmp_path / "out")
    stale = out / "figures" / "fig8_grid.png"            # left by an earlier run: must not pass for this one
    stale.parent.mkdir()
    stale.write_bytes(b"old")

    def no_matplotlib(name, *args, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert figures.write_figures(out, model=None) == list(figures.FIGURES)
    assert "matplotlib is not installed" in capsys.readouterr().err
    assert not list((out / "figures").glob("*.png"))
    monkeypatch.setattr(builtins, "__import__", real_import)
    html_text = open(report.write_report(out), encoding="utf-8").read()
    assert "fig8_grid</b>: not made" in html_text                        # the report says so too


class _Page(HTMLParser):
    """Collects embedded images, table cells (data-value) by table and method, and the tables-json block."""

    def __init__(self):
        super().__init__()
        self.images, self.cells, self._table, self._method, self._script, self.script = [], {}, None, None, False, ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        elif tag == "table":
            self._table = a.get("data-table")
        elif tag == "tr":
            self._method = a.get("data-method")
        elif tag == "td" and self._table and self._method and "data-value" in a:
            self.cells.setdefault(self._table, {}).setdefault(self._method, []).append(json.loads(a["data-value"]))
        elif tag == "script" and a.get("id") == "tables-json":
            self._script = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        if tag == "script":
            self._script = False

    def handle_data(self, data):
        if self._script:
            self.script += data


def check_report(out):
    """Every embedded image decodes as a PNG, and the tables hold exactly the values of tables.json."""
    page = _Page()
    page.feed(open(report.write_report(out), encoding="utf-8").read())
    expected = json.loads((out / "tables.json").read_text())
    assert json.loads(page.script) == expected
    for name, t in expected["tables"].items():
        got = page.cells[name]
        assert list(got) == list(t["rows"])
        for method, row in t["rows"].items():
            assert got[method] == [row.get(c) for c in t["columns"]]
    decoded = []
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        decoded.append(skimage.io.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
    return page, decoded


def test_report_images_decode_and_tables_equal_tables_json(tmp_path):
    pytest.importorskip("matplotlib")
    out = make_out_dir(tmp_path / "out")
    skipped = figures.write_figures(out, model=None)
    page, decoded = check_report(out)
    n_figures = len(figures.FIGURES) - len(skipped)
    assert len(decoded) == n_figures + 3                                  # figures + one strip per sample
    strip = decoded[-1]
    assert strip.shape == (64, 5 * 64 + 4 * 4, 3)                       # image + 4 heatmaps, 4 px gaps


def test_compare_run_writes_every_figure_and_a_consistent_report(tmp_path, monkeypatch, device):
    """The whole chain on a tiny random model: eval.compare explains one detection (thresholds 0 so that
    random weights give matches), then calls write_figures and write_report."""
    pytest.importorskip("matplotlib")
    from eval import compare
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pt"
    torch.save({"format": "xai-ssd", "config": TINY.to_dict(), "state_dict": ssd.SSD(TINY).state_dict()}, weights)
    monkeypatch.setattr(figures, "FIG7_QUICK", figures.Fig7Settings(1, 2, (4,), 4, "test"))
    out = tmp_path / "out"
    rc = compare.main(["--weights", str(weights), "--samples", "1", "--score-threshold", "0", "--iou-threshold", "0",
                       "--superpixels", "16", "--lime-samples", "8", "--shap-permutations", "1", "--steps", "4",
                       "--max-images", "2", "--out", str(out), "--device", str(device)])
    assert rc == 0
    for name in figures.FIGURES:
        assert skimage.io.imread(out / "figures" / f"{name}.png").ndim == 3, name
    f7 = json.loads((out / "figures" / "notes.json").read_text())["fig7_perturbation_std"]
    assert f7["samples_used"] == 1 and len(f7["lime"]["mean"]) == len(f7["shap"]["mean"]) == 1
    assert f7["lime"]["mean"][0] >= 0 and f7["settings"]["name"] == "test"
    page, decoded = check_report(out)
    assert len(decoded) == len(figures.FIGURES) + 1                        # figures + the one sample


def test_figures_command_reports_a_missing_folder(tmp_path, capsys):
    assert figures.main([str(tmp_path / "nope"), "--device", "cpu"]) == 2
    assert "no such output folder" in capsys.readouterr().err
