"""The fair Clever-Hans test (eval.hans): the Shapley split of tag and object on toy games, the four
true renderings, the tag share at superpixel granularity on constructed maps, and the summary's cells
and sentences on constructed records."""
import math

import pytest
import torch

from eval.hans import causal, granularity, summarize
from eval.hans.findings import findings
from eval.hans.summary import markdown

# --- the causal split --------------------------------------------------------------------------


def _game(both, no_tag, no_object, none):
    return {"both": both, "no_tag": no_tag, "no_object": no_object, "none": none}


def test_shapley_split_when_only_both_together_detect():
    p = _game(1.0, 0.0, 0.0, 0.0)                     # p = 1 only with tag and object present
    assert causal.shapley(p) == pytest.approx((0.5, 0.5))
    assert causal.causal_tag_share(p) == pytest.approx(0.5)


def test_shapley_split_when_only_the_tag_matters():
    p = _game(1.0, 0.0, 1.0, 0.0)                     # p depends on the tag alone
    assert causal.shapley(p) == pytest.approx((1.0, 0.0))
    assert causal.causal_tag_share(p) == pytest.approx(1.0)
    p = _game(0.8, 0.8, 0.1, 0.1)                     # on the object alone
    assert causal.shapley(p) == pytest.approx((0.0, 0.7))
    assert causal.causal_tag_share(p) == pytest.approx(0.0)


def test_shapley_split_of_an_additive_game_and_efficiency():
    p = _game(0.9, 0.6, 0.3, 0.0)                     # tag adds 0.3, object adds 0.6, no interaction
    phi_tag, phi_object = causal.shapley(p)
    assert (phi_tag, phi_object) == pytest.approx((0.3, 0.6))
    assert phi_tag + phi_object == pytest.approx(p["both"] - p["none"])
    assert causal.causal_tag_share(p) == pytest.approx(1 / 3)
    fields = causal.split(p)
    assert fields["p_no_object"] == 0.3 and fields["causal_tag_share"] == pytest.approx(1 / 3)


def test_causal_share_undefined_when_nothing_is_gained():
    p = _game(0.2, 0.1, 0.4, 0.3)                     # φ_tag + φ_object = p_both − p_none = −0.1
    assert math.isnan(causal.causal_tag_share(p))
    assert causal.split(p)["causal_tag_share"] is None
    assert math.isnan(causal.causal_tag_share(_game(0.3, 0.3, 0.3, 0.3)))


def test_relative_tag_share_and_distance():
    assert causal.relative_tag_share({"tag": 0.6, "object": 0.2}) == pytest.approx(0.75)
    assert causal.relative_tag_share({"tag": 0.0, "object": 0.0}) is None
    assert causal.relative_tag_share({"tag": math.nan, "object": math.nan}) is None
    assert causal.distance(0.75, 0.5) == pytest.approx(0.25)
    assert causal.distance(None, 0.5) is None and causal.distance(0.75, None) is None


def test_the_four_renderings_remove_exactly_the_object_or_its_tag():
    from ssd.data.synthetic import make_scene
    scene = make_scene(3000, 1, size=128, variant="hans-other")        # one object, tagged
    j, (obj,) = 0, scene.objects
    image = {k: scene.render(**r).astype(int) for k, r in causal.removals(j).items()}
    assert (image["both"] == scene.render()).all()
    tag, shape = obj.tag, obj.full
    assert (image["no_object"][tag] == image["both"][tag]).all()             # object gone, its tag still there
    assert (image["no_object"][shape] == image["none"][shape]).all()
    assert (image["no_object"][shape] != image["both"][shape]).any()
    assert (image["no_tag"][shape] == image["both"][shape]).all()            # tag gone, the object still there
    assert (image["no_tag"][tag] == image["none"][tag]).all()
    assert (image["no_tag"][tag] != image["both"][tag]).any()


# --- equal granularity -------------------------------------------------------------------------

SIZE = 16
BLOCKS = (torch.arange(SIZE) // 4)[:, None] * 4 + (torch.arange(SIZE) // 4)[None, :]    # 16 superpixels of 4×4


def _tag(rows, cols):
    tag = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    tag[rows, cols] = True
    return tag


def test_ceiling_and_a_map_all_on_the_tag():
    tag = _tag(slice(4, 6), slice(8, 10))                   # 4 px inside superpixel 6 (rows 4–7, cols 8–11)
    assert granularity.tag_superpixel(BLOCKS, tag) == 6
    assert granularity.ceiling(BLOCKS, tag) == pytest.approx(4 / 16)
    on_tag = tag.double()
    out = granularity.at_superpixels(on_tag, BLOCKS, tag)
    assert out["tag_grouped"] == pytest.approx(4 / 16)      # at the ceiling, not at 1 as on pixels
    assert out["tag_rank"] == 1 and out["tag_rank_fraction"] == pytest.approx(1 / 16)


def test_tag_superpixel_is_the_one_covering_most_of_the_tag():
    tag = _tag(slice(6, 9), slice(8, 10))                   # 4 px in superpixel 6 (rows 6–7), 2 px in 10 (row 8)
    assert granularity.tag_superpixel(BLOCKS, tag) == 6
    assert granularity.ceiling(BLOCKS, tag) == pytest.approx(4 / 16)


def test_rank_of_the_tag_superpixel_with_others_above_and_ties():
    tag = _tag(slice(4, 6), slice(8, 10))
    h = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    h[tag] = 1.0                                            # superpixel 6: 4 in all, 0.25 per pixel
    h[0:4, 0:4] = 0.5                                       # superpixel 0: 8 in all, 0.5 per pixel
    h[0, 15] = 2.0                                          # superpixel 3: 2 in all, 0.125 per pixel
    rank, count = granularity.tag_rank(h, BLOCKS, tag)
    assert (rank, count) == (2.0, 16)
    assert granularity.at_superpixels(h, BLOCKS, tag)["tag_grouped"] == pytest.approx(1 / 14)   # 4/14 · 4/16
    uniform = torch.ones(SIZE, SIZE)                        # all 16 tied: the mean of ranks 1..16
    assert granularity.tag_rank(uniform, BLOCKS, tag) == (8.5, 16)


def test_a_superpixel_map_keeps_its_tag_share_when_grouped():
    tag = _tag(slice(4, 6), slice(8, 10))
    values = torch.linspace(-1, 2, 16, dtype=torch.float64)
    painted = values[BLOCKS]                                # constant per superpixel, as LIME and SHAP paint
    from eval.hans.cues import shares
    grouped = granularity.at_superpixels(painted, BLOCKS, tag)["tag_grouped"]
    assert grouped == pytest.approx(shares(painted, tag, ~tag)["tag"])


# --- the summary ---------------------------------------------------------------------------------

def _records():
    """Sixteen Clever-Hans detections in eight images (the fewest a claim may rest on), two methods:
    "pixel" puts 0.6 on the tag (0.05 after grouping), "coarse" 0.1 (0.08 after grouping); the ceiling
    is 0.1; the causal split ½, except one detection where it is undefined; the plain model finds four
    of the sixteen objects."""
    out = []
    for i in range(16):
        p = _game(0.9, 0.0, 0.0, 0.0) if i else _game(0.1, 0.0, 0.0, 0.2)
        base = {"sample_id": f"s{i}", "image_id": f"img{i // 2}", "variant": "hans-other", "clever_hans": True,
                "drop": 0.9, "ceiling": 0.1, **causal.split(p)}
        out.append({"kind": "hans-sample", **base, "method": ""})
        for m, tag, grouped, rank, relative in (("lrp", 0.6, 0.05, 3.0, 0.9), ("coarse", 0.1, 0.08, 1.0, 0.6)):
            region = {"tag": tag, "object": 0.1, "elsewhere": 0.9 - tag, "tag_per_area": 10 * tag,
                      "object_per_area": 1.0, "elsewhere_per_area": 1.0}
            out.append({"kind": "hans", **base, "method": m, **region, "tag_grouped": grouped, "tag_rank": rank,
                        "tag_rank_fraction": rank / 100, "relative_tag_share": relative,
                        "causal_distance": causal.distance(relative, base["causal_tag_share"])})
        out.append({"kind": "hans-control", **base, "method": "shapes", "tag": 0.02 if i < 4 else None})
        out.append({"kind": "hans-control", **base, "method": "random-model", "tag": 0.01})
    return out


def test_summary_of_the_fair_test():
    data = summarize(_records(), [f"s{i}" for i in range(16)], ["lrp", "coarse"], {})
    g = data["granularity"]
    assert g["superpixels"]["lrp"]["mean"] == pytest.approx(0.05) and g["ceiling"]["mean"] == pytest.approx(0.1)
    assert g["rank"]["coarse"]["mean"] == 1 and g["rank_fraction"]["lrp"]["mean"] == pytest.approx(0.03)
    c = data["causal_split"]
    assert c["undefined"] == 1 and c["causal_tag_share"]["n"] == 15
    assert c["causal_tag_share"]["mean"] == pytest.approx(0.5)
    assert c["distance"]["lrp"]["mean"] == pytest.approx(0.4) and c["distance"]["lrp"]["n"] == 15
    assert c["p"]["both"]["mean"] == pytest.approx((0.1 + 15 * 0.9) / 16)
    k = data["controls"]
    assert k["shapes"]["n"] == 4 and k["shapes"]["undefined"] == 12 and k["random-model"]["mean"] == pytest.approx(0.01)
    assert k["paired"]["shapes"]["mean_diff"] == pytest.approx(0.58) and k["paired"]["shapes"]["n"] == 4
    # the order on pixels (lrp above coarse) reverses after grouping; the distance favours coarse
    (on_pixels,), (grouped,), (distance,) = data["paired"], g["paired"]["superpixels"], c["paired"]
    assert on_pixels["better"] == "lrp" and grouped["better"] == "coarse" and distance["better"] == "coarse"
    assert g["paired"]["rank"][0]["better"] == "coarse"                     # rank 1 beats rank 3
    text = " ".join(findings(data))
    assert "Of the 1 differences in tag share that the paired intervals support on pixels, 0 hold" in text
    assert "1 reverse (lrp vs coarse)" in text
    assert "interval includes ½: the tag and the object carry the detection alike" in text
    assert "detects 4 of 16" in text
    md = markdown({**data, "counts": _counts()})
    for title in ("equal granularity", "truly removed", "causal split", "control model: plain shapes"):
        assert title in md


def _counts():
    cell = {"mean": 0.9, "ci95": None, "n": 16, "n_images": 8}
    return {"cue_detections": 16, "images_searched": {"hans-other": 8, "hans": 0}, "clever_hans": 16, "controls": 0,
            "controls_surviving": 0, "mean_drop_clever_hans": cell, "mean_drop_cue": cell, "mean_drop_control": cell}

