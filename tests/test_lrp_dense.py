"""`lrp.attribute` against an independent dense implementation of the rules.

Each Conv2d / Linear / AvgPool2d is unfolded into its matrix M [out,in] (by applying it to the basis
vectors), and eqs. A.1–A.3 and ♭ are applied literally as matrix formulas:
    contributions C[k,j] (rule-specific, e.g. M[k,j]·a_j),  den_k = Σ_j C[k,j] + ρ(b_k) ± ε,
    R_j = Σ_k C[k,j] / den_k · R_k.
ReLU passes relevance unchanged, max-pooling hands it to the argmax, flatten reshapes.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lrp


def unfold(layer, in_shape):
    """Matrix [out,in] and bias [out] of a linear layer acting on one sample of shape in_shape."""
    n = torch.Size(in_shape).numel()
    basis = torch.eye(n, dtype=torch.float64).view(n, *in_shape)
    if isinstance(layer, nn.Conv2d):
        out = F.conv2d(basis, layer.weight.detach(), None, layer.stride, layer.padding, layer.dilation)
        bias = layer.bias.detach().repeat_interleave(out[0, 0].numel()) if layer.bias is not None else None
    elif isinstance(layer, nn.Linear):
        out = F.linear(basis, layer.weight.detach())
        bias = layer.bias.detach() if layer.bias is not None else None
    else:  # AvgPool2d
        out = layer(basis)
        bias = None
    matrix = out.reshape(n, -1).T
    return matrix, (torch.zeros(matrix.shape[0], dtype=torch.float64) if bias is None else bias)


def field(layer, in_shape):
    """0/1 matrix: which inputs lie in the receptive field of each output (zero padding excluded)."""
    ones = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                     layer.dilation, bias=False).double() if isinstance(layer, nn.Conv2d) else \
        nn.Linear(layer.in_features, layer.out_features, bias=False).double()
    with torch.no_grad():
        ones.weight.fill_(1.0)
    return (unfold(ones, in_shape)[0] > 0).double()


def dense_rule(rule, layer, a, in_shape):
    """(C [out,in], ρ(b) [out], ε) of one layer for the activation vector a [in]."""
    M, b = unfold(layer, in_shape)
    def pos(t):
        return t.clamp(min=0)
    if isinstance(rule, lrp.Flat):
        return field(layer, in_shape), torch.zeros_like(b), 0.0
    if isinstance(rule, lrp.Gamma):          # A.2, positive contributions amplified
        C = M * a + rule.gamma * pos(M * a)
        return C, b + rule.gamma * pos(b), rule.epsilon
    if isinstance(rule, lrp.ZPlus):          # A.3
        return pos(M * a), pos(b), rule.epsilon
    if isinstance(rule, lrp.Epsilon):        # A.1
        return M * a, b, rule.epsilon
    raise AssertionError(rule)


def dense_lrp(net, x, seed, rule, first):
    """Relevance [in] of one sample x [C,H,W] for seed [out] through a Sequential, layer by layer."""
    with torch.no_grad():
        return _dense_lrp(net, x, seed, rule, first)


def _dense_lrp(net, x, seed, rule, first):
    activations, a = [], x
    for layer in net:
        activations.append(a)
        a = layer(a.unsqueeze(0))[0]
    R = seed.flatten()
    for i in reversed(range(len(net))):
        layer, a = net[i], activations[i]
        if isinstance(layer, (nn.Conv2d, nn.Linear, nn.AvgPool2d)):
            if isinstance(layer, nn.AvgPool2d):
                C, rb, eps = unfold(layer, a.shape)[0] * a.flatten(), 0.0, 0.0   # LRP-0 (own gradient)
            else:
                C, rb, eps = dense_rule(first if (i == 0 and first) else rule, layer, a.flatten(), a.shape)
            den = C.sum(1) + rb
            den = den + eps * torch.where(den >= 0, 1.0, -1.0).double()
            R = (C / torch.where(den == 0, torch.inf, den)[:, None] * R[:, None]).sum(0)
        elif isinstance(layer, nn.MaxPool2d):
            out, idx = F.max_pool2d(a.unsqueeze(0), layer.kernel_size, layer.stride, layer.padding,
                                    return_indices=True)
            Rin = torch.zeros_like(a).flatten(1)
            Rin.scatter_add_(1, idx[0].flatten(1), R.view(out.shape[1], -1))
            R = Rin.flatten()
        # ReLU and Flatten: relevance unchanged
    return R.view(x.shape)


def conv_network():
    """Random conv/ReLU/max-pool/avg-pool/linear network with activations of order 1."""
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=2, dilation=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(5, 6, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * (0.1 if p.dim() == 1 else 0.5))
    return net


RULES = {"epsilon": lrp.Epsilon(0.01), "gamma": lrp.Gamma(0.25), "zplus": lrp.ZPlus(), "lrp0": lrp.Epsilon(0.0)}


@pytest.mark.parametrize("first", [None, "flat"])
@pytest.mark.parametrize("name", sorted(RULES))
def test_attribute_equals_dense_matrix_formulas(name, first, device):
    torch.manual_seed(1)
    net = conv_network()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)        # inputs of both signs at the first layer
    seed = torch.randn(2, 3, dtype=torch.float64)
    rule, first_rule = RULES[name], (lrp.Flat() if first else None)
    expected = torch.stack([dense_lrp(net, x[n], seed[n], rule, first_rule) for n in range(2)])
    got = lrp.attribute(net.to(device), x.to(device), seed.to(device),
                        lrp.composite(conv=rule, linear=rule, first=first_rule))
    assert got.device.type == device.type
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-8, atol=1e-8)
    assert expected.abs().sum() > 1e-2                       # a real comparison, not zeros


def test_non_negative_input_takes_the_single_forward_path(device):
    """With x ≥ 0 the γ and z⁺ rules use one modified forward (w + γw⁺, w⁺): same result."""
    torch.manual_seed(2)
    net = conv_network()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    seed = torch.randn(1, 3, dtype=torch.float64)
    for rule in (lrp.Gamma(0.5), lrp.ZPlus()):
        expected = dense_lrp(net, x[0], seed[0], rule, None)
        got = lrp.attribute(net.to(device), x.to(device), seed.to(device), lrp.composite(conv=rule, linear=rule))
        torch.testing.assert_close(got[0].cpu(), expected, rtol=1e-8, atol=1e-8)
        assert expected.abs().max() > 1e-2
        net.cpu()
