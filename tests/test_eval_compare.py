"""`python -m eval.compare` end to end on a tiny model: outputs, resume (also from a torn record),
torchrun sharding, changed settings, bad input.

The tiny model is the SSD layout at 128×128 with 1/32 of the channels and random weights; an oracle
detector (tests/eval_oracle.py) makes the synthetic objects the selected detections. Settings are
cut to the bone (20 superpixels, 20 LIME samples, 1 SHAP permutation) so that a whole run of 4
samples × 4 methods takes seconds.
"""
import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST

import eval_oracle
from eval import compare
from eval import store
from eval.store import records

RECORDS = compare.EXPERIMENT.layout.records

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("lrp", "deeplift", "lime", "shap")
ROWS = {*METHODS, "oracle", "random", "mask", "edge", "box-gaussian", "lrp-random-model",
        *(f"{m}-negated" for m in METHODS)}          # methods, references, negative controls (eval.compare.rows)
# every sample: a record per row and its sample record; the first image's sample (4 samples spread over
# 4 images, eval.compare's --images 16): LIME with the matched score (--matched-images 1)
N_RECORDS = 4 * (len(ROWS) + 1) + 1


def _run(out, weights, *extra):
    return compare.main(FAST + ["--weights", str(weights), "--out", str(out), "--no-figures", "--fig7", "none",
                                *extra])


def _tables(out):
    return json.loads((Path(out) / "tables.json").read_text())


def _records(out):
    return store.read(Path(out) / RECORDS)


def _same_results(a, b):
    """Everything in tables.json and curves.json equal (to float rounding) but wall-clock times."""
    ta, tb = _tables(a), _tables(b)
    for t in (ta, tb):
        t.pop("device_name")
        t.pop("stage_seconds")                              # wall-clock times, as table 4
        t["tables"].pop("table4")
    _close(ta, tb)
    _close(json.loads((Path(a) / "curves.json").read_text()), json.loads((Path(b) / "curves.json").read_text()))


def _close(x, y):
    if isinstance(x, dict):
        assert x.keys() == y.keys()
        for k in x:
            _close(x[k], y[k])
    elif isinstance(x, list):
        assert len(x) == len(y)
        for u, v in zip(x, y):
            _close(u, v)
    elif isinstance(x, float) and isinstance(y, float):
        assert math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9), (x, y)
    else:
        assert x == y


@pytest.fixture(scope="module")
def reference(compare_run):
    return compare_run


def test_reference_run_writes_every_output(reference):
    t = _tables(reference)
    assert t["samples"] == t["n_samples"] == 4 and t["methods"] == ["lrp", "deeplift", "lime", "shap"]
    recs = _records(reference)
    explained = [r for r in recs if r["kind"] == "explanation"]
    assert {r["method"] for r in explained} == ROWS and len(explained) == 4 * len(ROWS)
    assert len([r for r in recs if r["kind"] == "sample"]) == 4
    faith = t["faithfulness"]["true"]["superpixels"]
    assert set(faith) == ROWS and set(faith["lrp"]) == {"morf", "lerf", "gap", "oracle_share"}
    assert set(faith["lrp"]["gap"]) >= {"mean", "ci95", "n", "n_images"}
    assert set(t["operator_fidelity"]) == {"grey", "blur", "inpaint"}
    assert set(t["outside_rf"]) == {"lrp", "deeplift", "lime", "shap"}
    assert t["passes_run"] > 0 and t["passes_skipped"] > 0
    pair = t["paired"][0]
    assert {"metric", "operator", "unit", "a", "b", "mean_diff", "ci95", "n"} <= set(pair)
    for r in recs:                       # LRP, DeepLIFT and SHAP (pruned) put nothing outside the field
        if r["kind"] == "explanation" and r["method"] in ("lrp", "deeplift"):
            assert r["metrics"]["outside_rf"] == 0.0
    curves = json.loads((reference / "curves.json").read_text())
    assert len(curves["grid"]) == 15 and curves["grid"][-1] == 1.0
    assert set(curves["flipping"]["pixels"]) == {"lrp", "deeplift", "random"}
    for sid in t["sample_ids"]:
        with np.load(reference / "heatmaps" / f"{sid}.npz") as z:
            names = set(z.files)
            assert {"image", "segments", "box", "gt_box", "gt_mask", "rf"} <= names
            assert {f"heatmap/{m}" for m in ("lrp", "deeplift", "lime", "shap")} <= names
            assert str(z["settings_hash"]) == t["settings_hash"]
            assert z["heatmap/lrp"].shape == z["segments"].shape == z["image"].shape[:2] == (128, 128)
    assert (reference / "report.html").is_file() and (reference / "variability.json").is_file()
    md = (reference / "tables.md").read_text()
    assert md.index("Faithfulness") < md.index("Table 2") and "5.41" in md    # new tables first, paper beside


def test_resume_after_interruption_equals_uninterrupted(reference, tiny_weights, tmp_path, monkeypatch, one_thread):
    eval_oracle.install(monkeypatch.setattr)
    real_append, calls = store.append, []

    def append_then_die(path, record):
        if len(calls) == 9:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(record)
        real_append(path, record)

    monkeypatch.setattr(records, "append", append_then_die)   # Store appends through its module
    assert _run(tmp_path, tiny_weights) == 130                   # Ctrl-C: one line, exit code 130
    assert not (tmp_path / "tables.json").exists()              # no tables from an unfinished run
    assert len(_records(tmp_path)) == 9
    monkeypatch.setattr(records, "append", real_append)
    assert _run(tmp_path, tiny_weights) == 0
    keys = [store.key(r) for r in _records(tmp_path)]
    assert len(keys) == len(set(keys)) == N_RECORDS   # nothing twice, nothing missing
    _same_results(reference, tmp_path)
    assert _run(tmp_path, tiny_weights) == 0                    # nothing left to do: no record added
    assert len(_records(tmp_path)) == len(keys)
    assert _run(tmp_path, tiny_weights, "--fresh", "--methods", "lrp") == 0
    assert {r["method"] for r in _records(tmp_path)} == {"lrp", "oracle", "random", "mask", "edge", "box-gaussian",
                                                         "lrp-random-model", "lrp-negated", ""}


def test_a_torn_last_record_is_redone_and_the_tables_equal(reference, tiny_weights, tmp_path, monkeypatch, one_thread):
    """Killed while writing: the last line of samples.jsonl is half a record. The rerun drops it,
    writes that record again, and the tables equal those of an uninterrupted run (twice in a row)."""
    eval_oracle.install(monkeypatch.setattr)
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    path = tmp_path / RECORDS
    text = path.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    path.write_text(text[:len(text) - len(last) - 1] + last[:len(last) // 2])
    for _ in range(2):
        assert _run(tmp_path, tiny_weights) == 0
        lines = path.read_text().splitlines()
        assert all(json.loads(line) for line in lines) and len(lines) == N_RECORDS
        _same_results(reference, tmp_path)


def test_changed_settings_are_refused_never_mixed(reference, tiny_weights, tmp_path, monkeypatch, one_thread, capsys):
    """A folder holds one settings of an experiment: another --gamma is refused, naming what differs,
    and nothing of the earlier run is touched; --fresh replaces it."""
    eval_oracle.install(monkeypatch.setattr)
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".npz", ".json")}
    assert _run(tmp_path, tiny_weights, "--methods", "lrp", "--gamma", "0.25") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings (gamma differ)" in err and "--fresh" in err
    assert {p: p.read_bytes() for p in before} == before                  # records and arrays untouched
    assert _run(tmp_path, tiny_weights, "--methods", "lrp", "--gamma", "0.25", "--fresh") == 0
    assert len({r["settings_hash"] for r in _records(tmp_path)}) == 1      # the old records are gone, not reused
    t = _tables(tmp_path)
    assert t["settings"]["gamma"] == 0.25 and t["settings_hash"] != _tables(reference)["settings_hash"]
    assert t["tables"]["table1"]["rows"]["lrp"]["pixels"]["n"] == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_two_processes_equal_one(reference, tiny_weights, tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", str(_free_port()),
                             str(ROOT / "tests" / "eval_oracle.py"), *FAST, "--weights", str(tiny_weights),
                             "--out", str(tmp_path), "--no-figures", "--fig7", "none"],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "eval.compare[1/2]" in result.stderr                 # the second rank did work
    assert not list(tmp_path.glob("samples.rank*.jsonl"))       # parts merged by rank 0
    recs = _records(tmp_path)
    assert len({store.key(r) for r in recs}) == len(recs) == N_RECORDS
    _same_results(reference, tmp_path)


def test_processes_two_equal_one(reference, tiny_weights, tmp_path):
    """--processes 2 spawns two workers that shard the units as torchrun's ranks do: the same records."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "eval_oracle.py"), *FAST, "--processes", "2",
                             "--weights", str(tiny_weights), "--out", str(tmp_path), "--no-figures", "--fig7", "none"],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "eval.compare[1/2]" in result.stderr
    assert not list(tmp_path.glob("samples.rank*.jsonl"))
    recs = _records(tmp_path)
    assert len({store.key(r) for r in recs}) == len(recs) == N_RECORDS
    _same_results(reference, tmp_path)


def _error_run(capsys, argv):
    code = compare.main(argv)
    return code, capsys.readouterr().err


def test_bad_input_clear_errors_before_any_work(tiny_weights, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tables.json").write_text('{"complete": true}')     # a file this command did not write
    base = FAST + ["--weights", str(tiny_weights)]
    (tmp_path / "coco" / "val2017").mkdir(parents=True)
    code, err = _error_run(capsys, base + ["--data", "coco", "--coco-root", str(tmp_path / "coco"), "--out", str(out)])
    assert code == 2 and "annotation file not found" in err and "instances_val2017.json" in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code, err = _error_run(capsys, FAST + ["--weights", str(bad), "--out", str(out)])
    assert code == 2 and "bad.pt" in err
    code, err = _error_run(capsys, FAST + ["--weights", str(tmp_path / "missing.pt"), "--out", str(out)])
    assert code == 2 and "not found" in err
    cases = {("--methods", "lrp,occlusion"): "unknown method",
             ("--operators", "black"): "unknown removal operator",
             ("--units", "voxels"): "--units",
             ("--lime-samples", "1"): "--lime-samples must be an integer ≥ 2",
             ("--max-images", "0"): "--max-images must be an integer ≥ 1",
             ("--gamma", "nan"): "--gamma must be a finite number",
             ("--score-threshold", "1.5"): "--score-threshold must be a finite number in [0, 1)"}
    for extra, message in cases.items():
        code, err = _error_run(capsys, base + list(extra) + ["--out", str(out)])
        assert code == 2 and message in err, (extra, err)
    code, err = _error_run(capsys, base + ["--data", "coco", "--coco-root", str(tmp_path / "coco"),
                                           "--operators", "true", "--out", str(out)])
    assert code == 2 and "needs the synthetic data" in err
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    code, err = _error_run(capsys, base + ["--out", str(a_file)])
    assert code == 2 and "is a file" in err
    assert not (out / RECORDS).exists()                   # nothing was computed for any of them
    # zero matching detections: the random tiny model detects nothing at score 0.5
    code, err = _error_run(capsys, base + ["--max-images", "2", "--out", str(out)])
    assert code == 2 and "no detection with score >= 0.5 matched" in err and "2 image(s)" in err
    # a file this command did not write is never deleted, not even at a name it uses (a failing run
    # once deleted an unrelated tables.md); its own stale outputs go (test_figures, the manifest)
    assert (out / "tables.json").read_text() == '{"complete": true}' and not (out / "tables.md").exists()


def test_six_methods_with_the_fields_measures(tiny_weights, tmp_path, monkeypatch, one_thread):
    """D-RISE and Grad-CAM beside the paper's four: rows for all six, the pointing game and insertion /
    deletion with OA (true and grey removal) for each."""
    eval_oracle.install(monkeypatch.setattr)
    six = ("lrp", "deeplift", "lime", "shap", "drise", "gradcam")
    assert _run(tmp_path, tiny_weights, "--methods", ",".join(six), "--no-controls") == 0
    t = _tables(tmp_path)
    assert set(six) <= set(t["faithfulness"]["true"]["superpixels"])
    assert set(t["pointing_game"]) == set(six) and all(0 <= c["mean"] <= 1 for c in t["pointing_game"].values())
    for op in ("true", "grey"):
        for m in six:
            cells = t["insertion_deletion"][op][m]
            assert cells["oa"]["mean"] == pytest.approx(cells["insertion"]["mean"] - cells["deletion"]["mean"])
    md = (tmp_path / "tables.md").read_text()
    assert "Pointing game" in md and "OA = insertion − deletion" in md
