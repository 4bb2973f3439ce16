"""Nothing lost, nothing reused by mistake: the store and the runner under the probes a new user ran
(two runs on one folder, experiments sharing a folder, changed data, links, damaged files, outputs of
an earlier run, bad options). Each case failed (or lost data) before the runner had a lock, a
manifest and content digests; the issue lists them."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST

import eval_oracle
from eval import compare, sanity
from eval.report.page import main as report_main
from eval import store
from eval.run.samples import data_digest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _run(out, weights, *extra):
    return compare.main(FAST + ["--weights", str(weights), "--out", str(out), "--no-figures", "--fig7", "none", *extra])


def _snapshot(folder: Path, names=("samples.jsonl",), arrays="heatmaps") -> dict:
    files = [folder / n for n in names] + sorted((folder / arrays).glob("*.npz"))
    return {p: p.read_bytes() for p in files if p.is_file()}


def test_three_concurrent_runs_on_one_folder_damage_nothing_and_a_rerun_completes(tiny_weights, tmp_path):
    """Before: every process wrote heatmaps/<id>.npz.tmp; one died with FileNotFoundError, a third left
    a corrupt .npz and every rerun then died with BadZipFile. Now the folder's lock admits one run; the
    others stop at once with one line naming the holder."""
    cmd = [sys.executable, str(ROOT / "tests" / "eval_oracle.py"), *FAST, "--weights", str(tiny_weights),
           "--out", str(tmp_path), "--no-figures", "--fig7", "none"]
    runs = [subprocess.Popen(cmd, env=ENV, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=900), p.stderr.read()) for p in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2, 2], results
    for code, err in results:
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and "is in use by pid" in err and "eval.compare" in err
    for path in (tmp_path / "heatmaps").glob("*"):
        assert path.suffix == ".npz"                          # no temporary file left behind
        with np.load(path) as z:
            assert "heatmap/lrp" in z.files
    rerun = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0 and ", 0 to do," in rerun.stderr


def test_changed_data_changes_the_settings(tmp_path):
    """Before: the COCO root entered the settings by its path only; regenerated with other images,
    the rerun said "already done" and the tables described the old images."""
    from ssd.data import generate
    root = tmp_path / "coco"
    generate(str(root), 2, seed=1)
    first = data_digest("coco", 0, str(root))
    assert data_digest("coco", 0, str(root)) == first
    shutil.rmtree(root)
    generate(str(root), 2, seed=2)                               # the same names, other images
    assert data_digest("coco", 0, str(root)) != first
    assert data_digest("synthetic", 1) != data_digest("synthetic", 2)


def test_experiments_sharing_a_folder_keep_each_others_results(compare_run, tiny_weights, tmp_path, monkeypatch,
                                                                one_thread, capsys):
    """Before: eval.sanity --out <compare folder> rewrote heatmaps/1-0.npz, and a --fresh of another
    experiment wiped every compare record; the compare rerun then reported 0 samples."""
    out = tmp_path / "shared"
    shutil.copytree(compare_run, out)
    before = _snapshot(out, ("samples.jsonl", "tables.json"))
    eval_oracle.install(monkeypatch.setattr)
    argv = ["--threads", "1", "--samples", "2", "--methods", "gradient", "--variants", "cascading", "--weights",
            str(tiny_weights), "--device", "cpu", "--no-figures", "--out", str(out)]
    assert sanity.main(argv) == 0
    assert sanity.main(argv + ["--fresh"]) == 0
    assert _snapshot(out, ("samples.jsonl", "tables.json")) == before      # compare's files untouched
    assert (out / "sanity.jsonl").is_file() and "sanity" in json.loads((out / ".eval.json").read_text())
    capsys.readouterr()
    assert compare.main(FAST + ["--weights", str(tiny_weights), "--out", str(out), "--fig7", "none"]) == 0
    assert ", 0 to do," in capsys.readouterr().err
    page = (out / "report.html").read_text()
    assert 'id="compare"' in page and 'id="sanity"' in page                  # both sections on one page


def test_links_are_never_written_through(compare_run, tiny_weights, tmp_path, monkeypatch, one_thread, capsys):
    """Before: temporary files were written through whatever sat at their name, a link included."""
    out = tmp_path / "run"
    shutil.copytree(compare_run, out)
    outside = tmp_path / "outside.json"
    outside.write_text("precious")
    (out / "tables.json").unlink()
    (out / "tables.json").symlink_to(outside)
    eval_oracle.install(monkeypatch.setattr)
    assert _run(out, tiny_weights) == 0
    assert outside.read_text() == "precious" and not (out / "tables.json").is_symlink()
    records = out / "samples.jsonl"
    lines = records.read_text().splitlines()
    (tmp_path / "elsewhere.jsonl").write_text("\n".join(lines[:-1]) + "\n")      # one record to write again
    records.unlink()
    records.symlink_to(tmp_path / "elsewhere.jsonl")
    capsys.readouterr()
    assert _run(out, tiny_weights) == 2                          # a record to append: refused, not followed
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("python -m eval.compare: error:") and "is a symbolic link" in last
    assert (tmp_path / "elsewhere.jsonl").read_text().count("\n") == len(lines) - 1     # nothing written there


def test_a_damaged_array_is_named_and_its_sample_measured_again(compare_run, tiny_weights, tmp_path, monkeypatch,
                                                                 one_thread, capsys):
    """Before: a damaged .npz gave a BadZipFile traceback naming no file, at every rerun."""
    out = tmp_path / "run"
    shutil.copytree(compare_run, out)
    tables = json.loads((out / "tables.json").read_text())
    damaged = out / "heatmaps" / f"{tables['sample_ids'][0]}.npz"
    damaged.write_bytes(damaged.read_bytes()[:100])
    eval_oracle.install(monkeypatch.setattr)
    assert _run(out, tiny_weights) == 0
    err = capsys.readouterr().err
    assert f"{damaged} cannot be read" in err and "measured again" in err
    with np.load(damaged) as z:
        assert "heatmap/lrp" in z.files                         # written anew
    again = json.loads((out / "tables.json").read_text())
    assert again["faithfulness"] == tables["faithfulness"]       # the same numbers
    keys = [store.key(r) for r in store.read(out / "samples.jsonl")]
    assert len(keys) == len(set(keys))                           # the sample's records are not written twice


def test_a_smaller_rerun_shows_only_its_own_samples(compare_run, tiny_weights, tmp_path, monkeypatch, one_thread):
    """Before: a smaller --samples rerun left the larger run's gallery in place."""
    out = tmp_path / "run"
    shutil.copytree(compare_run, out)
    eval_oracle.install(monkeypatch.setattr)
    assert compare.main([*FAST[:1], "2", *FAST[2:], "--weights", str(tiny_weights), "--out", str(out),
                         "--fig7", "none"]) == 0
    assert FAST[:2] == ["--samples", "4"]
    ids = json.loads((out / "tables.json").read_text())["sample_ids"]
    pictures = [p.stem for p in (out / "gallery").glob("*.png")]
    assert len(ids) == 2 and sorted(p for p in pictures if p in ids) == sorted(ids)
    assert all(p.split("-box")[0].split("-missed")[0] in ids for p in pictures)     # none of the larger run


def test_the_report_of_a_folder_with_damaged_records_is_stitched_without_reading_them(compare_run, tmp_path):
    """Before: eval.report on a damaged samples.jsonl gave a traceback; the page now stitches the
    sections the experiments wrote and reads no record."""
    out = tmp_path / "run"
    shutil.copytree(compare_run, out)
    (out / "samples.jsonl").write_text('{"broken\n' + (out / "samples.jsonl").read_text())
    assert report_main([str(out)]) == 0 and 'id="compare"' in (out / "report.html").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--superpixels", "100000"], "--superpixels must be an integer in [2, 4096], got 100000"),
    (["--seed", str(2 ** 70)], f"--seed must be an integer in [0, {2 ** 63 - 1}]"),
    (["--data-seed", "-1"], "--data-seed must be an integer in [0,"),
    (["--lime-samples", "2000000"], "--lime-samples 2000000 × --superpixels 250 needs a"),
    (["--shap-permutations", "5000"], "forward passes per image (at most 1,000,000)"),
])
def test_every_option_is_bounded_and_named(argv, message, tmp_path, capsys):
    """Before: --superpixels 100000 was accepted (LIME then tried to allocate 34 GB after all its
    passes), and --seed 2**70 or --data-seed -1 gave errors that did not name the option."""
    assert compare.main(argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_every_command_accepts_the_embedded_models_by_name(tmp_path, capsys):
    """Before: eval.compare --weights shapes-hans said 'weights file not found' though ssd.load takes it."""
    assert compare.main(["--weights", "shapes-hans", "--samples", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not found" not in err and "--samples must be" in err


def test_a_missing_embedded_model_is_named_before_any_work(tmp_path, capsys, monkeypatch):
    """Before: --weights shapes-seed1,… passed the checks while its file was missing, and the error came
    only after the first model's whole run."""
    from ssd.load import EMBEDDED
    monkeypatch.setitem(EMBEDDED, "shapes-seed9", tmp_path / "shapes-seed9.pt")
    assert compare.main(["--weights", "shapes,shapes-seed9", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "--weights shapes-seed9: the embedded model" in err and "is missing" in err
    assert not (tmp_path / "out").exists()


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(c) for c in path.read_text().split()} if path.exists() else set()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"          # a zombie has stopped running


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
def test_sigterm_to_the_launcher_stops_its_workers(tmp_path):
    # killing `--processes 2`'s launcher (a scheduler's SIGTERM) once left both workers running on alone,
    # appending records to the folder; now the launcher stops them and exits with 128 + 15
    launcher = subprocess.Popen([sys.executable, "-m", "eval.compare", *FAST, "--weights", "shapes", "--out",
                                 str(tmp_path / "run"), "--processes", "2", "--no-figures", "--fig7", "none"],
                                env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = set()
    try:
        deadline = time.monotonic() + 60
        while len(_children(launcher.pid)) < 2 and time.monotonic() < deadline and launcher.poll() is None:
            time.sleep(0.1)
        workers = _children(launcher.pid)
        assert len(workers) >= 2, "the launcher never started its workers"
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=60) == 143
        deadline = time.monotonic() + 15
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers)
    finally:                                                   # a failing run leaves nothing behind
        if launcher.poll() is None:
            launcher.kill()
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
