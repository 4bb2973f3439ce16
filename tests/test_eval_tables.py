"""Tables from hand-made records: intervals clustered by image, paired claims, operator fidelity."""
import numpy as np
import pytest

from eval import stats
from eval.compare import summary as tables
from eval.compare.tables import markdown
from eval.report.table import claims

SETTINGS = {"operators": ["true"], "units": ["superpixels"], "flip_fractions": [0.0, 0.5, 1.0]}


def _records(n_images=8, per_image=3, seed=0):     # 8 images: the fewest a claim may rest on
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_images):
        for j in range(per_image):
            sid = f"{i}-{j}"
            base = rng.normal(0.2, 0.05)
            for method, shift in (("good", 0.3), ("bad", 0.0), ("random", 0.0)):
                gap = base + shift + rng.normal(0, 0.01)
                out.append({"kind": "explanation", "sample_id": sid, "image_id": i, "method": method,
                            "seconds": 0.1, "faithfulness": {"true": {"superpixels": {
                                "morf": 0.5 - gap / 2, "lerf": 0.5 + gap / 2, "gap": gap,
                                "morf_curve": [1.0, 0.5, 0.0], "lerf_curve": [1.0, 0.9, 0.0]}}},
                            "flipping": {"superpixels": {"auc": 0.3, "curve": [1.0, 0.2, 0.0]}},
                            "metrics": {"outside_rf": 0.0 if method != "bad" else 0.2,
                                        "entropy": {"superpixels": 3.0}}})
            fidelity = [{"object": g, "own": g == 0, "true": t, "grey": t + 0.1, "blur": 1 - t}
                        for g, t in enumerate(rng.uniform(0, 0.8, size=3))]
            out.append({"kind": "sample", "sample_id": sid, "image_id": i, "method": "", "layer": "conv4_3",
                        "fidelity": fidelity, "passes_run": 10, "passes_skipped": 5})
    return out


def test_cells_are_cluster_bootstrap_means_and_paired_claims_follow_the_direction():
    recs = _records()
    ids = sorted({r["sample_id"] for r in recs})
    data, bands = tables.build(recs, ids, ["good", "bad"], SETTINGS)
    assert data["n_samples"] == 24 and data["n_images"] == 8 and data["passes_run"] == 240
    gaps = {r["sample_id"]: r["faithfulness"]["true"]["superpixels"]["gap"] for r in recs if r.get("method") == "good"}
    expected = stats.cluster_bootstrap([gaps[s] for s in ids], [s.split("-")[0] for s in ids])
    assert data["faithfulness"]["true"]["superpixels"]["good"]["gap"] == expected
    by_key = {(e["metric"], e["a"], e["b"]): e for e in data["paired"]}
    assert by_key["gap", "good", "bad"]["better"] == "good" and by_key["gap", "good", "bad"]["mean_diff"] > 0.25
    assert by_key["morf", "good", "bad"]["better"] == "good"          # lower MoRF is better: still "good"
    assert by_key["outside_rf", "good", "bad"]["better"] == "good"    # lower share outside is better
    assert by_key["gap", "bad", "random"]["better"] is None           # same distribution: no claim
    words = claims(data["paired"])
    assert any(w.startswith("good beats bad on gap (true, superpixels): difference +0.") for w in words)
    assert not any("bad beats" in w for w in words)
    assert bands["faithfulness"]["true"]["superpixels"]["good"]["morf"]["mean"] == [1.0, 0.5, 0.0]


def test_operator_fidelity_against_true_removal():
    recs = _records()
    ids = sorted({r["sample_id"] for r in recs})
    fidelity = tables.build(recs, ids, ["good", "bad"], SETTINGS)[0]["operator_fidelity"]
    assert fidelity["grey"]["mean_abs_diff"]["mean"] == pytest.approx(0.1)       # a constant offset
    assert fidelity["grey"]["rank_corr"]["mean"] == pytest.approx(1.0)           # but the same order
    assert fidelity["blur"]["rank_corr"]["mean"] == pytest.approx(-1.0)          # the reverse order
    assert fidelity["grey"]["mean_abs_diff_own"]["n"] == 24


def test_markdown_puts_the_new_tables_before_the_paper_tables():
    recs = _records()
    ids = sorted({r["sample_id"] for r in recs})
    data, _ = tables.build(recs, ids, ["good", "bad"], SETTINGS)
    md = markdown(data)
    assert md.index("Faithfulness") < md.index("Differences the intervals support") < md.index("paper's tables")


def _gap_records(rows, n_images=10, per_image=2, seed=1):
    """Records whose gap per row is known: rows {name: (mean gap, kind)}; small noise per sample."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_images):
        for j in range(per_image):
            sid = f"{i}-{j}"
            for name, (gap, kind) in rows.items():
                g = gap + rng.normal(0, 0.01)
                out.append({"kind": "explanation", "sample_id": sid, "image_id": i, "method": name, "row_kind": kind,
                            "faithfulness": {"true": {"superpixels": {"morf": 0.5 - g / 2, "lerf": 0.5 + g / 2,
                                                                      "gap": g}}},
                            "metrics": {"localization_mask_gain": {"superpixels": g / 2}}})
            out.append({"kind": "sample", "sample_id": sid, "image_id": i, "method": "", "layer": "fc7",
                        "passes_run": 1, "passes_skipped": 0})
    return out


def test_oracle_share_claims_and_metric_sanity_on_known_gaps():
    rows = {"good": (0.6, "method"), "fair": (0.6, "method"), "poor": (0.1, "method"),
            "oracle": (0.8, "reference"), "random": (0.0, "reference"),
            "edge": (0.3, "control"), "box-gaussian": (0.05, "control"), "lrp-random-model": (0.02, "control"),
            "good-negated": (-0.5, "control"), "fair-negated": (-0.5, "control"), "poor-negated": (-0.1, "control")}
    recs = _gap_records(rows)
    ids = sorted({r["sample_id"] for r in recs})
    data, _ = tables.build(recs, ids, ["good", "fair", "poor"], {**SETTINGS, "flip_fractions": [0.0, 1.0]})
    faith = data["faithfulness"]["true"]["superpixels"]
    assert faith["good"]["oracle_share"]["mean"] == pytest.approx(0.75, abs=0.02)    # (0.6 − 0) / (0.8 − 0)
    assert faith["poor"]["oracle_share"]["mean"] == pytest.approx(0.125, abs=0.02)
    claims = {(e["a"], e["b"]): e for e in data["claims"]}
    assert claims["good", "poor"]["supported"] and claims["good", "poor"]["better"] == "good"
    assert claims["good", "fair"]["equivalent"] and not claims["good", "fair"]["supported"]   # ±0.05 margin
    assert claims["poor", "edge"]["supported"] and claims["poor", "edge"]["better"] == "edge"  # a control wins
    assert {e["family"] for e in data["claims"]} == {"primary"}
    assert all(e["p_holm"] >= e["p"] for e in data["claims"])
    gap = data["metric_sanity"]["gap"]
    assert gap["edge"]["good"]["ranks_below"] and not gap["edge"]["poor"]["ranks_below"]
    assert gap["negated"]["poor"]["ranks_below"] and gap["box-gaussian"]["poor"]["ranks_below"]
    words = " ".join(data["conclusions"])
    assert "good and fair" in words and "edge by poor" in words and "Not trusted" in words
