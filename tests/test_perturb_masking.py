"""Perturbed inputs from superpixel states, batching, and input checks of perturb."""
import pytest
import torch

import perturb


def test_perturbed_inputs_hand_computed(device):
    x = torch.tensor([[[1., 2., 3.], [4., 5., 6.]], [[7., 8., 9.], [10., 11., 12.]]], device=device)[None]  # [1,2,2,3]
    segments = torch.tensor([[0, 0, 1], [2, 2, 1]], device=device)
    states = torch.tensor([[True, False, True], [False, False, False]], device=device)
    out = perturb.perturbed_inputs(x, segments, states, baseline=-1.0)
    expected0 = torch.tensor([[[1., 2., -1.], [4., 5., -1.]], [[7., 8., -1.], [10., 11., -1.]]], device=device)
    assert torch.equal(out[0], expected0)
    assert torch.equal(out[1], torch.full_like(x[0], -1.0))
    # a per-pixel baseline image (e.g. a blurred input) is taken where the superpixel is removed
    base = -x[0]
    out = perturb.perturbed_inputs(x, segments, states[:1], baseline=base)
    assert torch.equal(out[0], torch.where(expected0 == -1, base, x[0]))


def test_evaluate_is_independent_of_batch_size(device):
    x = torch.randn(1, 3, 4, 5, dtype=torch.float64, device=device)
    segments = torch.arange(20, device=device).reshape(4, 5) // 3
    states = torch.rand(23, 7, device=device) < 0.5
    weights = torch.randn(3, 4, 5, 2, dtype=torch.float64, device=device)
    f = lambda b: torch.einsum("nchw,chwt->nt", b, weights)
    reference = torch.einsum("nchw,chwt->nt", perturb.perturbed_inputs(x, segments, states), weights)
    for batch_size in (1, 7, 64):
        torch.testing.assert_close(perturb.evaluate(f, x, segments, states, 0.0, batch_size), reference,
                                   rtol=0, atol=1e-12)


def test_bad_inputs_are_clear_errors():
    x = torch.zeros(1, 3, 4, 4)
    f = lambda b: b.sum((1, 2, 3))[:, None]
    with pytest.raises(ValueError, match="segments must be"):
        perturb.lime(f, x, torch.zeros(4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="empty segmentation"):
        perturb.shap(f, torch.zeros(1, 3, 0, 4), torch.zeros(0, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="without gaps"):
        perturb.shap(f, x, torch.tensor([[0, 0, 2, 2]] * 4))
    with pytest.raises(ValueError, match=">= 0"):
        perturb.shap(f, x, -torch.ones(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="integer labels"):
        perturb.shap(f, x, torch.zeros(4, 4))
    with pytest.raises(ValueError, match="one input"):
        perturb.shap(f, torch.zeros(2, 3, 4, 4), torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[B,T\]"):
        perturb.shap(lambda b: b.sum((1, 2, 3)), x, torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="batch_size"):
        perturb.lime(f, x, torch.zeros(4, 4, dtype=torch.long), batch_size=0)
