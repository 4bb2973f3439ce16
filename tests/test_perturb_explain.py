"""SLIC superpixels and the SSD entry point perturb.explain (LIME and SHAP heatmaps of detections)."""
import numpy as np
import pytest
import torch
from skimage import data, transform

import perturb
import ssd


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ssd.SSD(ssd.COCO_SSD512.replace(width=1 / 64)).eval()


def grid(device, size=512, block=128):
    """Square superpixels of `block` px: 16 on a 512×512 input (cheap stand-ins for SLIC)."""
    rows = torch.arange(size, device=device) // block
    return rows[:, None] * (size // block) + rows[None, :]


def test_superpixels_count_labels_and_errors():
    image = (transform.resize(data.astronaut(), (512, 512), anti_aliasing=True) * 255).astype(np.uint8)
    segments = perturb.superpixels(image, n=250)
    assert segments.shape == (512, 512) and segments.dtype == torch.int64
    count = int(segments.max()) + 1
    assert torch.equal(torch.unique(segments), torch.arange(count))                  # 0..S-1, no gaps
    assert 0.85 * 250 <= count <= 1.1 * 250
    with pytest.raises(ValueError, match="uint8 RGB"):
        perturb.superpixels(image.astype(np.float32))
    with pytest.raises(ValueError, match="uint8 RGB"):
        perturb.superpixels(image[..., 0])


def test_lime_heatmaps_paint_the_superpixel_values(model, device):
    model = model.to(device)
    x = torch.randn(1, 3, 512, 512, device=device)
    targets = [ssd.Target(100, 1), ssd.Target(20000, 3)]
    segments = grid(device)
    with perturb.count_passes() as passes:
        heatmaps, used = perturb.explain(model, x, targets, "lime", segments=segments, n_samples=4, batch_size=8,
                                         return_segments=True)
    assert passes.images == 4
    with perturb.count_passes() as passes:
        one = perturb.explain(model, x, targets[1:], "lime", segments=segments, n_samples=4, batch_size=8)
    assert passes.images == 4                                                        # K targets, same passes
    assert heatmaps.shape == (2, 512, 512) and torch.equal(used, segments)
    values = perturb.lime(perturb.ssd_score(model, targets), x, segments, n_samples=4, batch_size=8)
    torch.testing.assert_close(heatmaps, values.float()[:, segments])
    torch.testing.assert_close(one[0], heatmaps[1])


def test_shap_heatmaps_are_zero_outside_the_receptive_field(model, device):
    model = model.to(device)
    x = torch.randn(1, 3, 512, 512, device=device)
    a = model.config.boxes_per_location[0]
    targets = [ssd.Target((5 * 64 + 5) * a, 2)]                                       # source 0, row 5, col 5
    segments = grid(device)
    heatmaps = perturb.explain(model, x, targets, "shap", segments=segments, n_permutations=1)
    rf = perturb.ssd_receptive_fields(model, targets, device=device)[0]              # rows/cols 0..97
    touched = torch.unique(segments[rf])
    assert torch.equal(touched.cpu(), torch.tensor([0]))
    outside = ~torch.isin(segments, touched)
    assert torch.equal(heatmaps[0][outside], torch.zeros_like(heatmaps[0][outside]))
    f = perturb.ssd_score(model, targets)
    delta = f(x) - f(torch.zeros_like(x))                                            # efficiency
    torch.testing.assert_close(heatmaps[0, 0, 0], delta[0, 0], rtol=1e-4, atol=1e-4)


def test_default_segments_are_slic_of_the_input_image(model):
    image = (transform.resize(data.astronaut(), (512, 512), anti_aliasing=True) * 255).astype(np.uint8)
    x = ssd.preprocess(image, model.config)
    heatmaps, segments = perturb.explain(model, x, [ssd.Target(7, 1)], "lime", n=30, n_samples=2,
                                         return_segments=True)
    assert torch.equal(segments, perturb.superpixels(image, n=30))
    assert torch.equal(segments, perturb.segments_of(x, model.config, n=30))


def test_explain_errors(model):
    x = torch.zeros(1, 3, 512, 512)
    with pytest.raises(ValueError, match="unknown method"):
        perturb.explain(model, x, [ssd.Target(0, 1)], "kernelshap", segments=grid("cpu"))
    with pytest.raises(ValueError, match="one image"):
        perturb.explain(model, x.expand(2, -1, -1, -1), [ssd.Target(0, 1)], segments=grid("cpu"))
    with pytest.raises(ValueError, match="no targets"):
        perturb.explain(model, x, [], segments=grid("cpu"))
    with pytest.raises(ValueError, match="out of range"):
        perturb.explain(model, x, [ssd.Target(10 ** 6, 1)], segments=grid("cpu"))
