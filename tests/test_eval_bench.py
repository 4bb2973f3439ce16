"""eval.bench's units of cost (the numbers themselves are printed by the script, never timed here)."""
import torch

import eval_oracle
import ssd
from eval import bench
from eval.run.timing import PassCounter


def _tiny(device):
    torch.manual_seed(0)
    model = ssd.SSD(eval_oracle.TINY).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_gradient_map_is_the_target_logits_input_gradient(device):
    model = _tiny(device)
    x = torch.randn(2, 3, 128, 128, device=device)
    target = ssd.Target(100, 3)
    grad = bench.gradient_map(model, x, target)
    xr = x.clone().requires_grad_(True)
    expected, = torch.autograd.grad(model(xr)[0][:, 100, 3].sum(), xr)
    torch.testing.assert_close(grad, expected)
    assert all(p.grad is None for p in model.parameters())          # parameters stay frozen


def test_pass_counter_and_targets(device):
    model = _tiny(device)
    counter = PassCounter(model)
    x = bench.bench_input(model, device)
    with torch.no_grad():
        model(x.expand(5, -1, -1, -1))
    targets = bench.bench_targets(model, x)                          # runs one detection pass
    assert counter.images == 6
    counter.remove()
    model(x)
    assert counter.images == 6
    assert len(targets) == bench.TARGETS
    ssd.check_targets(targets, len(ssd.priors(model.config)), model.config.num_classes)


def test_unknown_method_is_an_error(capsys):
    assert bench.main(["occlusion"]) == 2
    assert "unknown method 'occlusion'" in capsys.readouterr().err


def test_perturbation_bench_rows_on_a_tiny_model(monkeypatch):
    """The LIME/SHAP/D-RISE bench end to end on a tiny model with few samples: every ratio is positive,
    SHAP's pruned run costs at most the unpruned passes, 2 + M·(S−1) with M = 1 permutation, and
    D-RISE's costs its masks' passes whatever the number of targets."""
    import perturb
    monkeypatch.setattr(bench, "build_model", lambda method, width, device: _tiny(device))
    segments_of = perturb.segments_of
    monkeypatch.setattr(perturb, "segments_of", lambda x, config: segments_of(x, config, n=16))
    monkeypatch.setattr(bench, "explain", lambda method, model, x, targets, **kw: perturb.explain(
        model, x, targets, method=method, n_samples=16, n_permutations=1, **kw) if method != "drise" else
        perturb.explain_drise(model, x, targets, n_masks=6, batch_size=kw["batch_size"]))
    for method in ("lime", "shap", "drise"):
        rows = bench.bench_perturbation(method, None, "cpu", repeats=1)
        values = {quantity: value for quantity, value, _ in rows if value is not None}
        assert all(v > 0 for v in values.values())
        if method == "drise":
            assert "6 passes; 8 targets" in rows[-1][0] and rows[-1][0].count("6 passes") == 2
        if method == "shap":
            pruning = next(goal for quantity, _, goal in rows if quantity.startswith("forward passes with"))
            pruned, unpruned = (int(v) for v in pruning.split(" / "))
            model = _tiny("cpu")
            superpixels = int(perturb.segments_of(bench.bench_input(model, "cpu"), model.config).max()) + 1
            assert unpruned == 2 + (superpixels - 1)
            assert 0 < pruned <= unpruned


def test_source_targets_sit_at_the_centre_cell_of_each_source_in_turn():
    model = _tiny("cpu")
    config = model.config
    targets = bench.source_targets(model)
    assert len(targets) == bench.TARGETS
    ssd.check_targets(targets, len(ssd.priors(config)), config.num_classes)
    sources = len(config.feature_maps)
    for i, t in enumerate(targets):
        k, row, col, box = ssd.prior_location(config, t.prior)
        f = config.feature_maps[k]
        assert (k, row, col, box) == (i % sources, f // 2, f // 2, 0)
