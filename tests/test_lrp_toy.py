"""LRP on a 2-2-1 ReLU network with small integer weights, every relevance worked out by hand."""
from fractions import Fraction as Fr

import pytest
import torch
from torch import nn

import lrp


def toy_network(device):
    """x = (1, 2);  hidden: z1 = x1 + x2 - 1 = 2,  z2 = 2·x1 - x2 + 1 = 1  (both active);
    output: y = 2·a1 - a2 + 1 = 4."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double().to(device)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 1.0], [2.0, -1.0]]))
        net[0].bias.copy_(torch.tensor([-1.0, 1.0]))
        net[2].weight.copy_(torch.tensor([[2.0, -1.0]]))
        net[2].bias.copy_(torch.tensor([1.0]))
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64, device=device)
    return net, x


def relevance(net, x, rules):
    y = net(x)
    assert y.item() == 4
    return lrp.attribute(net, x, y.detach(), rules)[0].tolist()   # seed R_y = y = 4


# ε-rule, ε = 1 (A.1; every z > 0 so +ε):
#   output: den = 4 + 1 = 5;  R_a1 = 2·2/5·4 = 16/5,  R_a2 = 1·(-1)/5·4 = -4/5
#   z1: den = 2 + 1 = 3;  contributions x1·1 = 1, x2·1 = 2  -> x1: 16/15,  x2: 32/15
#   z2: den = 1 + 1 = 2;  contributions x1·2 = 2, x2·(-1) = -2 -> x1: -4/5,  x2: 4/5
#   R_x1 = 16/15 - 4/5 = 4/15,  R_x2 = 32/15 + 4/5 = 44/15
#
# γ-rule, γ = 1/2, no stabiliser (A.2; w -> w + γw⁺, b -> b + γb⁺):
#   output: ρw = (3, -1), ρb = 3/2; den = 6 - 1 + 3/2 = 13/2;  R_a1 = 6/(13/2)·4 = 48/13,  R_a2 = -8/13
#   z1: ρw = (3/2, 3/2), ρb = -1; den = 3/2 + 3 - 1 = 7/2 -> x1: (3/2)/(7/2)·48/13 = 144/91,  x2: 288/91
#   z2: ρw = (3, -1), ρb = 3/2; den = 3 - 2 + 3/2 = 5/2  -> x1: 3/(5/2)·(-8/13) = -48/65,  x2: 32/65
#   R_x1 = 144/91 - 48/65 = 384/455,  R_x2 = 288/91 + 32/65 = 1664/455
#
# z⁺-rule, no stabiliser (A.3; only positive contributions, bias as b⁺):
#   output: (a·w)⁺ = (4, 0), b⁺ = 1; den = 5;  R_a1 = 4/5·4 = 16/5,  R_a2 = 0
#   z1: (x·w)⁺ = (1, 2), b⁺ = 0; den = 3 -> x1: 16/15,  x2: 32/15
#
# γ (1/2) above the first layer, ♭ in it: R_a1 = 48/13, R_a2 = -8/13 as for γ; ♭ gives each of the
#   two inputs of a hidden unit half of its relevance: R_x1 = R_x2 = (48/13 - 8/13)/2 = 20/13
EXPECTED = {
    "epsilon": (lrp.Epsilon(1.0), None, [Fr(4, 15), Fr(44, 15)]),
    "gamma": (lrp.Gamma(0.5, epsilon=0.0), None, [Fr(384, 455), Fr(1664, 455)]),
    "zplus": (lrp.ZPlus(epsilon=0.0), None, [Fr(16, 15), Fr(32, 15)]),
    "gamma+flat": (lrp.Gamma(0.5, epsilon=0.0), lrp.Flat(), [Fr(20, 13), Fr(20, 13)]),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_hand_computed_relevances(case, device):
    rule, first, expected = EXPECTED[case]
    net, x = toy_network(device)
    got = relevance(net, x, lrp.composite(linear=rule, first=first))
    assert got == pytest.approx([float(e) for e in expected], abs=1e-12)


def test_epsilon_takes_the_sign_of_a_negative_output(device):
    # y = -x1 - x2 = -2 at x = (1, 1); ε = 1 with the sign of z: den = -3,
    # R_j = (-1)/(-3)·(-2) = -2/3 for both inputs (a positive ε would give den = -1 and R_j = -2)
    net = nn.Linear(2, 1, bias=False).double().to(device)
    with torch.no_grad():
        net.weight.fill_(-1.0)
    x = torch.ones(1, 2, dtype=torch.float64, device=device)
    r = lrp.attribute(net, x, net(x).detach(), lambda name, m: lrp.Epsilon(1.0))
    assert r[0].tolist() == pytest.approx([-2 / 3, -2 / 3], abs=1e-12)


def test_no_rule_is_lrp0_and_zero_denominators_give_no_nan(device):
    net, x = toy_network(device)
    # no rule at all: the gradient gives LRP-0, i.e. the ε-rule with ε = 0
    assert relevance(net, x, lambda name, m: None) == pytest.approx(
        relevance(net, x, lrp.composite(linear=lrp.Epsilon(0.0))), abs=1e-12)
    # an output of exactly 0 with a rule whose denominator is 0: relevance 0, never NaN/inf
    with torch.no_grad():
        net[2].weight.zero_()
        net[2].bias.zero_()
    for rule in (lrp.Epsilon(0.0), lrp.Gamma(0.5, epsilon=0.0), lrp.ZPlus(epsilon=0.0)):
        r = lrp.attribute(net, x, torch.ones(1, 1, dtype=torch.float64, device=device),
                          lrp.composite(linear=rule))
        assert torch.equal(r, torch.zeros_like(r))


def test_redistribute_keeps_the_values_and_scales_the_gradient(device):
    """value z; gradient at the input ∂z_rule/∂a^T [z / (z_rule ± ε) · g], with ±0 → +ε."""
    a = torch.tensor([1.0, 2.0, -3.0, 0.5, 4.0], dtype=torch.float64, device=device, requires_grad=True)
    z = torch.tensor([2.0, -1.0, 3.0, 7.0, 0.0], dtype=torch.float64, device=device)
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64, device=device)
    g = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64, device=device)
    # z_rule = (2, 4, -6, 0, 8); ε = 0.5: denominators (2.5, 4.5, -6.5, 0.5, 8.5)
    out = lrp.redistribute(z, 2 * a * mask, 0.5)
    torch.testing.assert_close(out, z, rtol=1e-15, atol=0)
    (grad,) = torch.autograd.grad(out, a, g)
    expected = [2 * 2 / 2.5 * 1, 2 * -1 / 4.5 * 2, 2 * 3 / -6.5 * 3, 0.0, 0.0]
    assert grad.tolist() == pytest.approx(expected, abs=1e-14)
    # ε = 0: the zero denominator gives gradient 0 and keeps the value 7 exactly
    out = lrp.redistribute(z, 2 * a * mask, 0.0)
    assert out.tolist() == z.tolist()
    (grad,) = torch.autograd.grad(out, a, g)
    assert grad.tolist() == pytest.approx([2 * 2 / 2 * 1, 2 * -1 / 4 * 2, 2 * 3 / -6 * 3, 0.0, 0.0], abs=1e-14)
