"""Incremental forward passes (perturb.incremental): recomputing only the rectangle that changed gives
the activations of a full pass, on chains with every geometry the SSD has (stride, padding,
dilation, max-pools in ceil mode and with −∞ padding), and the windowed SSD score stays equal to the
full model along SHAP-like walks, removal-curve-like steps and LIME-like jumps."""
import pytest
import torch
from torch import nn

import perturb
import ssd
from perturb.incremental import Walk, chain_of, changed_rectangle
from ssd.checks import all_finite


def _chain():
    torch.manual_seed(0)
    modules = [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2, ceil_mode=True),
               nn.Conv2d(4, 5, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, 1, padding=1),
               nn.Conv2d(5, 6, 3, padding=2, dilation=2), nn.ReLU(), nn.Conv2d(6, 3, 1)]
    return nn.Sequential(*modules).double(), chain_of(modules)


def _full(modules, x, taps):
    outs, h = {}, x
    for i, layer in enumerate(chain_of(list(modules))):
        h = layer(h)
        if i in taps:
            outs[i] = h
    return outs


def test_changed_rows_of_a_layer_are_the_outputs_that_change():
    """Layer.changed against a brute force: perturb input rows [a0, a1) and see which output rows move."""
    torch.manual_seed(1)
    for module in (nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, stride=2, padding=1),
                   nn.Conv2d(2, 2, 3, padding=2, dilation=2), nn.MaxPool2d(2, 2, ceil_mode=True),
                   nn.MaxPool2d(3, 1, padding=1)):
        module = module.double()
        (layer,) = chain_of([module])
        x = torch.randn(1, 2, 13, 13, dtype=torch.float64)
        base = module(x)
        for a0, a1 in ((0, 1), (5, 7), (12, 13), (3, 4)):
            y = x.clone()
            y[:, :, a0:a1, :] += 5.0
            moved = torch.nonzero((module(y) != base).any(3).any(1)[0]).flatten().tolist()
            o0, o1 = layer.changed(a0, a1, 0, base.shape[2])
            assert set(moved) <= set(range(o0, o1)), (module, a0, a1)
            if isinstance(module, nn.Conv2d) and module.dilation == (1, 1):
                assert moved == list(range(o0, o1))                          # tight for a dense kernel


def test_a_walk_of_small_changes_equals_full_passes(monkeypatch):
    monkeypatch.setattr(perturb.incremental, "OVERHEAD_MACS", 0.0)     # a toy chain: launches would dominate
    modules, layers = _chain()
    taps = [2, 4]
    walk = Walk(layers, taps)
    torch.manual_seed(2)
    x = torch.randn(1, 3, 37, 41, dtype=torch.float64)
    inputs = [x.clone()]
    for r0, r1, c0, c1 in ((0, 3, 0, 2), (35, 37, 39, 41), (10, 11, 20, 21), (5, 9, 0, 41), (0, 37, 0, 41)):
        nxt = inputs[-1].clone()
        nxt[:, :, r0:r1, c0:c1] = torch.randn(1, 3, r1 - r0, c1 - c0, dtype=torch.float64)
        inputs.append(nxt)
    inputs.append(inputs[-1].clone())                                          # no change at all
    batch = torch.cat(inputs)
    seen = []
    for b, changed in walk.each(batch):
        want = _full(modules, batch[b:b + 1], taps)
        for tap in taps:
            torch.testing.assert_close(walk.activation(tap), want[tap], rtol=1e-12, atol=1e-12)
        seen.append(changed)
    assert seen[0] is None                                                     # the first input: a full pass
    assert walk.incremental_passes >= 3 and walk.full_passes >= 1
    assert seen[-1] == {tap: None for tap in taps}                             # the same input: nothing changed
    assert changed_rectangle(inputs[1][0], inputs[2][0]) == (35, 37, 39, 41)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(3)
    return ssd.SSD(ssd.SHAPES_SSD512.replace(width=1 / 32)).double().eval()


def test_the_windowed_score_along_walks_and_jumps_equals_the_full_model(tiny):
    """Targets on every source and of every kind; inputs that add one superpixel at a time (SHAP),
    remove growing sets (a removal curve) and jump at random (LIME)."""
    config, priors = tiny.config, len(ssd.priors(tiny.config))
    counts = [f * f * a for f, a in zip(config.feature_maps, config.boxes_per_location)]
    starts = [sum(counts[:k]) for k in range(len(counts))]
    targets = [ssd.Target(s + n // 3, 2) for s, n in zip(starts, counts)] + [
        ssd.BoxTarget(starts[1] + 5, "cy"), ssd.ContrastTarget(starts[0] + 900, 2, 3)]
    assert all(t.prior < priors for t in targets)
    torch.manual_seed(4)
    x = torch.randn(1, 3, 512, 512, dtype=torch.float64)
    segments = perturb.segments_of(x.float(), config, n=60)
    count = int(segments.max()) + 1
    order = torch.randperm(count)
    walk = torch.zeros(count + 1, count, dtype=torch.bool)
    for k in range(1, count + 1):
        walk[k, order[:k]] = True
    jumps = torch.rand(6, count) < 0.5
    states = torch.cat([walk[:12], jumps, walk[-3:]])
    inputs = perturb.perturbed_inputs(x, segments, states)
    for kind, chosen in (("logit", [targets[0]]), ("logit", [targets[3]]), ("logit", targets),
                         ("probability", targets)):
        f = perturb.WindowedScore(tiny, chosen, kind)
        got = torch.cat([f(inputs[i:i + 4]) for i in range(0, len(inputs), 4)])
        with torch.no_grad():
            want = ssd.score(tiny(inputs), chosen, kind)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
        assert sum(g.chain.incremental_passes for g in f.groups) > 0


def test_hooks_and_gradients_get_plain_passes(tiny):
    """A forward hook that changes an activation is honoured (the walk would call no block and bypass
    it), and a pass to differentiate has a gradient."""
    target = [ssd.Target(100, 2)]
    x = torch.randn(3, 3, 512, 512, dtype=torch.float64)
    x[1] = x[0]
    x[1, :, 10:20, 10:20] = 0.0
    f = perturb.WindowedScore(tiny, target)
    handle = tiny.features[0].conv1_1.register_forward_hook(lambda module, inputs, out: out * 2.0)
    try:
        with torch.no_grad():
            torch.testing.assert_close(f(x), ssd.score(tiny(x), target), rtol=1e-9, atol=1e-9)
    finally:
        handle.remove()
    assert all(g.chain.full_passes + g.chain.incremental_passes == 0 for g in f.groups)
    x.requires_grad_(True)
    (got,) = torch.autograd.grad(f(x).sum(), x)
    (want,) = torch.autograd.grad(ssd.score(tiny(x), target).sum(), x)
    assert want.abs().sum() > 0
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)          # the full model's gradient


def test_all_finite_is_exact_where_the_sum_overflows():
    assert all_finite(torch.tensor([3e38, 3e38]))                            # the sum is inf, the values finite
    assert not all_finite(torch.tensor([1.0, float("nan")]))
    assert not all_finite(torch.tensor([float("inf"), -float("inf")]))      # the sum is NaN
    assert all_finite(torch.zeros(0))
