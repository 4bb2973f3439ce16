"""Grad-CAM and ODAM (lrp/gradcam.py): the map of given activations and gradients by hand, and every
kind of target on the linear toy detector, whose gradient at the source is its head's kernel."""
import pytest
import torch
from eval_oracle import TINY
from toy_detector import ToyDetector, prior, weights_of

import lrp
import ssd
from lrp.gradcam import cam


def test_cam_by_hand():
    """A = [[1, 2], [3, 4]] and [[0, 1], [−1, 0]]; G = [[1, 0], [0, 1]] and [[2, 0], [0, −2]].
    Grad-CAM: α = (0.5, 0), M = ReLU(0.5·A_0) = [[0.5, 1], [1.5, 2]].
    ODAM: Σ_c G_c ⊙ A_c = [[1 + 0, 0], [0, 4 + 0]] = [[1, 0], [0, 4]]; with −G: ReLU gives 0."""
    a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [-1.0, 0.0]]])
    g = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, -2.0]]]])
    torch.testing.assert_close(cam(a, g, "gradcam"), torch.tensor([[[0.5, 1.0], [1.5, 2.0]]]))
    torch.testing.assert_close(cam(a, g, "odam"), torch.tensor([[[1.0, 0.0], [0.0, 4.0]]]))
    torch.testing.assert_close(cam(a, -g, "odam"), torch.zeros(1, 2, 2))


@pytest.mark.parametrize("mode", ["gradcam", "odam"])
def test_every_kind_on_the_toy_by_hand(mode):
    """The toy's source is S = B x [2,16,16] at the input's resolution (no upsampling), and a target at
    location (i, j) has the gradient G = its head kernel W [2,8,8] on that quadrant, 0 elsewhere:
    Grad-CAM's weights are α_c = Σ W_c / 256, ODAM's map is Σ_c W_c ⊙ S_c on the quadrant."""
    model = ToyDetector().eval()
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    targets = [ssd.BoxTarget(prior(1, 0, 1), "h"), ssd.ContrastTarget(prior(0, 1, 0), 2, 0),
               ssd.Target(prior(1, 1, 1), 1)]
    maps = lrp.gradcam(model, x, targets, mode=mode)
    source = torch.einsum("cd,dhw->chw", model.body.weight.detach()[:, :, 0, 0], x[0])
    for k, t in enumerate(targets):
        _, i, j, _ = ssd.prior_location(model.config, t.prior)
        gradient = torch.zeros(2, 16, 16, dtype=torch.float64)
        gradient[:, 8 * i:8 * i + 8, 8 * j:8 * j + 8] = weights_of(model, t)
        if mode == "gradcam":
            by_hand = torch.relu((gradient.sum(dim=(1, 2)) / 256)[:, None, None].mul(source).sum(0))
        else:
            by_hand = torch.relu((gradient * source).sum(0))
        torch.testing.assert_close(maps[k], by_hand, rtol=1e-10, atol=1e-12)
        if mode == "odam":
            assert (maps[k][gradient.abs().sum(0) == 0] == 0).all()           # nothing outside its quadrant


def test_each_target_reads_its_own_source_upsampled_to_the_input():
    """On the tiny SSD (128×128, sources of 16 … 1 cells): a target of source k is its source's map,
    upsampled bilinearly; the last source (1×1) gives a constant map."""
    torch.manual_seed(0)
    model = ssd.SSD(TINY).eval()
    x = 30 * torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    targets = [ssd.Target(5, 1), ssd.BoxTarget(1100, "w"), ssd.ContrastTarget(1531, 3, 1)]
    maps = lrp.gradcam(model, x, targets)
    assert maps.shape == (3, 128, 128) and (maps >= 0).all() and torch.isfinite(maps).all()
    assert maps[2].min() == maps[2].max()
    # source 0 by autograd on the model's own sources: the class head's input gradient at the prior
    source = model.sources(x)[0].detach().requires_grad_(True)
    k, i, j, a = ssd.prior_location(model.config, 5)
    logit = model.cls_heads[0](source)[0, a * model.config.num_classes + 1, i, j]
    (g,) = torch.autograd.grad(logit, source)
    expected = torch.relu((g.mean(dim=(2, 3), keepdim=True) * source.detach()).sum(1, keepdim=True))
    expected = torch.nn.functional.interpolate(expected, size=(128, 128), mode="bilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(maps[0], expected)


def test_bad_mode():
    with pytest.raises(ValueError, match="unknown mode 'cam'"):
        lrp.gradcam(ToyDetector(), torch.zeros(1, 3, 16, 16, dtype=torch.float64), [(0, 1)], mode="cam")
