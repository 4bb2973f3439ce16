"""deeplift.explain on a narrow SSD512: summation-to-delta through the real architecture
(ℓ2-Norm included), batched targets == one by one, hooks removed, clear errors."""
import pytest
import torch
from torch import nn

import deeplift
import ssd

CONFIG = ssd.SHAPES_SSD512.replace(width=1 / 64)
TARGETS = [ssd.Target(5, 1), ssd.Target(3000, 4), ssd.Target(21000, 6)]


def narrow_ssd(device, dtype=torch.float32):
    torch.manual_seed(0)
    return ssd.SSD(CONFIG).to(device=device, dtype=dtype).eval()


def image(device, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return (30 * torch.randn(1, 3, 512, 512, generator=g, dtype=dtype)).to(device)


def test_heatmaps_batched_equal_one_by_one(device):
    """The paper's setting (γ 0.1, ♭, blurred reference): finite [K,H,W] heatmaps; K targets in
    chunks of 2 from one forward pass == each target alone; the model's output unchanged."""
    model, x = narrow_ssd(device), image(device)
    before = model(x)[0]
    heatmaps = deeplift.explain(model, x, TARGETS, chunk=2)
    assert heatmaps.shape == (3, 512, 512) and torch.isfinite(heatmaps).all()
    assert (heatmaps.abs().amax(dim=(1, 2)) > 0).all()
    for k, target in enumerate(TARGETS):
        single = deeplift.explain(model, x, [target])
        assert torch.allclose(single[0], heatmaps[k], rtol=1e-4, atol=1e-6 * heatmaps[k].abs().max().item())
    assert torch.equal(model(x)[0], before)   # hooks, parameters: tests/test_methods_leave_model.py


def avg_pooling(model):
    """The same SSD with every max-pooling replaced by average pooling of the same geometry (a
    linear layer, so summation-to-delta must hold exactly)."""
    for block in model.features:
        for name, m in block.named_children():
            if isinstance(m, nn.MaxPool2d):
                setattr(block, name, nn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode))
    return model


@pytest.mark.parametrize("rule, first, maxpool", [("rescale", None, "avg-pooling instead"),
                                                  ("revealcancel", "flat", "rescale")])
def test_summation_to_delta_through_ssd(device, rule, first, maxpool):
    """Without γ: each heatmap sums to logit(x) − logit(reference) of its target (float64), with
    the conserving max-pooling rule, or with the max-poolings swapped for average pooling."""
    model, x = narrow_ssd(device, torch.float64), image(device, torch.float64)
    if maxpool != "rescale":
        model, maxpool = avg_pooling(model), "gradient"
    reference = deeplift.blur(x)
    heatmaps = deeplift.explain(model, x, TARGETS, gamma=0.0, first=first, reference="blur", rule=rule,
                                maxpool=maxpool)
    delta = ssd.score(model(x)[0] - model(reference)[0], TARGETS)[0].detach()
    assert torch.allclose(heatmaps.sum(dim=(1, 2)), delta, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("targets, message", [
    ([], "no targets"),
    ([ssd.Target(10 ** 6, 1)], "prior index out of range"),
    ([ssd.Target(0, 7)], "label out of range"),
])
def test_bad_targets(targets, message):
    model = narrow_ssd("cpu")
    with pytest.raises(ValueError, match=message):
        deeplift.explain(model, image("cpu"), targets)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=torch.zeros(3, 512, 512)), r"\[1,3,H,W\]"),
    (dict(reference="noise"), "unknown reference"),
    (dict(reference=torch.zeros(1, 3, 64, 64)), "does not match the image"),
    (dict(chunk=0), "chunk"),
])
def test_bad_arguments(kwargs, message):
    args = dict(model=narrow_ssd("cpu"), x=image("cpu"), targets=TARGETS) | kwargs
    with pytest.raises(ValueError, match=message):
        deeplift.explain(**args)
