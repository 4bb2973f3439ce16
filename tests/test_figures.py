"""Figures and report.html drawn from what eval.compare stored (nothing recomputed)."""
import base64
import io
import json
import shutil
from html.parser import HTMLParser

import pytest
import skimage.io
import torch
from conftest import FAST

import eval_oracle
from eval import compare
from eval.compare import figures
from eval.report import page as report
from eval import store


def _stored(out):
    run = store.opened(out, "compare", compare.EXPERIMENT.layout)
    ids = json.loads((out / "tables.json").read_text())["sample_ids"]
    return run.samples(ids), run.records()


@pytest.fixture
def run_copy(compare_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(compare_run, out)
    return out


def test_every_figure_is_drawn_from_the_stored_run(run_copy):
    pytest.importorskip("matplotlib")
    for name in figures.FIGURES:
        (run_copy / "figures" / f"{name}.png").unlink(missing_ok=True)
    written, skipped = figures.write_figures(run_copy, *_stored(run_copy))
    assert skipped == [] and written == [f"figures/{name}.png" for name in figures.FIGURES]
    for name in figures.FIGURES:
        assert skimage.io.imread(run_copy / "figures" / f"{name}.png").ndim == 3, name


def test_the_store_reader_understands_the_compare_layout(compare_run):
    t = json.loads((compare_run / "tables.json").read_text())
    samples, _ = _stored(compare_run)
    assert [s.id for s in samples] == t["sample_ids"]
    s = samples[0]
    assert {"lrp", "deeplift", "lime", "shap", "lrp-epsilon", "lrp-zplus", "deeplift-vanilla"} <= set(s.heatmaps)
    assert s.image.shape == (128, 128, 3) and s.segments.shape == (128, 128) and s.rf.dtype == bool
    assert s.class_name and {r["method"] for r in s.records} >= {"lrp", "random", "mask", ""}


def test_without_matplotlib_every_figure_is_skipped_and_said(run_copy, tiny_weights, monkeypatch, capsys):
    import builtins
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert figures.write_figures(run_copy, *_stored(run_copy)) == ([], list(figures.FIGURES))
    assert "matplotlib is not installed" in capsys.readouterr().err
    # the same command again: every record is there; the figures of the earlier run are removed, not shown
    eval_oracle.install(monkeypatch.setattr)
    threads = torch.get_num_threads()
    try:
        assert compare.main(FAST + ["--weights", str(tiny_weights), "--out", str(run_copy), "--fig7", "none"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "0 to do" in capsys.readouterr().err
    assert not list((run_copy / "figures").glob("*.png"))      # stale figures never pass for this run's
    monkeypatch.setattr(builtins, "__import__", real_import)
    html_text = open(report.write_page(run_copy), encoding="utf-8").read()
    assert "fig8_grid</b>: not drawn" in html_text


class _Page(HTMLParser):
    """Embedded images, table cells (data-value) by table and row, and the tables-json block."""

    def __init__(self):
        super().__init__()
        self.images, self.cells, self._table, self._row, self._script, self.script = [], {}, None, None, False, ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        elif tag == "table":
            self._table = a.get("data-table")
        elif tag == "tr":
            self._row = None
        elif tag == "td" and "data-method" in a:
            self._row = a["data-method"]
        elif tag == "td" and self._table and self._row and "data-value" in a:
            self.cells.setdefault(self._table, {}).setdefault(self._row, []).append(json.loads(a["data-value"]))
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


def test_report_images_decode_and_its_tables_equal_tables_json(compare_run):
    page = _Page()
    page.feed(open(report.write_page(compare_run), encoding="utf-8").read())
    expected = json.loads((compare_run / "tables.json").read_text())
    assert json.loads(page.script) == expected
    for name, t in expected["tables"].items():
        assert page.cells[name] == {m: [row.get(c) for c in t["columns"]] for m, row in t["rows"].items()}
    faith = expected["faithfulness"]["true"]["superpixels"]
    share = any("oracle_share" in c for c in faith.values())      # the column of the oracle's share, if any
    assert page.cells["faithfulness-true-superpixels"] == {
        m: [c["morf"], c["lerf"], c["gap"]] + ([c.get("oracle_share")] if share else []) for m, c in faith.items()}
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert skimage.io.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).ndim == 3
    beyond = len(list((compare_run / "gallery").glob("*-box.png"))) + len(list((compare_run / "gallery").glob("*-missed-*.png")))
    assert beyond >= 2                              # the box maps of the first two images' first samples
    assert len(page.images) == len(figures.FIGURES) + expected["n_samples"] + beyond    # figures, a strip per sample
    html_text = open(compare_run / "report.html", encoding="utf-8").read()
    assert html_text.index("Faithfulness") < html_text.index("The paper's tables")


def test_report_command_reports_a_missing_folder(tmp_path, capsys):
    assert report.main([str(tmp_path / "nope")]) == 2
    assert "no such output folder" in capsys.readouterr().err
