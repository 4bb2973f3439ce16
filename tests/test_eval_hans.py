"""The Clever-Hans check (eval.hans): shares of relevance by region, methods on a score that reads only
the tag, the summary's statistics, and the command on the embedded Clever-Hans model."""
import json

import pytest
import torch
from torch import nn

import deeplift
import lrp
import perturb
from eval import hans

SIZE = 16


def _regions():
    tag = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    tag[4:8, 8:12] = True                      # 16 px, one 4×4 block superpixel
    obj = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    obj[8:14, 2:10] = True                     # 48 px, touching the tag's corner
    return tag, obj


def test_shares_by_region_against_hand_values():
    tag, obj = _regions()
    h = torch.zeros(SIZE, SIZE)
    h[tag] = 0.5                                # 16 · 0.5 = 8 on the tag
    h[obj] = 1 / 3                              # 48 / 3 = 16 on the object
    h[0, 0] = 8.0                               # 8 elsewhere
    h[15, 15] = -100.0                          # negative relevance counts nowhere
    s = hans.shares(h, tag, obj)
    assert (s["tag"], s["object"], s["elsewhere"]) == pytest.approx((0.25, 0.5, 0.25))
    assert s["tag_per_area"] == pytest.approx(0.25 / (16 / 256))
    assert s["elsewhere_per_area"] == pytest.approx(0.25 / (192 / 256))


def _tag_only_network():
    """conv 3→1 (3×3) whose weights are zero except inside the tag's window, ReLU, global sum: a toy
    detector whose score reads only the tag's pixels (all weights ≥ 0, so a bright tag scores)."""
    class TagOnly(nn.Module):
        def __init__(self, window):
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, padding=1, bias=False)
            nn.init.constant_(self.conv.weight, 0.2)
            self.relu = nn.ReLU()
            self.register_buffer("window", window.float()[None, None])

        def forward(self, x):
            return (self.relu(self.conv(x * self.window))).flatten(1).sum(1, keepdim=True)
    tag, _ = _regions()
    return TagOnly(tag).eval()


def test_every_method_puts_all_positive_relevance_on_the_tag_of_a_tag_only_score():
    tag, obj = _regions()
    net = _tag_only_network()
    torch.manual_seed(0)
    x = torch.rand(1, 3, SIZE, SIZE) * 0.1
    x[0][:, tag] = 1.0                          # the bright tag
    # LRP through the toy network (z⁺ in the conv: positive weights, positive inputs)
    heat = lrp.attribute(net, x, torch.ones(1, 1), lrp.composite(conv=lrp.ZPlus()))[0].sum(0)
    assert hans.shares(heat, tag, obj)["tag"] == pytest.approx(1.0)
    # DeepLIFT through the same network from the black reference: vanilla (Rescale) and γ(0.1); the
    # multipliers are 0 outside the tag (the window), and vanilla sums to f(x) − f(reference)
    reference = torch.zeros_like(x)
    for linear in (deeplift.Linear(), deeplift.Linear(gamma=0.1)):
        contributions = deeplift.attribute(net, x, reference, torch.ones(1, 1), deeplift.composite(linear=linear))
        assert hans.shares(contributions[0].sum(0), tag, obj)["tag"] == pytest.approx(1.0)
        assert contributions[0][:, ~tag].abs().max() == 0
    vanilla = deeplift.attribute(net, x, reference, torch.ones(1, 1), deeplift.composite())
    assert vanilla.sum().item() == pytest.approx((net(x) - net(reference)).item(), rel=1e-5)
    # LIME and SHAP through the score function, over 4×4 block superpixels (the tag is one of them)
    segments = (torch.arange(SIZE) // 4)[:, None] * 4 + (torch.arange(SIZE) // 4)[None, :]

    def score(batch):
        with torch.no_grad():
            return net(batch)
    shap = perturb.shap(score, x, segments, n_permutations=3)[0].float()[segments]
    assert hans.shares(shap, tag, obj)["tag"] == pytest.approx(1.0)      # the others are null players: exactly 0
    # LIME's ridge surrogate gives the other superpixels the chance correlation of their random
    # states with the tag's: small, of either sign, so nearly all positive relevance is on the tag
    lime = perturb.lime(score, x, segments, n_samples=2000)[0].float()[segments]
    assert hans.shares(lime, tag, obj)["tag"] > 0.95


def _records():
    out = []
    for i in range(6):
        drop = 0.1 * i
        for m, tag_share in (("good", 0.2 + drop), ("flat", 0.3 - 0.01 * i)):
            out.append({"kind": "hans", "sample_id": f"s{i}", "image_id": f"img{i // 2}", "method": m,
                        "variant": "hans-other", "clever_hans": True, "drop": drop, "tag": tag_share,
                        "object": 0.5, "elsewhere": 0.5 - tag_share, "tag_per_area": 10 * tag_share,
                        "object_per_area": 2.0, "elsewhere_per_area": 0.6})
    return out


def test_summary_rank_correlation_follows_the_causal_drop():
    data = hans.summarize(_records(), [f"s{i}" for i in range(6)], ["good", "flat"], {})
    assert data["cells"]["good"]["rank_corr_tag_drop"]["mean"] == pytest.approx(1.0)
    assert data["cells"]["flat"]["rank_corr_tag_drop"]["mean"] == pytest.approx(-1.0)
    assert data["cells"]["good"]["clever_hans"]["tag"]["n"] == 6
    assert data["cells"]["good"]["clever_hans"]["tag"]["n_images"] == 3
    (pair,) = data["paired"]
    assert pair["a"] == "good" and pair["b"] == "flat" and pair["mean_diff"] == pytest.approx(
        sum(0.2 + 0.1 * i - (0.3 - 0.01 * i) for i in range(6)) / 6)


def test_command_on_the_embedded_clever_hans_model(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = hans.main(["--out", str(tmp_path), "--samples", "2", "--controls", "1", "--methods", "lrp,shap",
                          "--superpixels", "20", "--shap-permutations", "1", "--max-images", "12", "--device", "cpu"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    data = json.loads((tmp_path / "hans.json").read_text())
    assert data["counts"]["cue_detections"] == 2 and data["counts"]["clever_hans"] == 2
    assert data["counts"]["mean_drop_clever_hans"]["mean"] >= 0.5                # the causal effect is real
    lrp_tag = data["cells"]["lrp"]["clever_hans"]["tag"]
    random_tag = data["cells"]["random"]["clever_hans"]["tag"]
    assert lrp_tag["n"] == 2 and lrp_tag["mean"] > random_tag["mean"]            # more than chance on the tag
    # the fair test: p of the four true renderings at the target's prior; "as is" and "tag removed" are
    # the causal check's own p and p'
    samples = [json.loads(line) for line in (tmp_path / "hans.jsonl").read_text().splitlines()]
    for r in (r for r in samples if r["kind"] == "hans-sample"):
        assert r["p_both"] == pytest.approx(r["p_tag"], abs=1e-4)
        assert r["p_no_tag"] == pytest.approx(r["p_removed"], abs=1e-4)
        assert r["phi_tag"] + r["phi_object"] == pytest.approx(r["p_both"] - r["p_none"])
        assert 0 < r["ceiling"] < 1
    grouped_shap = data["granularity"]["superpixels"]["shap"]["mean"]               # a superpixel map is kept
    assert grouped_shap == pytest.approx(data["cells"]["shap"]["clever_hans"]["tag"]["mean"], rel=1e-6)
    assert data["granularity"]["rank"]["lrp"]["n"] == 2 and data["causal_split"]["distance"]["lrp"]["n"] \
        + data["causal_split"]["undefined"] == 2
    shapes, random_model = data["controls"]["shapes"], data["controls"]["random-model"]
    assert shapes["n"] + shapes["undefined"] == 2 and random_model["n"] == 2
    assert "control model: plain shapes" in (tmp_path / "hans.md").read_text()
    assert (tmp_path / "hans.md").is_file() and (tmp_path / "hans.html").is_file()
    assert "Clever-Hans" in (tmp_path / "sections" / "hans.html").read_text()
    assert "Clever-Hans" in (tmp_path / "report.html").read_text()
    assert hans.main(["--out", str(tmp_path), "--samples", "0"]) == 2              # one-line argument error
