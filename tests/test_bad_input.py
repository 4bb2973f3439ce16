"""Bad input never gives a silent wrong result (issue 14): every explanation method of the registry,
the LIME/SHAP settings, baselines and references, the score functions and the command lines reject
it with a message that names the problem, before the model runs once.

Before these checks, one NaN pixel gave LRP, DeepLIFT, SHAP and the gradient all-NaN heatmaps and
LIME finite but meaningless ones; float64 input failed deep inside torch ("Input type (double) and
bias type (float) should be the same"); a 256×256 input to a 512 model gave heatmaps of the wrong
size (LRP, DeepLIFT) or torch's shape errors; NaN kernel widths, ridge penalties and baselines were
accepted."""
import contextlib
import re
import sys

import pytest
import torch

import deeplift
import eval_oracle
import perturb
import ssd
from eval import bench, compare, hans, methods, sanity
from eval.run import runner

NAN, INF = float("nan"), float("inf")
TARGETS = [ssd.Target(10, 1), ssd.Target(300, 2)]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return ssd.SSD(eval_oracle.TINY).eval()           # 128×128 input


def grid(size=128, block=32):
    rows = torch.arange(size) // block
    return rows[:, None] * (size // block) + rows[None, :]


@contextlib.contextmanager
def forward_passes(model):
    """Count the forward passes of `model` (and of its blocks: a windowed score runs only those)."""
    calls = []
    handles = [m.register_forward_pre_hook(lambda *_: calls.append(1)) for m in (model, *model.features)]
    try:
        yield calls
    finally:
        for h in handles:
            h.remove()


def run_method(name, model, x, segments=None):
    method = methods.get(name, {"lime_samples": 4, "shap_permutations": 1})
    return method.explain(model, x, TARGETS, grid(x.shape[-1]) if segments is None else segments)


@pytest.mark.parametrize("name", methods.NAMES)
def test_one_nan_pixel_is_counted_before_any_pass(tiny, name):
    x = torch.randn(1, 3, 128, 128)
    x[0, 2, 40, 3] = NAN
    with forward_passes(tiny) as calls, pytest.raises(ValueError, match=re.escape(
            "x has 1 NaN and 0 ±inf values (of 49152; the first at [0, 2, 40, 3])")):
        run_method(name, tiny, x)
    assert not calls


@pytest.mark.parametrize("name", methods.NAMES)
def test_inf_pixels_are_counted(tiny, name):
    x = torch.randn(1, 3, 128, 128)
    x[0, 0, 0, :3] = INF
    with pytest.raises(ValueError, match=r"0 NaN and 3 ±inf values"):
        run_method(name, tiny, x)


@pytest.mark.parametrize("name", methods.NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_other_dtypes_are_named_not_cast(tiny, name, dtype):
    with forward_passes(tiny) as calls, pytest.raises(
            ValueError, match=rf"x is {dtype} but the model computes in torch.float32: pass x.float\(\)"):
        run_method(name, tiny, torch.zeros(1, 3, 128, 128, dtype=dtype))
    assert not calls


@pytest.mark.parametrize("name", methods.NAMES)
def test_a_256_input_to_a_512_model_names_the_size(name):
    """Before: LRP, DeepLIFT and the gradient returned 256×256 heatmaps of a model trained at 512."""
    model = ssd.SSD(ssd.SHAPES_SSD512.replace(width=1 / 64)).eval()
    with forward_passes(model) as calls, pytest.raises(
            ValueError, match=r"\[N,3,512,512\] .*configured size 512\), got shape \(1, 3, 256, 256\)"):
        run_method(name, model, torch.zeros(1, 3, 256, 256))
    assert not calls


@pytest.mark.parametrize("name", methods.NAMES)
def test_an_8x8_input_names_the_size(tiny, name):
    """Before: "Kernel size can't be greater than actual input size" (SHAP: "output position 10 outside …")."""
    with pytest.raises(ValueError, match=r"configured size 128\), got shape \(1, 3, 8, 8\)"):
        run_method(name, tiny, torch.zeros(1, 3, 8, 8), torch.zeros(8, 8, dtype=torch.long))


@pytest.mark.parametrize("method, kwargs, message", [
    ("lime", {"kernel_width": NAN}, "kernel_width must be a finite number > 0, got nan"),
    ("lime", {"kernel_width": INF}, "kernel_width must be a finite number > 0, got inf"),
    ("lime", {"kernel_width": 0.0}, "kernel_width must be a finite number > 0, got 0.0"),
    ("lime", {"alpha": NAN}, "ridge alpha must be a finite number ≥ 0, got nan"),
    ("lime", {"alpha": INF}, "ridge alpha must be a finite number ≥ 0, got inf"),
    ("lime", {"alpha": -1.0}, "ridge alpha must be a finite number ≥ 0, got -1.0"),
    ("lime", {"n_samples": 1}, "LIME n_samples must be an integer ≥ 2, got 1"),
    ("lime", {"n_samples": 2.5}, "LIME n_samples must be an integer ≥ 2, got 2.5"),
    ("lime", {"n_samples": NAN}, "LIME n_samples must be an integer ≥ 2, got nan"),
    ("lime", {"seed": 1.5}, "seed must be an integer, got 1.5"),
    ("lime", {"baseline": NAN}, r"baseline has 49152 NaN and 0 ±inf values"),
    ("lime", {"baseline": torch.tensor([0.0, INF, 0.0]).view(3, 1, 1)}, r"baseline has 0 NaN and 16384 ±inf"),
    ("lime", {"baseline": torch.zeros(3, 64, 64)}, r"baseline of shape \(3, 64, 64\) does not broadcast"),
    ("lime", {"baseline": "grey"}, "baseline must be a number or a tensor"),
    ("lime", {"segments": None, "n": NAN}, r"n \(superpixels\) must be an integer ≥ 1, got nan"),
    ("lime", {"segments": None, "n": 0}, r"n \(superpixels\) must be an integer ≥ 1, got 0"),
    ("lime", {"batch_size": 0}, "batch_size must be an integer ≥ 1, got 0"),
    ("lime", {"kind": "softmax"}, "unknown score kind"),
    ("shap", {"n_permutations": 0}, "n_permutations must be an integer ≥ 1, got 0"),
    ("shap", {"n_permutations": NAN}, "n_permutations must be an integer ≥ 1, got nan"),
    ("shap", {"n_permutations": 3, "antithetic": True}, "n_permutations must be even"),
    ("shap", {"baseline": NAN}, r"baseline has 49152 NaN"),
    ("shap", {"segments": grid().float()}, "segments must hold integer labels"),
    ("shap", {"segments": grid()[:64]}, r"segments must be \[H,W\] = \(128, 128\)"),
    ("shap", {"segments": grid() * 2}, "without gaps"),
    ("shap", {"segments": grid() - 1}, "labels must be >= 0"),
])
def test_lime_and_shap_settings_are_checked_before_any_pass(tiny, method, kwargs, message):
    kwargs = {"segments": grid(), "n_samples": 4, "n_permutations": 1, **kwargs}
    with forward_passes(tiny) as calls, pytest.raises((ValueError, TypeError), match=message):
        perturb.explain(tiny, torch.randn(1, 3, 128, 128), TARGETS, method, **kwargs)
    assert not calls


@pytest.mark.parametrize("name", ["lime", "shap"])
def test_nan_scores_of_a_score_function_are_an_error_not_finite_values(name):
    """A score function that returns NaN for the inputs without superpixel 2: before, LIME returned
    finite coefficients (the NaN hidden by its normalisation) and SHAP NaN values."""
    x = torch.ones(1, 1, 1, 4)
    segments = torch.arange(4).view(1, 4)

    def f(batch):                                    # [B,1,1,4] -> [B,1]: NaN where pixel 2 is removed
        score = batch.sum(dim=(1, 2, 3))
        return torch.where(batch[:, 0, 0, 2] == 0, torch.full_like(score, NAN), score)[:, None]

    explain = perturb.lime if name == "lime" else perturb.shap
    with pytest.raises(ValueError, match=r"score function's output \[B,T\] for states \d+\.\.\d+ has [1-9]\d* NaN"):
        explain(f, x, segments, **({"n_samples": 16} if name == "lime" else {"n_permutations": 2}))


def test_lime_and_shap_on_a_nan_input_of_any_score_function():
    x = torch.ones(1, 1, 1, 4)
    x[0, 0, 0, 1] = NAN
    f = lambda batch: batch.sum(dim=(1, 2, 3))[:, None]                      # noqa: E731
    for explain in (perturb.lime, perturb.shap):
        with pytest.raises(ValueError, match=re.escape("x has 1 NaN and 0 ±inf values (of 4; the first at [0, 0, 0, 1])")):
            explain(f, x, torch.arange(4).view(1, 4))


def test_the_windowed_score_function_checks_its_input(tiny):
    f = perturb.ssd_score(tiny, TARGETS)
    x = torch.zeros(2, 3, 128, 128)
    x[1, 0, 5, 5] = NAN
    with forward_passes(tiny) as calls:
        with pytest.raises(ValueError, match=r"x has 1 NaN .*\[1, 0, 5, 5\]"):
            f(x)
        with pytest.raises(ValueError, match="x is torch.float64"):
            f(torch.zeros(2, 3, 128, 128, dtype=torch.float64))
    assert not calls


@pytest.mark.parametrize("reference, message", [
    (torch.full((1, 3, 128, 128), NAN), r"reference has 49152 NaN and 0 ±inf values"),
    (torch.zeros(3, 128, 128).index_fill_(0, torch.tensor([1]), INF), r"reference has 0 NaN and 16384 ±inf values"),
])
def test_a_non_finite_deeplift_reference_is_rejected_before_any_pass(tiny, reference, message):
    with forward_passes(tiny) as calls, pytest.raises(ValueError, match=message):
        deeplift.explain(tiny, torch.randn(1, 3, 128, 128), TARGETS, reference=reference)
    assert not calls


def test_lime_normalisation_keeps_a_nan_coefficient(monkeypatch):
    """The normalisation divides by the largest magnitude; a NaN row (from a degenerate fit) stays
    NaN (all of it) instead of becoming 0, and an all-zero row stays 0."""
    lime_module = sys.modules["perturb.lime"]          # the module (perturb.lime is the function)
    monkeypatch.setattr(lime_module, "weighted_ridge", lambda z, y, w, alpha: (
        torch.tensor([[1.0, -4.0], [0.0, 0.0], [NAN, 1.0]], dtype=torch.float64), None))
    coef = perturb.lime(lambda b: b.sum(dim=(1, 2, 3))[:, None], torch.ones(1, 1, 1, 2), torch.arange(2).view(1, 2), 4)
    assert coef[0].tolist() == [0.25, -1.0] and coef[1].tolist() == [0.0, 0.0] and torch.isnan(coef[2]).all()


@pytest.mark.parametrize("argv, message", [
    (["lrp", "--repeats", "0"], "--repeats must be an integer ≥ 1, got 0"),
    (["lrp", "--width", "nan"], "--width must be a finite number > 0, got nan"),
    (["lrp", "--width", "0"], "--width must be a finite number > 0, got 0"),
])
def test_bench_arguments_exit_two_before_any_timing(argv, message, capsys):
    """Before: --repeats 0 ended in statistics.StatisticsError after the warm-up runs."""
    assert bench.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize("argv, message", [
    (["--gamma", "nan"], "--gamma must be a finite number >= 0, got nan"),
    (["--lime-samples", "1"], "--lime-samples must be an integer ≥ 2, got 1"),
    (["--superpixels", "1"], "--superpixels must be an integer in [2, 4096], got 1"),
    (["--batch-size", "0"], "--batch-size must be an integer ≥ 1, got 0"),
    (["--device", "tpu9"], "--device"),
])
def test_hans_arguments_exit_two_before_loading_the_model(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ssd, "load", lambda *a, **k: pytest.fail("the model was loaded"))
    assert hans.main(["--out", str(tmp_path)] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize("command", [compare, hans, sanity])
def test_ctrl_c_is_one_line_that_says_how_to_resume(command, tmp_path, capsys, monkeypatch):
    """Before: a KeyboardInterrupt traceback. The records already written stay (tests/test_eval_store)."""
    def interrupted(experiment, args):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "run", interrupted)
    assert command.main(["--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "interrupted" in err and "rerun the same command to resume" in err
