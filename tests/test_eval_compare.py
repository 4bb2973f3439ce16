"""`python -m eval.compare` end to end on a tiny model: resume, torchrun sharding, bad input.

The tiny model is the SSD layout at 128×128 with 1/32 of the channels and random weights; an oracle
detector (tests/eval_oracle.py) makes the synthetic objects the selected detections. Settings are
cut to the bone (20 superpixels, 20 LIME samples, 1 SHAP permutation, 10 flipping steps) so that a
whole run of 4 samples × 4 methods takes seconds.
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
import torch

import eval_oracle
from eval import compare, records

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--samples", "4", "--superpixels", "20", "--lime-samples", "20", "--shap-permutations", "1",
        "--steps", "10", "--device", "cpu"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    eval_oracle.save_tiny_model(path)
    return path


def _run(out, weights, *extra, figures=False):
    return compare.main(FAST + ["--weights", str(weights), "--out", str(out), *extra]
                        + ([] if figures else ["--no-figures"]))


@pytest.fixture(scope="module")
def reference(weights, tmp_path_factory):
    """One uninterrupted single-process run (1 thread, like each torchrun worker)."""
    out = tmp_path_factory.mktemp("reference")
    mp = pytest.MonkeyPatch()
    threads = torch.get_num_threads()
    try:
        eval_oracle.install(mp.setattr)
        torch.set_num_threads(1)
        assert _run(out, weights, figures=True) == 0
    finally:
        torch.set_num_threads(threads)
        mp.undo()
    return out


def _tables(out):
    return json.loads((Path(out) / "tables.json").read_text())


def _assert_same_results(a, b):
    """tables 1–3 and the curves equal (to float rounding); table 4 (wall clock) only in shape."""
    ta, tb = _tables(a), _tables(b)
    assert ta["complete"] and tb["complete"]
    assert ta["sample_ids"] == tb["sample_ids"] and ta["settings_hash"] == tb["settings_hash"]
    for name in ta["tables"]:
        if name == "table4":
            assert ta["tables"][name]["rows"].keys() == tb["tables"][name]["rows"].keys()
            continue
        _close(ta["tables"][name], tb["tables"][name])
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


def test_reference_run_writes_every_output(reference):
    t = _tables(reference)
    assert t["samples"] == 4 and t["methods"] == ["lrp", "deeplift", "lime", "shap"]
    recs = records.read(reference / "samples.jsonl")
    assert len(recs) == 4 * 5                                   # 4 methods + random per sample
    assert {r["method"] for r in recs} == {"lrp", "deeplift", "lime", "shap", "random"}
    curves = json.loads((reference / "curves.json").read_text())
    assert len(curves["fractions"]) == 11 and curves["fractions"][-1] == 1.0
    assert set(curves["curves"]["lrp"]) == {"pixels", "superpixels"} and set(curves["curves"]["lime"]) == {"superpixels"}
    for sid in t["sample_ids"]:
        with np.load(reference / "heatmaps" / f"{sid}.npz") as z:
            assert {"image", "segments", "box", "gt_box", "gt_mask", "lrp", "deeplift", "lime", "shap"} <= set(z.files)
            assert str(z["settings_hash"]) == t["settings_hash"]
            assert z["lrp"].shape == z["segments"].shape == z["image"].shape[:2] == (128, 128)
    # a perturbation method's own curve starts at the unperturbed score and ends all grey
    for r in recs:
        for curve in r["curves"].values():
            assert len(curve) == 11
    assert (reference / "report.html").is_file()
    md = (reference / "tables.md").read_text()
    assert "Table 2" in md and "5.41" in md                     # the paper's value beside ours


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_resume_after_interruption_equals_uninterrupted(reference, weights, tmp_path, monkeypatch, one_thread):
    eval_oracle.install(monkeypatch.setattr)
    real_append, calls = records.append, []

    def append_then_die(path, record):
        if len(calls) == 7:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(record)
        real_append(path, record)

    monkeypatch.setattr(records, "append", append_then_die)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, weights)
    assert not (tmp_path / "tables.json").exists()              # no tables from an unfinished run
    assert len(records.read(tmp_path / "samples.jsonl")) == 7
    monkeypatch.setattr(records, "append", real_append)
    assert _run(tmp_path, weights) == 0
    recs = records.read(tmp_path / "samples.jsonl")
    keys = [records.key(r) for r in recs]
    assert len(keys) == len(set(keys)) == 20                    # nothing twice, nothing missing
    _assert_same_results(reference, tmp_path)
    # a third run has nothing left to do and adds no record
    assert _run(tmp_path, weights) == 0
    assert len(records.read(tmp_path / "samples.jsonl")) == 20
    # --fresh starts over
    assert _run(tmp_path, weights, "--fresh", "--methods", "lrp") == 0
    assert {r["method"] for r in records.read(tmp_path / "samples.jsonl")} == {"lrp", "random"}


def test_changed_settings_never_mix(reference, weights, tmp_path, monkeypatch, one_thread):
    eval_oracle.install(monkeypatch.setattr)
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    assert _run(tmp_path, weights, "--methods", "lrp", "--gamma", "0.25") == 0
    recs = records.read(tmp_path / "samples.jsonl")
    assert len({r["settings_hash"] for r in recs}) == 2         # old records kept, not reused
    t = _tables(tmp_path)
    assert t["settings"]["gamma"] == 0.25 and t["settings_hash"] != _tables(reference)["settings_hash"]
    assert t["tables"]["table1"]["rows"]["lrp"]["pixels"]["n"] == 4


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_two_processes_equal_one(reference, weights, tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", str(_free_port()),
                             str(ROOT / "tests" / "eval_oracle.py"), *FAST, "--weights", str(weights),
                             "--out", str(tmp_path), "--no-figures"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "eval.compare[1/2]" in result.stderr                 # the second rank did work
    assert not list(tmp_path.glob("samples.rank*.jsonl"))       # parts merged by rank 0
    recs = records.read(tmp_path / "samples.jsonl")
    assert len({records.key(r) for r in recs}) == len(recs) == 20
    _assert_same_results(reference, tmp_path)


def _error_run(capsys, argv):
    code = compare.main(argv)
    return code, capsys.readouterr().err


def test_bad_input_clear_errors(weights, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tables.json").write_text('{"complete": true}')     # stale tables of an earlier run
    # COCO root without annotations
    (tmp_path / "coco" / "val2017").mkdir(parents=True)
    code, err = _error_run(capsys, FAST + ["--data", "coco", "--coco-root", str(tmp_path / "coco"),
                                           "--weights", str(weights), "--out", str(out)])
    assert code != 0 and "annotation file not found" in err and "instances_val2017.json" in err
    # a weights file that does not load
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code, err = _error_run(capsys, FAST + ["--weights", str(bad), "--out", str(out)])
    assert code != 0 and "bad.pt" in err
    code, err = _error_run(capsys, FAST + ["--weights", str(tmp_path / "missing.pt"), "--out", str(out)])
    assert code != 0 and "not found" in err
    # an unknown method
    code, err = _error_run(capsys, FAST + ["--weights", str(weights), "--methods", "lrp,gradcam", "--out", str(out)])
    assert code != 0 and "unknown method" in err and "gradcam" in err
    # zero matching detections: the random tiny model detects nothing at score 0.5
    code, err = _error_run(capsys, FAST + ["--weights", str(weights), "--max-images", "2", "--out", str(out)])
    assert code != 0 and "no detection with score >= 0.5 matched" in err and "2 image(s)" in err
    assert not (out / "tables.json").exists() and not (out / "tables.md").exists()
