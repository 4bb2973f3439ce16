"""Model-parameter randomisation sanity checks (eval.randomization, eval.metrics.similarity, eval.sanity).

Toy networks where the right answer is known: a heatmap that ignores the parameters is unchanged at
every level; the gradient of a linear model is its weight vector, so redrawing the weights changes it
exactly as much as the weights change. The SSD level mapping runs on the tiny SSD of eval_oracle.
"""
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_oracle  # noqa: E402
import ssd  # noqa: E402
from eval import sanity  # noqa: E402
from eval.report.page import section_path  # noqa: E402
from eval import store  # noqa: E402
from eval.sanity import summary as sanity_report  # noqa: E402
from eval.randomization import (Level, check_levels, randomised_models, randomized, schedule,  # noqa: E402
                                ssd_levels)
from eval.metrics.similarity import (rank_correlation, similarities, ssim, top_k_intersection,  # noqa: E402
                             top_k_weights)


# ---------------------------------------------------------------- similarity, by hand

def test_rank_correlation_hand_values():
    # ranks 1 2 3 4 vs 1 3 2 4: Σd² = 2, ρ = 1 − 6·2 / (4·15) = 0.8
    assert rank_correlation([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert rank_correlation([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # ties get average ranks: [1, 2.5, 2.5, 4] vs [1, 2, 3, 4]: Pearson of the ranks = 4.5 / √(4.5·5)
    assert rank_correlation([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert rank_correlation([5, 5, 5], [1, 2, 3]) == 0.0          # a constant map shares no order
    assert rank_correlation([5, 5, 5], [5, 5, 5]) == 1.0          # equal maps are equal


def test_similarities_of_signed_and_absolute_relevance_by_hand():
    a = np.array([[-4.0, 1.0], [2.0, 3.0]])
    b = np.array([[1.0, 2.0], [3.0, 4.0]])
    s = similarities(a, b)
    # |a| = 4 1 2 3 (ranks 4 1 2 3) vs 1 2 3 4: Σd² = 9+1+1+1 = 12, ρ = 1 − 72/60 = −0.2
    assert s["spearman_abs"] == pytest.approx(-0.2)
    assert s["spearman"] == pytest.approx(1.0)                    # a and b have the same order
    assert set(s) == {"spearman_abs", "spearman", "ssim", "top10"}


def test_top_k_intersection_by_hand():
    a = np.arange(10.0)                                           # top 20 %: pixels {8, 9}
    assert top_k_intersection(a, a, 0.2) == 1.0
    assert top_k_intersection(a, a[::-1].copy(), 0.2) == 0.0      # top {0, 1}
    b = np.array([0, 1, 2, 3, 4, 5, 6, 9, 7, 8.0])                # top {7, 9}: one of two shared
    assert top_k_intersection(a, b, 0.2) == pytest.approx(0.5)
    # three pixels tied at the threshold of b: each is in b's top 2 with probability 2/3;
    # E|T(a) ∩ T(b)| = 2/3 + 2/3 (pixels 8 and 9), divided by k = 2
    tied = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1.0])
    assert top_k_weights(tied, 0.2).tolist() == pytest.approx([0] * 7 + [2 / 3] * 3)
    assert top_k_intersection(a, tied, 0.2) == pytest.approx(2 / 3)
    assert top_k_intersection(-a, a, 0.2) == 1.0                  # by |R|
    assert top_k_intersection(a, b) == 0.0                        # 10 %: k = 1, pixel 9 against pixel 7


def test_ssim_and_regions():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(32, 32))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, 3 * a) == pytest.approx(1.0)                   # normalised by max |R| first
    assert ssim(a, -a) < 0.5                                      # structure term −1 (luminance terms ≤ 1)
    assert abs(ssim(a, rng.normal(size=(32, 32)))) < 0.1          # unrelated maps: about 0
    b = a.copy()
    b[:, 16:] = rng.normal(size=(32, 16))                         # only the left half is kept
    left = similarities(a, b, region=(0, 32, 0, 16))
    assert all(v == pytest.approx(1.0) for v in left.values())
    assert similarities(a, b)["spearman"] < 0.8
    nan = a.copy()
    nan[0, 0] = np.nan
    assert all(v is None for v in similarities(a, nan).values())


# ---------------------------------------------------------------- toy networks

def _toy():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 3))


TOY_LEVELS = [Level("fc", ("5",)), Level("conv2", ("2",)), Level("conv1", ("0",))]


@pytest.mark.parametrize("heatmap", ["input", "edges"])
def test_heatmap_that_ignores_the_parameters_is_similar_at_every_level(heatmap):
    model, x = _toy(), torch.rand(1, 1, 8, 8)
    sobel = torch.tensor([[[[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]]])

    def explain(net, x):
        net(x)                                                    # runs the model, uses nothing of it
        return x[0, 0] if heatmap == "input" else F.conv2d(x, sobel, padding=1)[0, 0]

    original = explain(model, x)
    for variant in ("cascading", "independent"):
        steps = list(randomised_models(model, TOY_LEVELS, variant, init_seed=3))
        assert [name for name, _ in steps] == ["fc", "conv2", "conv1"]
        for _, net in steps:
            assert all(v == 1.0 for v in similarities(original, explain(net, x)).values())


def test_gradient_of_a_linear_model_changes_with_its_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(400, 1))
    x = torch.rand(1, 400)

    def gradient(net):
        x_ = x.clone().requires_grad_(True)
        net(x_).sum().backward()
        return x_.grad[0].reshape(20, 20)                         # ∂(w·x + b)/∂x = w

    new = randomized(model, [Level("linear", ("0",))], init_seed=0)
    g0, g1 = gradient(model), gradient(new)
    assert torch.equal(g0.reshape(-1), model[0].weight[0]) and torch.equal(g1.reshape(-1), new[0].weight[0])
    s = similarities(g0, g1)
    w0, w1 = model[0].weight[0].detach().numpy(), new[0].weight[0].detach().numpy()
    assert s["spearman"] == pytest.approx(rank_correlation(w0, w1))   # exactly the weights' correlation
    assert abs(s["spearman"]) < 0.15 and abs(s["spearman_abs"]) < 0.15   # 3 s.d. of ρ for n = 400
    assert s["top10"] < 0.3


# ---------------------------------------------------------------- the SSD's levels

def _perturbed_tiny_ssd():
    """The tiny SSD with every parameter moved off its initial distribution (so a reset shows)."""
    torch.manual_seed(0)
    model = ssd.SSD(eval_oracle.TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.rand_like(p) + 0.5)
    return model


def test_ssd_levels_partition_the_parameters_in_order():
    model = _perturbed_tiny_ssd()
    levels = ssd_levels(model)
    assert [lv.name for lv in levels] == ["heads", "extras", "fc6–fc7", "conv5", "conv4", "conv3", "conv2", "conv1"]
    names = {lv.name: set(lv.parameter_names(model)) for lv in levels}
    assert "l2norm.weight" in names["conv4"]
    assert names["conv1"] == {f"features.0.conv1_{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}
    assert names["fc6–fc7"] == {f"features.1.{c}.{p}" for c in ("fc6", "fc7") for p in ("weight", "bias")}
    assert all(n.startswith("features.") and n.split(".")[1] not in "01" for n in names["extras"])
    assert len(names["extras"]) == 4 * len(eval_oracle.TINY.extras)
    with pytest.raises(ValueError, match="in no level"):
        check_levels(model, levels[:-1])


def test_randomising_a_level_changes_exactly_its_parameters(device):
    model = _perturbed_tiny_ssd().to(device)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for level in ssd_levels(model):
        mine = set(level.parameter_names(model))
        new = randomized(model, [level], init_seed=7)
        again = randomized(model, [level], init_seed=7)
        other_seed = randomized(model, [level], init_seed=8)
        for name, p in new.named_parameters():
            assert p.device == before[name].device and p.stride() == before[name].stride()   # channels-last kept
            if name in mine:
                assert not torch.equal(p, before[name]), name
                assert torch.equal(p, dict(again.named_parameters())[name]), name   # reproducible
                if p.unique().numel() > 1:             # not a constant (ℓ2-Norm 20, head biases 0)
                    assert not torch.equal(p, dict(other_seed.named_parameters())[name]), name
            else:
                assert torch.equal(p, before[name]), name                            # bit-identical
    for k, v in model.state_dict().items():                                          # never modified
        assert torch.equal(v, before[k]), k


def test_redrawn_parameters_follow_the_initial_distributions():
    model = _perturbed_tiny_ssd()
    new = randomized(model, ssd_levels(model), init_seed=0).requires_grad_(False)
    for name, m in new.named_modules():
        if isinstance(m, nn.Conv2d) and name.startswith(("cls_heads", "box_heads")):
            assert torch.all(m.bias == 0) and 0.005 < float(m.weight.std()) < 0.015
        elif isinstance(m, nn.Conv2d):
            bound = 1 / math.sqrt(m.in_channels * m.kernel_size[0] * m.kernel_size[1])
            assert float(m.weight.abs().max()) <= bound and float(m.bias.abs().max()) <= bound
            if m.weight.numel() > 500:                             # U(−b, b) has s.d. b/√3
                assert float(m.weight.std()) == pytest.approx(bound / math.sqrt(3), rel=0.15)
    assert torch.all(new.l2norm.weight == 20)


def test_cascading_and_independent_share_each_levels_draw():
    model = _perturbed_tiny_ssd()
    levels = ssd_levels(model)
    cascade = dict(randomised_models(model, levels, "cascading", init_seed=5))
    single = dict(randomised_models(model, levels, "independent", init_seed=5))
    last = dict(cascade["conv1"].named_parameters())
    for level in levels:
        mine = dict(single[level.name].named_parameters())
        assert all(torch.equal(last[n], mine[n]) for n in level.parameter_names(model))
    assert [n for n, chosen in schedule(levels, "cascading")][-1] == "conv1"
    assert [len(chosen) for _, chosen in schedule(levels, "cascading")] == list(range(1, 9))
    with pytest.raises(ValueError, match="unknown variant"):
        schedule(levels, "sideways")


# ---------------------------------------------------------------- the verdict rule, on made-up records

def _records(method, level_values, floor, models, images=4):
    out = []
    for i in range(images):
        for j in range(2):                                        # two samples per image
            noise = 0.01 * ((i + j) % 3 - 1)
            sid = f"{i}-{j}"
            for (variant, level), v in list(level_values.items()) + [(("floor", "shuffled"), floor),
                                                                     (("floor", "random-models"), models)]:
                out.append({"sample_id": sid, "image_id": i, "explainer": method, "variant": variant,
                            "level": level, "similarity": {m: v[m] + noise for m in v}})
    return out


def _sim(r, ssim_, top):
    return {"spearman_abs": r, "spearman": r, "ssim": ssim_, "top10": top}


def test_verdict_rule():
    floor = _sim(0.0, 0.2, 0.1)                                   # ρ 0, SSIM 0.2, top-10 % 0.1

    def method(name, conv1, random_models):
        return _records(name, {("cascading", "heads"): _sim(0.9, 0.9, 0.9), ("cascading", "conv1"): conv1},
                        floor, random_models)
    records = (method("a", _sim(0.02, 0.22, 0.12), floor) + method("b", _sim(0.8, 0.25, 0.1), _sim(0.8, 0.2, 0.1))
               + method("c", _sim(0.3, 0.2, 0.1), floor) + method("d", _sim(0.0, -0.3, 0.1), floor))
    meta_levels = ["heads", "conv1"]
    meta = {"methods": ["a", "b", "c", "d"], "variants": ["cascading"], "levels": meta_levels}
    v = sanity_report.summarize(records, meta)["verdicts"]
    assert v["a"]["verdict"] == "passes" and v["a"]["first_floor"] == "conv1"
    assert v["b"]["verdict"] == "fails" and v["b"]["residual_architectural"]   # 0.8, as two random models
    assert "architecture" in v["b"]["text"]
    assert v["c"]["verdict"] == "partly" and not v["c"]["residual_architectural"]   # 0.3 < ½ of the way
    assert v["d"]["verdict"] == "passes"                          # SSIM below its floor counts as at it
    one_image = [r for r in records if r["image_id"] == 0]
    assert sanity_report.summarize(one_image, meta)["verdicts"]["a"]["verdict"] == "undecided"


# ---------------------------------------------------------------- the command

FAST = ["--threads", "1", "--samples", "3", "--methods", "gradient,lrp-zplus,lime,shap", "--superpixels", "12",
        "--lime-samples", "12", "--shap-permutations", "1", "--device", "cpu", "--no-figures"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    eval_oracle.save_tiny_model(path)
    return path


def _oracle(setattr):
    from eval.run import samples
    images, detect = eval_oracle.oracle()
    setattr(samples, "synthetic_images", images)
    setattr(ssd, "detect", detect)


def _summary(out):
    return json.loads((Path(out) / "sanity.json").read_text())["summary"]


@pytest.fixture
def threads():
    """The command sets torch's thread count (--threads 1): restored afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_command_writes_every_output_and_resumes(weights, tmp_path, monkeypatch, capsys, threads):
    _oracle(monkeypatch.setattr)
    out = tmp_path / "run"
    assert sanity.main(FAST + ["--weights", str(weights), "--out", str(out)]) == 0
    for name in ("sanity.json", "sanity.md", "sanity.html", "sanity.jsonl", "report.html"):
        assert (out / name).is_file(), name
    data = json.loads((out / "sanity.json").read_text())
    meta, summary = data["meta"], data["summary"]
    lines = (out / "sanity.jsonl").read_text().splitlines()
    steps = 8 + 8                                                 # cascading and independent levels
    assert len(lines) == meta["samples"] * (4 * (steps + 2) + steps)   # + floors per method; random: levels
    assert set(summary["verdicts"]) == {"gradient", "lrp-zplus", "lime", "shap"}
    for cells in summary["cells"]["gradient"]["cascading"].values():
        assert cells["spearman"]["n"] == meta["samples"] and cells["spearman"]["ci95"] is not None
    arrays = store.Store(out, meta["settings_hash"], layout=sanity.EXPERIMENT.layout).load_arrays(meta["figure_sample"])
    assert {"image", "box", "region", "heatmap/shap", "heatmap/shap/cascading/conv1"} <= set(arrays)
    err = capsys.readouterr().err
    assert "ETA" in err and "figures skipped (--no-figures)" in err
    section = section_path(out, "sanity").read_text()
    assert section.startswith('<section id="sanity">') and "Spearman" in section
    assert section in (out / "report.html").read_text()

    # interrupted: the last records and a torn line are lost; the rerun computes only those
    (out / "sanity.jsonl").write_text("\n".join(lines[:-7]) + '\n{"kind": "sanity", "samp')
    assert sanity.main(FAST + ["--weights", str(weights), "--out", str(out)]) == 0
    assert len((out / "sanity.jsonl").read_text().splitlines()) == len(lines)
    assert _summary(out) == summary
    calls = int(re.search(r"(\d+) to do", capsys.readouterr().err).group(1))
    assert 1 <= calls <= 7 + 4       # at most one call per lost record, and the image's 4 original maps


@pytest.mark.parametrize("argv, message", [
    (["--samples", "0"], "--samples must be an integer ≥ 1"),
    (["--variants", "sideways"], "--variants"),
    (["--methods", "lrp-gamma,bogus"], "unknown method"),
    (["--device", "tpu9"], "--device"),
    (["--data", "coco"], "--coco-root"),
    (["--weights", "/nonexistent.pt"], "weights file not found"),
    (["--lime-samples", "1"], "--lime-samples must be an integer ≥ 2"),   # LIME's fit needs two samples
    (["--gamma", "nan"], "--gamma must be a finite number >= 0"),
    (["--threads", "0"], "--threads must be an integer ≥ 1"),
])
def test_bad_arguments_give_one_line_and_exit_code_2(argv, message, tmp_path, capsys):
    assert sanity.main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("python -m eval.sanity: error:")
