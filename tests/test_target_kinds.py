"""Every method explains every kind of target (ssd.Target, ssd.BoxTarget, ssd.ContrastTarget) in one
call: by hand on the linear toy detector, conservation and summation-to-delta per kind through the
SSD, and the embedded model on a real synthetic image."""
import pytest
import torch
from eval_oracle import TINY
from toy_detector import ToyDetector, input_gradient, prior

import deeplift
import lrp
import perturb
import ssd

MIXED_TOY = [ssd.BoxTarget(prior(1, 0, 1), "w"), ssd.ContrastTarget(prior(0, 1, 0), 1, 2),
             ssd.Target(prior(1, 1, 1), 2), ssd.BoxTarget(prior(0, 0, 0), "cx")]


@pytest.mark.parametrize("method", ["lrp", "deeplift"])
def test_every_kind_on_the_linear_toy_is_input_times_its_gradient(method):
    """On a bias-free linear network LRP-0 and DeepLIFT (zero reference) both give x ⊙ ∂s/∂x, and the
    gradient of a box output, a contrast or a logit is read off the toy's weights (toy_detector)."""
    model = ToyDetector().eval()
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    if method == "lrp":
        maps = lrp.explain(model, x, MIXED_TOY, rule="epsilon", epsilon=0.0, first=None, chunk=3)
    else:
        maps = deeplift.explain(model, x, MIXED_TOY, gamma=0.0, first=None, reference="zeros", chunk=3)
    for k, target in enumerate(MIXED_TOY):
        by_hand = (x[0] * input_gradient(model, target)).sum(0)
        torch.testing.assert_close(maps[k], by_hand, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(maps.sum(dim=(1, 2)), ssd.score(model(x), MIXED_TOY)[0].detach())


# the tiny SSD at 128×128 (five sources): sources 0, 1, 2, 4 and 3, each kind and a plain logit
MIXED = [ssd.BoxTarget(5, "h"), ssd.ContrastTarget(1100, 4, 1), ssd.Target(1500, 6), ssd.BoxTarget(1530, "cx"),
         ssd.ContrastTarget(1520, 2, 0)]


def tiny_ssd(dtype=torch.float64, biases=True):
    torch.manual_seed(0)
    model = ssd.SSD(TINY).to(dtype).eval()
    if not biases:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
    return model


def image(dtype=torch.float64):
    return 30 * torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(1), dtype=dtype)


def test_lrp_conserves_every_kind_through_the_ssd():
    """Without biases, LRP-γ with γ = 0 (and ε = 0) and no ♭ conserves relevance, float64: each heatmap
    sums to its target's value (box output, logit difference, logit)."""
    model, x = tiny_ssd(biases=False), image()
    maps = lrp.explain(model, x, MIXED, gamma=0.0, epsilon=0.0, first=None, chunk=2)
    value = ssd.score(model(x), MIXED)[0].detach()
    assert (value != 0).all()                   # small (no biases, random weights), but relative error counts
    torch.testing.assert_close(maps.sum(dim=(1, 2)), value, rtol=1e-9, atol=0.0)


def test_deeplift_sums_to_the_change_of_every_kind_through_the_ssd():
    """DeepLIFT with γ = 0, no ♭ and the conserving max-pool rule, float64: each heatmap sums to
    s(x) − s(reference) of its kind; targets in chunks of 2 equal each target alone."""
    model, x = tiny_ssd(), image()
    maps = deeplift.explain(model, x, MIXED, gamma=0.0, first=None, maxpool="rescale", chunk=2)
    delta = (ssd.score(model(x), MIXED) - ssd.score(model(deeplift.blur(x)), MIXED))[0].detach()
    torch.testing.assert_close(maps.sum(dim=(1, 2)), delta, rtol=1e-8, atol=1e-10)
    alone = torch.cat([deeplift.explain(model, x, [t], gamma=0.0, first=None, maxpool="rescale") for t in MIXED[:2]])
    torch.testing.assert_close(maps[:2], alone, rtol=1e-8, atol=1e-10)


@pytest.fixture(scope="module")
def embedded():
    """The embedded model, a real synthetic image, and one target of each kind at its best detection."""
    model = ssd.load("shapes").eval()
    from ssd.data import make_image
    x = ssd.preprocess(make_image(20210913, 0, 512)[0], model.config)
    det = ssd.detect(model, x)[0]
    p, label = int(det.priors[0]), int(det.labels[0])
    other = 1 + label % (model.config.num_classes - 1)
    return model, x, [ssd.BoxTarget(p, "cx"), ssd.BoxTarget(p, "w"), ssd.ContrastTarget(p, label, other)]


def test_deeplift_on_the_embedded_model_sums_to_the_change_of_box_and_contrast(embedded):
    """The must-reach check: float32, 512×512, blurred reference, γ 0, no ♭, max-pool Rescale:
    Σ contributions = Δ regression output, Δ(logit[a] − logit[b]), to 1e-3 relative."""
    model, x, targets = embedded
    maps = deeplift.explain(model, x, targets, gamma=0.0, first=None, maxpool="rescale")
    with torch.no_grad():
        delta = (ssd.score(model(x), targets) - ssd.score(model(deeplift.blur(x)), targets))[0]
    assert (delta.abs() > 1e-2).all()
    torch.testing.assert_close(maps.sum(dim=(1, 2)), delta, rtol=1e-3, atol=0.0)


def test_every_method_gives_finite_maps_of_box_and_contrast_targets_on_the_embedded_model(embedded):
    model, x, targets = embedded
    maps = {"lrp": lrp.explain(model, x, targets),
            "gradcam": lrp.gradcam(model, x, targets),
            "lime": perturb.explain(model, x, targets, method="lime", n=16, n_samples=8, batch_size=4),
            "shap": perturb.explain(model, x, targets, method="shap", n=16, n_permutations=1, batch_size=4),
            "drise": perturb.explain_drise(model, x, targets, n_masks=4, batch_size=4)}
    for name, m in maps.items():
        assert m.shape == (3, 512, 512) and torch.isfinite(m).all(), name
        assert (m.abs().amax(dim=(1, 2)) > 0).any(), name
