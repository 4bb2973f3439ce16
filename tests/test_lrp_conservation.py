"""Conservation (eq. 2.1): Σ input relevance = Σ output relevance, less what the biases absorb."""
import pytest
import torch
from torch import nn

import lrp

RULES = {"epsilon": lrp.Epsilon(0.0), "gamma": lrp.Gamma(0.25, epsilon=0.0), "zplus": lrp.ZPlus(epsilon=0.0)}


def random_(net, bias=0.1):
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * (bias if p.dim() == 1 else 0.5))
    return net


@pytest.mark.parametrize("first", [None, "flat"])
@pytest.mark.parametrize("name", sorted(RULES))
def test_bias_free_network_conserves_relevance(name, first, device):
    torch.manual_seed(3)
    net = random_(nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 10, bias=False), nn.ReLU(), nn.Linear(10, 4, bias=False),
    ).double()).to(device)
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64, device=device)
    seed = torch.randn(3, 4, dtype=torch.float64, device=device)
    rule = RULES[name]
    r = lrp.attribute(net, x, seed, lrp.composite(conv=rule, linear=rule,
                                                  first=lrp.Flat() if first else None))
    # per sample: row n of x is explained with row n of the seed
    torch.testing.assert_close(r.sum(dim=(1, 2, 3)), seed.sum(dim=1), rtol=1e-6, atol=0)


def bias_as_input(net: nn.Sequential) -> nn.Sequential:
    """The same MLP without biases: a constant input 1 is appended and carried through every layer
    (as a hidden unit of value 1); each bias becomes the weight on that unit. The relevance the
    constant input receives is exactly the relevance the biases of `net` absorb."""
    layers = []
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for m in net:
        if isinstance(m, nn.Linear):
            last = m is linears[-1]
            aug = nn.Linear(m.in_features + 1, m.out_features + (0 if last else 1), bias=False).double()
            with torch.no_grad():
                aug.weight.zero_()
                aug.weight[:m.out_features, :m.in_features] = m.weight
                aug.weight[:m.out_features, -1] = m.bias
                if not last:
                    aug.weight[-1, -1] = 1.0     # carries the constant to the next layer
            layers.append(aug)
        else:
            layers.append(m)
    return nn.Sequential(*layers)


@pytest.mark.parametrize("name", sorted(RULES))
def test_biases_absorb_exactly_the_missing_relevance(name, device):
    torch.manual_seed(4)
    net = random_(nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3)).double(),
                  bias=1.0)
    aug = bias_as_input(net).to(device)
    net = net.to(device)
    x = torch.randn(4, 5, dtype=torch.float64, device=device)
    x1 = torch.cat([x, torch.ones(4, 1, dtype=torch.float64, device=device)], dim=1)
    torch.testing.assert_close(aug(x1), net(x))
    seed = net(x).detach()
    rules = lrp.composite(linear=RULES[name])
    r, r1 = lrp.attribute(net, x, seed, rules), lrp.attribute(aug, x1, seed, rules)
    torch.testing.assert_close(r, r1[:, :5], rtol=1e-9, atol=1e-12)
    absorbed = r1[:, 5]
    assert absorbed.abs().min() > 1e-3                      # the biases do absorb relevance here
    torch.testing.assert_close(seed.sum(1) - r.sum(1), absorbed, rtol=1e-9, atol=1e-12)
