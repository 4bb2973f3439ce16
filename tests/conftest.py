"""Shared fixtures: every device test runs on the CPU and, where one is available, on CUDA."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_oracle  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """torch on one CPU thread for the test (as each torchrun worker), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


FAST = ["--samples", "4", "--superpixels", "20", "--lime-samples", "20", "--shap-permutations", "1",
        "--random-orders", "2", "--device", "cpu"]


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    eval_oracle.save_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def compare_run(tiny_weights, tmp_path_factory):
    """One uninterrupted eval.compare run (1 thread, like each torchrun worker) on the tiny model with the
    oracle detector, figures and report included (figure 7 cut to one budget): the output folder."""
    from eval import compare
    from eval.compare import variability
    out = tmp_path_factory.mktemp("reference")
    mp = pytest.MonkeyPatch()
    threads = torch.get_num_threads()
    try:
        eval_oracle.install(mp.setattr)
        mp.setattr(variability, "QUICK", variability.Settings(1, 2, (4,), 4, "test"))
        torch.set_num_threads(1)
        assert compare.main(FAST + ["--weights", str(tiny_weights), "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
        mp.undo()
    return out
