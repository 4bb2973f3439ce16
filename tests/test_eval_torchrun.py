"""Every experiment shards the same way: under torchrun with 2 processes eval.sanity and eval.hans
write the same summary as one process (timings aside). eval.compare's case is in test_eval_compare."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import eval_oracle

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
pytestmark = pytest.mark.skipif(not Path(TORCHRUN).exists(), reason="torchrun not installed")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(processes: int, target: list[str], out: Path) -> str:
    launcher = ([TORCHRUN, "--nproc_per_node", str(processes), "--master_port", str(_free_port())]
                if processes > 1 else [sys.executable])           # both take a script or -m MODULE
    result = subprocess.run(launcher + target + ["--out", str(out)], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def _without_times(value):
    """A summary with its wall-clock fields (device names, seconds) taken out."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in ("device_name", "seconds")}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def test_sanity_two_processes_equal_one(tmp_path):
    weights = tmp_path / "tiny.pt"
    eval_oracle.save_tiny_model(weights)
    target = [str(ROOT / "tests" / "eval_oracle.py"), "sanity", "--samples", "2", "--methods", "gradient,lime",
              "--superpixels", "12", "--lime-samples", "8", "--variants", "cascading", "--weights", str(weights),
              "--device", "cpu", "--no-figures"]
    _run(1, target, tmp_path / "one")
    err = _run(2, target, tmp_path / "two")
    assert "eval.sanity[1/2]" in err                              # the second rank did work
    assert not list((tmp_path / "two").glob("sanity.rank*.jsonl"))   # parts merged by rank 0
    one, two = (json.loads((tmp_path / d / "sanity.json").read_text()) for d in ("one", "two"))
    assert _without_times(one) == _without_times(two)


def test_hans_two_processes_equal_one(tmp_path):
    target = ["-m", "eval.hans", "--samples", "2", "--controls", "1", "--methods", "lrp", "--max-images", "12",
              "--device", "cpu", "--no-figures"]
    _run(1, target, tmp_path / "one")
    err = _run(2, target, tmp_path / "two")
    assert "eval.hans[1/2]" in err
    one, two = (json.loads((tmp_path / d / "hans.json").read_text()) for d in ("one", "two"))
    assert _without_times(one) == _without_times(two) and one["n_samples"] == 3
