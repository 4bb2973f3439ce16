"""The ℓ2-Norm with the Pass rule (eq. 3.2): relevance at its input equals relevance at its output."""
import torch
from torch import nn

import lrp
import ssd


def test_pass_returns_the_seed_elementwise(device):
    torch.manual_seed(7)
    norm = ssd.L2Norm(4).double().to(device)
    x = torch.rand(2, 4, 3, 3, dtype=torch.float64, device=device)
    seed = torch.randn(2, 4, 3, 3, dtype=torch.float64, device=device)
    r = lrp.attribute(norm, x, seed, lrp.composite(layers={ssd.L2Norm: lrp.Pass()}))
    torch.testing.assert_close(r, seed, rtol=1e-12, atol=1e-12)
    # its own gradient would not conserve: the relevance sum changes
    g = lrp.attribute(norm, x, seed, lrp.composite())
    assert (g.sum() - seed.sum()).abs() > 1e-3


def test_relevance_is_the_same_on_both_sides_of_the_norm(device):
    torch.manual_seed(8)
    norm = ssd.L2Norm(5).double().to(device)
    head = nn.Conv2d(5, 3, 3, padding=1).double().to(device)
    h = torch.relu(torch.randn(1, 5, 6, 6, dtype=torch.float64, device=device))
    h[0, :, 0, 0] = 0                                      # an all-zero location: no NaN, no relevance
    seed = head(norm(h)).detach()
    rules = lrp.composite(conv=lrp.Gamma(0.1), layers={ssd.L2Norm: lrp.Pass()})
    before = lrp.attribute(nn.Sequential(norm, head), h, seed, rules)      # relevance at the norm's input
    after = lrp.attribute(nn.Sequential(head), norm(h).detach(), seed, rules)  # ... at its output
    torch.testing.assert_close(before, after, rtol=1e-10, atol=1e-12)
    assert torch.isfinite(before).all() and (before[0, :, 0, 0] == 0).all()
