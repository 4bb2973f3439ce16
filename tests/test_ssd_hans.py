"""The embedded Clever-Hans model (`ssd/shapes-hans.pt`): it loads offline from a fresh clone of the
repository, and its cue effect is real: on a fixed handful of test images, truly removing the tag
from an object of another class drops the cue-class (triangle) probability of the detection on it by
at least MIN_DROP, the figure the README states."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The triangle detections of shapes-hans on tagged objects of other classes in the hans-other images
# 0-11 of seed 3000 (all seven are Clever-Hans detections; README): (image index, object index).
CASES = [(0, 0), (2, 1), (5, 0), (6, 0), (10, 0), (11, 2), (11, 1)]
MIN_DROP = 0.5

SCRIPT = """
import json, sys, torch
import ssd
from eval.hans import cue_detections
torch.set_num_threads(1)
cases = json.loads(sys.argv[1])
model = ssd.load("shapes-hans")
found = [d for i in sorted({i for i, _ in cases}) for d in cue_detections(model, 3000, i, "hans-other")[0]]
print(json.dumps({"file": ssd.__file__, "class_names": model.config.class_names,
                  "drops": {f"{d.index},{d.object}": [d.p_tag, d.p_removed] for d in found}}))
"""


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    target = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    return target


def test_fresh_clone_holds_the_model_and_its_cue_effect_is_real(clone):
    assert (clone / "ssd" / "shapes-hans.pt").stat().st_size < 10 * 2 ** 20
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(clone)
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CASES)], cwd=clone, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).resolve().is_relative_to(clone.resolve())     # the clone's code and model
    assert result["class_names"][0] == "background" and "triangle" in result["class_names"]
    for i, j in CASES:
        p_tag, p_removed = result["drops"][f"{i},{j}"]
        assert p_tag >= 0.5 > p_removed, (i, j, p_tag, p_removed)            # a Clever-Hans detection
        assert p_tag - p_removed >= MIN_DROP, (i, j, p_tag, p_removed)


def test_the_shapes_model_makes_none_of_these_detections():
    """Control: the model trained without the tag does not see triangles on these tagged objects."""
    import torch

    import ssd
    from eval.hans import cue_detections

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = ssd.load("shapes")
        results = [cue_detections(model, 3000, i, "hans-other") for i in sorted({i for i, _ in CASES})]
    finally:
        torch.set_num_threads(threads)
    assert sum(tagged for _, tagged in results) >= len(CASES)
    assert not {(d.index, d.object) for found, _ in results for d in found} & set(CASES)
