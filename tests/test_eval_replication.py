"""Several models, one conclusion (eval.compare.replication): a claim is replicated only when it holds
on every model; pooled cells span every model's samples."""
import json

import torch
from conftest import FAST

import eval_oracle
from eval import compare
from eval.compare.replication import folder_name, replicated


def _claim(a, b, supported=False, better=None, equivalent=False, diff=0.1):
    return {"a": a, "b": b, "metric": "gap", "supported": supported, "better": better, "equivalent": equivalent,
            "mean_diff": diff, "ci95": [diff - 0.05, diff + 0.05], "p_holm": 0.01 if supported else 0.5}


def test_a_conclusion_is_replicated_only_when_every_model_draws_it():
    per_model = {
        "m1": {"claims": [_claim("lrp", "random", True, "lrp"), _claim("lrp", "shap", True, "lrp"),
                          _claim("lime", "shap", equivalent=True), _claim("lrp", "lime", True, "lime")]},
        "m2": {"claims": [_claim("lrp", "random", True, "lrp"), _claim("lrp", "shap"),
                          _claim("lime", "shap", equivalent=True), _claim("lrp", "lime", True, "lrp")]}}
    verdict = {(e["a"], e["b"]): e["replicated"] for e in replicated(per_model)}
    assert verdict == {("lrp", "random"): "lrp",          # supported, same winner on both
                       ("lrp", "shap"): None,             # undecided on m2
                       ("lime", "shap"): "equivalent",    # equivalent on both
                       ("lrp", "lime"): None}             # the models disagree on the winner
    assert folder_name("shapes-seed1") == "shapes-seed1" and folder_name("/w/a.pt") == "a"


def test_two_models_run_in_their_folders_and_are_pooled(tmp_path, monkeypatch):
    paths = []
    for seed in (0, 1):
        paths.append(tmp_path / f"tiny{seed}.pt")
        eval_oracle.save_tiny_model(paths[-1], seed=seed)
    eval_oracle.install(monkeypatch.setattr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path / "out"
        assert compare.main(FAST + ["--weights", f"{paths[0]},{paths[1]}", "--out", str(out), "--no-figures",
                                    "--fig7", "none", "--methods", "lrp,shap"]) == 0
    finally:
        torch.set_num_threads(threads)
    data = json.loads((out / "tables.json").read_text())
    assert data["models"] == ["tiny0", "tiny1"] and set(data["replication"]) == {"tiny0", "tiny1"}
    each = {m: json.loads((out / m / "tables.json").read_text()) for m in data["models"]}
    gap = data["pooled"]["faithfulness"]["true"]["superpixels"]["lrp"]["gap"]
    assert gap["n"] == sum(e["faithfulness"]["true"]["superpixels"]["lrp"]["gap"]["n"] for e in each.values())
    assert gap["n_models"] == 2
    means = [e["faithfulness"]["true"]["superpixels"]["lrp"]["gap"]["mean"] for e in each.values()]
    assert min(means) - 1e-9 <= gap["mean"] <= max(means) + 1e-9        # the pooled mean lies between them
    assert {(e["a"], e["b"]) for e in data["replicated"]} == {(c["a"], c["b"]) for c in each["tiny0"]["claims"]}
    page = (out / "report.html").read_text()
    assert page.index('id="compare-models"') < page.index('id="compare"')      # pooled first, then each model
    assert compare.main(["--weights", f"{paths[0]},{paths[0]}", "--out", str(tmp_path / "x")]) == 2   # same folder twice
