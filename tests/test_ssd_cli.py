"""The ssd command lines (`python -m ssd.train`, `ssd.evaluate`, `ssd.data`): bad arguments and bad
files give a one-line error and exit code 2, never a traceback, and a run that did nothing never
exits 0."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import eval_oracle
from ssd import evaluate, train
from ssd.data import synthetic

ROOT = Path(__file__).resolve().parents[1]

def run(main, argv, capsys):
    """(exit code, stderr) of a command line's main, argparse's SystemExit included."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    eval_oracle.save_tiny_model(path)
    return path


def coco(root, images=({"id": 1, "file_name": "a.png", "width": 8, "height": 8},), drop=None):
    """A COCO-format root with the given image entries (files not written) and the shape categories."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "val2017").mkdir(exist_ok=True)
    data = {"images": list(images), "annotations": [], "categories": synthetic.categories()}
    data.pop(drop, None)
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    return root


# ---- python -m ssd.train ---------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--lr", "-1"], "argument --lr: must be a finite number > 0, got -1"),
    (["--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
    (["--threads", "0"], "argument --threads: must be an integer ≥ 1, got 0"),
    (["--workers", "-1"], "argument --workers: must be an integer ≥ 0, got -1"),
    (["--iterations", "0"], "argument --iterations: must be an integer ≥ 1, got 0"),
    (["--batch-size", "1"], "argument --batch-size: must be an integer ≥ 2"),
    (["--width", "0"], "argument --width: must be a finite number > 0, got 0"),
    (["--decay", "1.5"], r"argument --decay: must be a finite number in [0, 1], got 1.5"),
    (["--ema", "1"], r"argument --ema: must be a finite number in [0, 1), got 1"),
    (["--seed", "-1"], "argument --seed: must be an integer ≥ 0, got -1"),
    # SSD512's last layer (conv10_2: 4×4 kernel, padding 1) needs a 2×2 map: sources 1…6 of a size-S
    # input are ⌈⌊⌊S/2⌋/2⌋/2⌉, then halved (floor) and four times halved (ceil), ≥ 2 first for S = 268.
    (["--size", "128"], "--size 128 is too small for this architecture: sizes ≥ 268 work"),
    (["--size", "267"], "--size 267 is too small for this architecture: sizes ≥ 268 work"),
])
def test_train_bad_arguments_exit_two(tmp_path, capsys, args, message):
    code, err = run(train.main, ["--run", str(tmp_path / "run")] + args, capsys)
    assert code == 2 and message in err, err
    assert not (tmp_path / "run").exists()


def test_train_run_or_data_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, err = run(train.main, ["--run", str(f)], capsys)
    assert code == 2 and f"--run {f} is a file, not a directory" in err
    code, err = run(train.main, ["--run", str(tmp_path / "run"), "--data", str(f), "--workers", "0"], capsys)
    assert code == 2 and f"data set root is not a directory: {f}" in err and len(err.strip().splitlines()) == 1


def test_train_export_into_a_missing_folder_fails_before_training(tmp_path, capsys):
    target = tmp_path / "nowhere" / "model.pt"
    code, err = run(train.main, ["--run", str(tmp_path / "run"), "--export", str(target)], capsys)
    assert code == 2 and f"--export {target}: folder {target.parent} does not exist" in err


def test_train_truncated_last_checkpoint_is_named(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"model": {"w": torch.zeros(1000)}, "iteration": 3}, run_dir / "last.pt")
    data = (run_dir / "last.pt").read_bytes()
    (run_dir / "last.pt").write_bytes(data[: len(data) // 2])
    code, err = run(train.main, ["--run", str(run_dir), "--workers", "0"], capsys)
    assert code == 2 and f"cannot read checkpoint {run_dir / 'last.pt'}" in err
    assert "move it away to start the run afresh" in err and len(err.strip().splitlines()) == 1


def test_train_last_checkpoint_of_another_program_is_named(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"model": {"w": torch.zeros(2)}}, run_dir / "last.pt")
    code, err = run(train.main, ["--run", str(run_dir), "--workers", "0"], capsys)
    assert code == 2 and f"{run_dir / 'last.pt'} is not a checkpoint of ssd.train (missing" in err
    code, err = run(train.main, ["--run", str(run_dir), "--export-only", str(tmp_path / "m.pt")], capsys)
    assert code == 2 and "is not a checkpoint of ssd.train" in err


def test_train_data_without_the_model_classes_or_images(tmp_path, capsys):
    """Once trained silently on background only (no category matched) or crashed (no images)."""
    root = coco(tmp_path / "dogs")
    raw = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    raw["categories"] = [{"id": 1, "name": "dog"}]
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(raw))
    args = ["--run", str(tmp_path / "run"), "--split", "val2017", "--workers", "0"]
    code, err = run(train.main, args + ["--data", str(root)], capsys)
    assert code == 2 and "none of its categories ['dog'] is a class of the model" in err
    code, err = run(train.main, args + ["--data", str(coco(tmp_path / "empty", images=()))], capsys)
    assert code == 2 and "holds no images: nothing to train on" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_train_and_evaluate_cuda_without_cuda(tmp_path, capsys):
    code, err = run(train.main, ["--run", str(tmp_path / "run"), "--device", "cuda"], capsys)
    assert code == 2 and "--device cuda: CUDA is not available" in err
    code, err = run(evaluate.main, ["--device", "cuda"], capsys)
    assert code == 2 and "--device cuda: CUDA is not available" in err


# ---- python -m ssd.evaluate ------------------------------------------------------------------

def test_evaluate_every_image_missing_is_an_error(weights, tmp_path, capsys):
    root = coco(tmp_path, [{"id": i, "file_name": f"{i}.png", "width": 8, "height": 8} for i in (1, 2)])
    code, err = run(evaluate.main, ["--weights", str(weights), "--data", str(root)], capsys)
    assert code == 2
    assert "none of the 2 images could be read" in err and str(root / "val2017" / "1.png") in err
    assert "every AP is 0" not in capsys.readouterr().out


def test_evaluate_annotation_file_without_categories(weights, tmp_path, capsys):
    root = coco(tmp_path, drop="categories")
    code, err = run(evaluate.main, ["--weights", str(weights), "--data", str(root)], capsys)
    assert code == 2 and "instances_val2017.json: no 'categories' list" in err


def test_evaluate_bad_files(weights, tmp_path, capsys):
    code, err = run(evaluate.main, ["--weights", str(tmp_path / "none.pt")], capsys)
    assert code == 2 and f"checkpoint not found: {tmp_path / 'none.pt'}" in err and len(err.strip().splitlines()) == 1
    f = tmp_path / "file"
    f.write_text("x")
    code, err = run(evaluate.main, ["--weights", str(weights), "--root", str(f)], capsys)
    assert code == 2 and f"--root {f} is a file, not a directory" in err
    code, err = run(evaluate.main, ["--weights", str(weights), "--data", str(f)], capsys)
    assert code == 2 and f"data set root is not a directory: {f}" in err


@pytest.mark.parametrize("args, message", [
    (["--images", "-1"], "argument --images: must be an integer ≥ 0, got -1"),
    (["--images", "0"], "--images 0: a synthetic set needs at least 1 image"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer ≥ 1, got 0"),
    (["--threads", "-1"], "argument --threads: must be an integer ≥ 0, got -1"),
    (["--seed", "-2"], "argument --seed: must be an integer ≥ 0, got -2"),
])
def test_evaluate_bad_arguments_exit_two(capsys, args, message):
    code, err = run(evaluate.main, args, capsys)
    assert code == 2 and message in err, err


# ---- python -m ssd.data ----------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--images", "0"], "argument --images: must be an integer ≥ 1, got 0"),
    (["--workers", "-1"], "argument --workers: must be an integer ≥ 1, got -1"),
    (["--seed", "-1"], "argument --seed: must be an integer ≥ 0, got -1"),
])
def test_data_bad_arguments_exit_two(tmp_path, capsys, args, message):
    code, err = run(synthetic.main, [str(tmp_path / "set")] + args, capsys)
    assert code == 2 and message in err, err
    assert not (tmp_path / "set").exists()


def test_data_root_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, err = run(synthetic.main, [str(f), "--images", "1"], capsys)
    assert code == 2 and f"ROOT {f} is a file, not a directory" in err


# ---- the modules as commands: one line on stderr, exit code 2 ---------------------------------

MODULE_CASES = [
    ("ssd.train", ["--run", "RUN", "--lr", "-1"], "argument --lr: must be a finite number > 0"),
    ("ssd.evaluate", ["--weights", "none.pt"], "python -m ssd.evaluate: error: checkpoint not found: none.pt"),
    ("ssd.data", ["ROOT", "--images", "0"], "argument --images: must be an integer ≥ 1"),
]
# One interpreter runs each module as `python -m` would (runpy, as __main__) and prints its exit code.
CHILD = """
import json, runpy, sys
for module, args, _ in json.loads(sys.argv[1]):
    sys.argv = [module] + args
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code
    print(f"=== {module} exit {code}", file=sys.stderr, flush=True)
"""


def test_modules_exit_two_without_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(MODULE_CASES)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert "Traceback" not in p.stderr, p.stderr
    outputs = p.stderr.split("=== ")
    for (module, _, message), output, after in zip(MODULE_CASES, outputs, outputs[1:]):
        assert after.startswith(f"{module} exit 2") and message in output, p.stderr
    assert not (tmp_path / "RUN").exists() and not (tmp_path / "ROOT").exists()


def test_ctrl_c_is_one_line_with_the_resume_hint(capsys):
    from ssd.cli import one_line_errors

    @one_line_errors("python -m ssd.train", interrupted="rerun the same command to resume")
    def main(argv=None):
        raise KeyboardInterrupt

    assert main([]) == 130
    assert capsys.readouterr().err == "python -m ssd.train: interrupted; rerun the same command to resume\n"
