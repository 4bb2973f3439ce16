"""deeplift.blur: the Gaussian-blurred reference (σ 12, 80×80 kernel in the paper)."""
import math

import pytest
import torch

import deeplift
from deeplift.blur import gaussian_kernel


@pytest.mark.parametrize("height, width", [(5, 7), (100, 90)])
def test_constant_image_is_unchanged(device, height, width):
    """Also for images smaller than the kernel: every output is a weighted mean of pixels."""
    x = torch.full((2, 3, height, width), 0.0, dtype=torch.float64, device=device)
    x[:, 1] = -2.5
    x[:, 2] = 7.0
    assert torch.allclose(deeplift.blur(x), x, rtol=0, atol=1e-12)


def test_impulse_gives_the_normalised_kernel(device):
    """An impulse far from the borders (every output it reaches sees its whole 81×81 window)
    returns the Gaussian exp(−(i² + j²)/(2σ²)) / Σ over the square, which sums to 1."""
    x = torch.zeros(1, 1, 181, 181, dtype=torch.float64, device=device)
    x[0, 0, 90, 90] = 1.0
    out = deeplift.blur(x, sigma=12, size=80)[0, 0]
    i = torch.arange(-40, 41, dtype=torch.float64, device=device)
    g = torch.exp(-(i[:, None] ** 2 + i[None, :] ** 2) / (2 * 12.0 ** 2))
    expected = torch.zeros(181, 181, dtype=torch.float64, device=device)
    expected[50:131, 50:131] = g / g.sum()
    assert torch.allclose(out, expected, rtol=0, atol=1e-15)
    assert out.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_borders_average_only_inside_pixels(device):
    """Outputs stay within the input's range (convex combinations, no dark zero-padded rim), and
    the blur commutes with flipping the image (no shift, symmetric border handling)."""
    x = torch.rand(1, 3, 40, 60, dtype=torch.float64, device=device)
    out = deeplift.blur(x)
    assert out.min() >= x.min() and out.max() <= x.max()
    assert torch.allclose(deeplift.blur(x.flip(2, 3)), out.flip(2, 3), rtol=0, atol=1e-12)
    # the corner output = the inside taps' weighted mean (rows: offsets 0..39, columns: 0..40)
    k = gaussian_kernel(12, 80, dtype=torch.float64, device=device)
    rows, cols = k[40:80], k[40:81]
    direct = (rows[:, None] * cols[None, :] * x[0, 0, :40, :41]).sum() / (rows.sum() * cols.sum())
    assert out[0, 0, 0, 0].item() == pytest.approx(direct.item(), abs=1e-12)


def test_kernel_taps():
    k = gaussian_kernel(2.0, 5)
    assert k.numel() == 5 and torch.allclose(k, k.flip(0)) and k.sum().item() == pytest.approx(1.0)
    assert (k[2] / k[3]).item() == pytest.approx(math.exp(1 / 8))


@pytest.mark.parametrize("kwargs, message", [(dict(sigma=0), "sigma"), (dict(size=0), "size"),
                                             (dict(x=torch.zeros(3, 8, 8)), r"\[N,C,H,W\]")])
def test_bad_arguments(kwargs, message):
    args = dict(x=torch.zeros(1, 3, 8, 8)) | kwargs
    with pytest.raises(ValueError, match=message):
        deeplift.blur(**args)
