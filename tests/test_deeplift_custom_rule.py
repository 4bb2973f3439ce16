"""A DeepLIFT rule written outside the package (the README's "Writing your own rule") plugs straight in."""
import math

import pytest
import torch
from torch import nn

import deeplift


class TanhMidpoint(deeplift.Rule):
    """m = tanh'((x + x0)/2) = 1 − tanh²((x + x0)/2): the slope of tanh halfway between reference and input."""

    def forward(self, module, x, y, x0):            # x0: the reference input, kept by Rule.record
        with torch.no_grad():
            m = 1 - torch.tanh((x + x0) / 2) ** 2
        return deeplift.stand_in(y, m * x)          # the value of y, the gradient m


def tanh_net(device):
    """y = 3·tanh(2·x1 − x2 + 0.5)."""
    net = nn.Sequential(nn.Linear(2, 1), nn.Tanh(), nn.Linear(1, 1, bias=False)).double().to(device)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[2.0, -1.0]]))
        net[0].bias.fill_(0.5)
        net[2].weight.fill_(3.0)
    return net


def test_tanh_midpoint_matches_the_hand_computation(device):
    """x = (1, 0.5), reference (0, 0): the tanh's input is 2 − 0.5 + 0.5 = 2 against 0.5, its
    midpoint 1.25, m = 1 − tanh²(1.25) ≈ 0.2804; C = Δx ⊙ w1 · m · 3 = (1·2·3m, 0.5·(−1)·3m) = (6m, −1.5m)."""
    net = tanh_net(device)
    x = torch.tensor([[1.0, 0.5]], dtype=torch.float64, device=device)
    reference = torch.zeros_like(x)
    rules = deeplift.composite(layers={nn.Tanh: TanhMidpoint()})
    c = deeplift.attribute(net, x, reference, torch.ones(1, 1, dtype=torch.float64, device=device), rules)
    m = 1 - math.tanh(1.25) ** 2
    assert c[0].tolist() == pytest.approx([6 * m, -1.5 * m], abs=1e-12)
    with_gamma = deeplift.composite(linear=deeplift.Linear(0.5), layers={nn.Tanh: TanhMidpoint()})
    c = deeplift.attribute(net, x, reference, torch.ones(1, 1, dtype=torch.float64, device=device), with_gamma)
    # γ = 0.5 scales the positive weights 2 and 3 by 1.5 in the backward pass only: w1 = (3, −1), w2 = 4.5
    assert c[0].tolist() == pytest.approx([1 * 3 * m * 4.5, 0.5 * -1 * m * 4.5], abs=1e-12)


def test_without_the_rule_tanh_is_named_as_unsupported():
    with pytest.raises(ValueError, match=r"1 \(Tanh\)"):
        deeplift.attribute(tanh_net("cpu"), torch.ones(1, 2, dtype=torch.float64),
                           torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64))
