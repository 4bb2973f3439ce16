"""LIME: cosine distance and kernel by hand, the ridge fit against an independent solver,
recovery of an exactly linear score, and batching/seed/target-count invariances."""
import math

import numpy as np
import pytest
import torch

import perturb


def test_cosine_distance_and_kernel_weight_by_hand(device):
    # x = (1, 2) as two one-pixel superpixels; perturbed pixels go to 0
    x = torch.tensor([[[[1., 2.]]]], device=device)
    segments = torch.tensor([[0, 1]], device=device)
    states = torch.tensor([[1, 1], [1, 0], [0, 1], [0, 0]], dtype=torch.bool, device=device)
    d = perturb.cosine_distance(x, segments, states)
    # z = (1,2): cos 1; z = (1,0): 1/√5; z = (0,2): 4/(√5·2); z = 0: distance 1 by convention
    expected = [0.0, 1 - 1 / math.sqrt(5), 1 - 2 / math.sqrt(5), 1.0]
    torch.testing.assert_close(d.cpu(), torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
    for k in (1.0, 0.5):
        w = perturb.kernel_weights(d, k)
        torch.testing.assert_close(w.cpu(), torch.tensor([math.exp(-e ** 2 / k ** 2) for e in expected],
                                                         dtype=torch.float64), rtol=0, atol=1e-12)


def test_cosine_distance_matches_flattened_inputs(device):
    """The per-superpixel shortcut equals 1 − cos between the explicitly built flattened inputs."""
    x = torch.randn(1, 3, 6, 5, dtype=torch.float64, device=device)
    baseline = torch.randn(3, 6, 5, dtype=torch.float64, device=device)
    segments = torch.arange(30, device=device).reshape(6, 5) % 4
    states = torch.rand(10, 4, device=device) < 0.5
    z = perturb.perturbed_inputs(x, segments, states, baseline).flatten(1)
    explicit = 1 - (z @ x.flatten()) / (z.norm(dim=1) * x.norm())
    torch.testing.assert_close(perturb.cosine_distance(x, segments, states, baseline), explicit, rtol=0, atol=1e-12)


def test_weighted_ridge_matches_augmented_least_squares():
    """Independent formulation: minimise ‖√w (y − [1 Z] β)‖² + α‖c‖² as ordinary least squares on
    the system with rows √α·e_s appended for the coefficients (the intercept is not penalised)."""
    g = np.random.default_rng(1)
    z = (g.random((40, 6)) < 0.5).astype(float)
    y = g.normal(size=(40, 3))
    w = g.random(40) + 0.1
    alpha = 0.7
    design = np.hstack([np.ones((40, 1)), z]) * np.sqrt(w)[:, None]
    penalty = np.hstack([np.zeros((6, 1)), np.sqrt(alpha) * np.eye(6)])
    beta = np.linalg.lstsq(np.vstack([design, penalty]), np.vstack([y * np.sqrt(w)[:, None], np.zeros((6, 3))]),
                           rcond=None)[0]
    coef, intercept = perturb.weighted_ridge(torch.tensor(z), torch.tensor(y), torch.tensor(w), alpha)
    np.testing.assert_allclose(coef.numpy(), beta[1:].T, atol=1e-10)
    np.testing.assert_allclose(intercept.numpy(), beta[0], atol=1e-10)


def _linear_game(device, count=12):
    """Image of ones split into `count` one-pixel superpixels: the mean of a superpixel is its state z_s,
    so f = Σ_s c_ts z_s + b_t is exactly linear in the states."""
    x = torch.ones(1, 1, 1, count, dtype=torch.float64, device=device)
    segments = torch.arange(count, device=device)[None]
    c = torch.tensor(np.random.default_rng(0).normal(size=(count, 3)), device=device)
    c[:, 2] = 0  # a target the superpixels do not affect
    b = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64, device=device)
    return x, segments, c, b, (lambda batch: batch[:, 0, 0, :] @ c + b)


def test_lime_recovers_a_linear_score(device):
    x, segments, c, b, f = _linear_game(device)
    values = perturb.lime(f, x, segments, n_samples=300, alpha=1e-6)
    for t in range(2):
        assert np.corrcoef(values[t].cpu().numpy(), c[:, t].cpu().numpy())[0, 1] > 0.999
        torch.testing.assert_close(values[t], c[:, t] / c[:, t].abs().max(), rtol=0, atol=1e-6)
    assert values.abs().max() <= 1
    assert torch.equal(values[2], torch.zeros_like(values[2]))  # all-zero stays zero
    raw = perturb.lime(f, x, segments, n_samples=300, alpha=1e-6, normalize=False)
    torch.testing.assert_close(raw[:2], c[:, :2].T, rtol=0, atol=1e-6)


def test_lime_first_sample_unperturbed_batching_seed_and_targets(device):
    x, segments, c, b, f = _linear_game(device)
    seen = []

    def counting(batch):
        seen.append(batch)
        return f(batch)[:, :2]
    reference = perturb.lime(counting, x, segments, n_samples=50, batch_size=64, seed=3)
    assert torch.equal(seen[0][0], x[0])                       # first sample: the unperturbed input
    assert sum(len(s) for s in seen) == 50
    for batch_size in (1, 7):
        torch.testing.assert_close(perturb.lime(f, x, segments, n_samples=50, batch_size=batch_size, seed=3)[:2],
                                   reference, rtol=0, atol=1e-10)
    assert torch.equal(perturb.lime(counting, x, segments, n_samples=50, seed=3), reference)
    assert not torch.equal(perturb.lime(counting, x, segments, n_samples=50, seed=4), reference)
    # one target costs as many model evaluations as two, and gives the same values
    seen.clear()
    single = perturb.lime(lambda batch: counting(batch)[:, :1], x, segments, n_samples=50, seed=3)
    assert sum(len(s) for s in seen) == 50
    torch.testing.assert_close(single[0], reference[0], rtol=0, atol=1e-12)


def test_lime_bad_arguments():
    x, segments, c, b, f = _linear_game("cpu")
    with pytest.raises(ValueError, match="n_samples"):
        perturb.lime(f, x, segments, n_samples=1)
    with pytest.raises(ValueError, match="kernel_width"):
        perturb.lime(f, x, segments, kernel_width=0)
    with pytest.raises(ValueError, match="alpha"):
        perturb.lime(f, x, segments, alpha=-1)
