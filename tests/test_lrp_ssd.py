"""`lrp.explain` on a narrow SSD512: heatmaps, batching, errors, and a model left as it was."""
import pytest
import torch

import lrp
import ssd

CONFIG = ssd.SHAPES_SSD512.replace(width=1 / 64)


@pytest.fixture
def model(device):
    torch.manual_seed(9)
    m = ssd.SSD(CONFIG).eval().to(device)
    with torch.no_grad():   # cls head 6, box 0, class 2 (channel 2): logit exactly 0 at that prior
        m.cls_heads[6].weight[2] = 0
        m.cls_heads[6].bias[2] = 0
    return m


def image(device):
    return torch.randn(1, 3, 512, 512, device=device) * 50


def some_targets(logits):
    """Largest class logit, most negative class logit (the background is no target), an exactly-zero
    logit (last prior-block, class 2)."""
    flat = logits[0, :, 1:].flatten()
    C = logits.shape[2] - 1
    top, bottom = int(flat.argmax()), int(flat.argmin())
    zero_prior = logits.shape[1] - 4                       # source 6 has 4 boxes at its one location
    assert logits[0, zero_prior, 2] == 0 and flat[bottom] < 0
    return [ssd.Target(top // C, 1 + top % C), ssd.Target(bottom // C, 1 + bottom % C), ssd.Target(zero_prior, 2)]


@pytest.mark.parametrize("rule", ["epsilon", "gamma", "zplus"])
def test_finite_heatmaps_for_positive_negative_and_zero_logits(model, rule, device):
    x = image(device)
    targets = some_targets(model(x)[0])
    for epsilon in (1e-6, 0.0):
        h = lrp.explain(model, x, targets, rule=rule, epsilon=epsilon)
        assert h.shape == (3, 512, 512) and h.device.type == device.type
        assert torch.isfinite(h).all()
        assert h[0].abs().sum() > 0
        if rule != "zplus":   # z⁺ may find no positive contribution to a negative logit: R = 0 then
            assert h[1].abs().sum() > 0
        assert (h[2] == 0).all()                           # R = logit = 0: nothing to distribute


@pytest.mark.parametrize("rule", ["epsilon", "gamma", "zplus"])
def test_without_biases_heatmaps_sum_to_the_logits(model, rule, device):
    """Conservation through the whole SSD: ♭, the convolutions, max-pooling and the ℓ2-Norm (Pass)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    x = image(device)
    logits = model(x)[0]
    targets = some_targets(logits)[:2]
    h = lrp.explain(model, x, targets, rule=rule)
    expected = torch.stack([logits[0, t.prior, t.label] for t in targets]).detach()
    torch.testing.assert_close(h.sum(dim=(1, 2)), expected, rtol=1e-3, atol=1e-6)


def test_batched_targets_equal_one_by_one(model, device):
    x = image(device)
    logits = model(x)[0]
    order = logits[0].flatten().argsort(descending=True)[:5].tolist()
    targets = [ssd.Target(i // CONFIG.num_classes, i % CONFIG.num_classes) for i in order]
    together = lrp.explain(model, x, targets, chunk=2)                     # chunks of 2, 2, 1
    alone = torch.cat([lrp.explain(model, x, [t]) for t in targets])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-7)
    assert together.abs().amax(dim=(1, 2)).min() > 0


def test_model_parameters_hooks_and_gradient_unchanged(model, device):
    x = image(device)

    def plain_gradient():
        xx = x.clone().requires_grad_()
        return torch.autograd.grad(model(xx)[0][0, 10, 1], xx)[0]

    before, state = plain_gradient(), {k: v.clone() for k, v in model.state_dict().items()}
    lrp.explain(model, x, [ssd.Target(10, 1), ssd.Target(20, 3)], rule="gamma")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert torch.equal(plain_gradient(), before)
    outside = lrp.explain(model, x, [ssd.Target(10, 1)])
    with torch.no_grad():                                   # works inside no_grad, same result
        torch.testing.assert_close(lrp.explain(model, x, [ssd.Target(10, 1)]), outside)


def test_bad_input_gives_clear_errors(model, device):
    x = image(device)
    P, C = model(x)[0].shape[1:]
    with pytest.raises(ValueError, match="no targets"):
        lrp.explain(model, x, [])
    with pytest.raises(ValueError, match="prior index out of range"):
        lrp.explain(model, x, [ssd.Target(P, 1)])
    with pytest.raises(ValueError, match="label out of range"):
        lrp.explain(model, x, [ssd.Target(0, C)])
    with pytest.raises(ValueError, match=r"\[1,3,H,W\]"):
        lrp.explain(model, torch.cat([x, x]), [ssd.Target(0, 1)])
    with pytest.raises(ValueError, match="unknown LRP rule"):
        lrp.explain(model, x, [ssd.Target(0, 1)], rule="alpha")
    with pytest.raises(ValueError, match="first-layer rule"):
        lrp.explain(model, x, [ssd.Target(0, 1)], first="box")
    with pytest.raises(ValueError, match="chunk"):
        lrp.explain(model, x, [ssd.Target(0, 1)], chunk=0)
    assert all(not m._forward_hooks for m in model.modules())
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        lrp.explain(model, x, [ssd.Target(0, 1)])
