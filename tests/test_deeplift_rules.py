"""DeepLIFT on toy networks: values worked out by hand, summation-to-delta, batched == one by one."""
import pytest
import torch
from torch import nn

import deeplift
from ssd.l2norm import L2Norm


def rules(rule="rescale", gamma=0.0, first=None, maxpool="gradient"):
    """The composite of the paper's options, as deeplift.explain builds it (ℓ2-Norm included)."""
    return deeplift.composite(linear=deeplift.Linear(gamma),
                              relu=deeplift.RevealCancel() if rule == "revealcancel" else deeplift.Rescale(),
                              first=deeplift.Flat() if first == "flat" else None,
                              maxpool=deeplift.MaxPoolRescale() if maxpool == "rescale" else deeplift.Gradient(),
                              layers={L2Norm: deeplift.L2NormRescale()})


def set_linear(layer, weight, bias=None):
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=layer.weight.dtype))
        if layer.bias is not None:
            layer.bias.copy_(torch.tensor(bias if bias is not None else [0.0] * layer.out_features))
    return layer


def t(values, device):
    return torch.tensor(values, dtype=torch.float64, device=device)


# --- hand-computed cases --------------------------------------------------------------------

def test_rescale_one_neuron_chain(device):
    """y = 3·relu(2x − 1), x = 2, reference 0: pre-activation 3 vs −1, ReLU output 3 vs 0,
    Rescale m = (3 − 0)/(3 − (−1)) = 3/4, C = Δx·2·(3/4)·3 = 2·4.5 = 9 = Δy (the gradient
    would give Δx·2·1·3 = 12)."""
    net = nn.Sequential(set_linear(nn.Linear(1, 1), [[2.0]], [-1.0]), nn.ReLU(),
                        set_linear(nn.Linear(1, 1), [[3.0]], [0.0])).double().to(device)
    c = deeplift.attribute(net, t([[2.0]], device), t([[0.0]], device), t([[1.0]], device))
    assert c.item() == pytest.approx(9.0, abs=1e-12)


def test_rescale_falls_back_to_gradient_without_nan(device):
    """x = reference: every Δ is 0, the quotient 0/0 is replaced by the gradient; C = 0, no NaN."""
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double().to(device)
    x = t([[0.5, -1.0, 2.0]], device)
    c = deeplift.attribute(net, x, x.clone(), t([[1.0, -1.0]], device))
    assert torch.equal(c, torch.zeros_like(c))


class MinNetwork(nn.Module):
    """o = min(i1, i2) = i1 − relu(i1 − i2) (Shrikumar et al. 2017, fig. 3)."""

    def __init__(self):
        super().__init__()
        self.diff = set_linear(nn.Linear(2, 1, bias=False), [[1.0, -1.0]])
        self.relu = nn.ReLU()
        self.out = set_linear(nn.Linear(3, 1, bias=False), [[1.0, 0.0, -1.0]])

    def forward(self, x):
        return self.out(torch.cat([x, self.relu(self.diff(x))], dim=1))


@pytest.mark.parametrize("inputs, rescale, revealcancel", [
    # i = (3, 1), reference 0. Rescale: h = relu(2), m = 1, C_h = (3, −1), C_o = (3 − 3, 0 + 1) = (0, 1).
    # RevealCancel: Δx⁺ = 3, Δx⁻ = −1; Δh⁺ = ½(3 − 0) + ½(2 − 0) = 5/2, Δh⁻ = ½(0 − 0) + ½(2 − 3) = −½;
    #   m⁺ = 5/6, m⁻ = ½; C_h = (5/2, −½);  C_o = (3 − 5/2, ½) = (½, ½), the Shapley values of min.
    ((3.0, 1.0), (0.0, 1.0), (0.5, 0.5)),
    # i = (1, 3): h = relu(−2) = 0. Rescale: m = 0, C_o = (1, 0).
    # RevealCancel: Δx⁺ = 1, Δx⁻ = −3; Δh⁺ = ½(1 − 0) + ½(0 − 0) = ½, Δh⁻ = ½(0 − 0) + ½(0 − 1) = −½;
    #   C_h = (½, −½);  C_o = (1 − ½, ½) = (½, ½).
    ((1.0, 3.0), (1.0, 0.0), (0.5, 0.5)),
])
def test_rescale_and_revealcancel_on_min(device, inputs, rescale, revealcancel):
    net = MinNetwork().double().to(device)
    x, ref, seed = t([inputs], device), t([[0.0, 0.0]], device), t([[1.0]], device)
    c_rescale = deeplift.attribute(net, x, ref, seed, rules(rule="rescale"))
    c_reveal = deeplift.attribute(net, x, ref, seed, rules(rule="revealcancel"))
    assert c_rescale[0].tolist() == pytest.approx(list(rescale), abs=1e-12)
    assert c_reveal[0].tolist() == pytest.approx(list(revealcancel), abs=1e-12)


def test_linear_network_gives_weight_times_difference(device):
    """A purely linear network: C = w ⊙ (x − reference) exactly; reference = x gives 0."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 1)).double().to(device)
    x, ref = torch.randn(1, 3, 2, 2, dtype=torch.float64, device=device), torch.randn(1, 3, 2, 2, dtype=torch.float64, device=device)
    seed = t([[1.0]], device)
    expected = net[1].weight.detach().view(1, 3, 2, 2) * (x - ref)
    assert torch.allclose(deeplift.attribute(net, x, ref, seed), expected, rtol=0, atol=1e-14)
    assert torch.equal(deeplift.attribute(net, x, x.clone(), seed), torch.zeros_like(x))


@pytest.mark.parametrize("layer", ["linear", "conv"])
def test_gamma_scales_exactly_the_positive_weights(device, layer):
    """One layer: C = (w + γ·w⁺) ⊙ Δx, i.e. (1+γ)w where w > 0 and w unchanged where w ≤ 0."""
    gamma = 0.25
    w = t([[1.5, -2.0, 0.0, 0.5]], device)
    if layer == "linear":
        net = nn.Linear(4, 1).double().to(device)
        set_linear(net, w.tolist(), [0.7])
        x, ref = t([[1.0, 2.0, 3.0, -1.0]], device), t([[0.5, -1.0, 1.0, 1.0]], device)
    else:
        net = nn.Conv2d(4, 1, 1).double().to(device)
        set_linear(net, w.view(1, 4, 1, 1).tolist(), [0.7])
        x, ref = t([[1.0, 2.0, 3.0, -1.0]], device).view(1, 4, 1, 1), t([[0.5, -1.0, 1.0, 1.0]], device).view(1, 4, 1, 1)
    c = deeplift.attribute(net, x, ref, torch.ones_like(net(x)), rules(gamma=gamma))
    expected = torch.where(w > 0, (1 + gamma) * w, w).view_as(x) * (x - ref)
    assert torch.allclose(c, expected, rtol=0, atol=1e-14)


def test_gamma_keeps_forward_values(device):
    """y = 3·relu(2·x1 − x2), x = (1, 1), reference (0, 1.5), γ = 0.1. The ReLU's Rescale
    multiplier uses the true pre-activations 1 and −1.5: m = 1/2.5 = 0.4 (with γ-scaled values
    it would be 1.2/2.7). C = Δx ⊙ (w1_γ · m · w2_γ) = (1, −0.5) ⊙ ((2.2, −1) · 0.4 · 3.3)
    = (2.904, 0.66)."""
    net = nn.Sequential(set_linear(nn.Linear(2, 1), [[2.0, -1.0]], [0.0]), nn.ReLU(),
                        set_linear(nn.Linear(1, 1), [[3.0]], [0.0])).double().to(device)
    c = deeplift.attribute(net, t([[1.0, 1.0]], device), t([[0.0, 1.5]], device), t([[1.0]], device), rules(gamma=0.1))
    assert c[0].tolist() == pytest.approx([2.904, 0.66], abs=1e-12)


def test_l2norm_rescale_two_channels(device):
    """ℓ2-Norm with α = (2, 3): x = (3, 4) -> y = (1.2, 2.4); reference (1, 0) -> y0 = (2, 0).
    Δx = (2, 4), Δy = (−0.8, 2.4), Rescale m = Δy/Δx = (−0.4, 0.6), C = m ⊙ Δx = (−0.8, 2.4)."""
    norm = L2Norm(2).double().to(device)
    with torch.no_grad():
        norm.weight.copy_(t([2.0, 3.0], device))
    net = nn.Sequential(norm)
    x, ref = t([3.0, 4.0], device).view(1, 2, 1, 1), t([1.0, 0.0], device).view(1, 2, 1, 1)
    c = deeplift.attribute(net, x, ref, torch.ones_like(x), rules())
    assert c.flatten().tolist() == pytest.approx([-0.8, 2.4], abs=1e-9)


def test_l2norm_falls_back_to_its_gradient(device):
    """A 1×1 conv W = [[1, 1], [0, 1]] before the ℓ2-Norm, input (1, 2), reference (2, 1):
    the norm's input is (3, 2) vs (3, 1), so Δ of channel 0 is 0 and its multiplier is the
    layer's own gradient (Jᵀg)_0 while channel 1 uses Rescale Δy_1/Δx_1."""
    conv = set_linear(nn.Conv2d(2, 2, 1), [[[[1.0]], [[1.0]]], [[[0.0]], [[1.0]]]], [0.0, 0.0]).double().to(device)
    norm = L2Norm(2, scale=2.0).double().to(device)
    net = nn.Sequential(conv, norm)
    x, ref = t([1.0, 2.0], device).view(1, 2, 1, 1), t([2.0, 1.0], device).view(1, 2, 1, 1)
    seed = t([1.0, -2.0], device).view(1, 2, 1, 1)
    c = deeplift.attribute(net, x, ref, seed, rules()).flatten()
    h, h0 = t([3.0, 2.0], device), t([3.0, 1.0], device)
    y = lambda v: 2.0 * v / (v.norm() + 1e-10)
    jacobian = torch.autograd.functional.jacobian(y, h)                  # [2,2], independent reference
    g = seed.flatten()
    m_h = torch.stack([(jacobian.T @ g)[0], g[1] * (y(h) - y(h0))[1] / (h - h0)[1]])
    expected = (conv.weight.detach().view(2, 2).T @ m_h) * (x - ref).flatten()
    assert torch.allclose(c, expected, rtol=1e-12, atol=1e-12)


def test_flat_first_layer_spreads_evenly_over_the_field(device):
    """♭ rule on a single 3×3 conv (2 input channels, padding 1) over a 3×3 image, seed at the
    corner output (0, 0): its field inside the image is 2 channels × 2×2 pixels = 8 inputs, each
    gets C = Δz/8, where Δz = the conv's output difference; all other inputs get 0."""
    net = nn.Conv2d(2, 1, 3, padding=1).double().to(device)
    x, ref = torch.randn(1, 2, 3, 3, dtype=torch.float64, device=device), torch.zeros(1, 2, 3, 3, dtype=torch.float64, device=device)
    seed = torch.zeros(1, 1, 3, 3, dtype=torch.float64, device=device)
    seed[0, 0, 0, 0] = 1.0
    c = deeplift.attribute(net, x, ref, seed, rules(first="flat"))
    dz = (net(x) - net(ref))[0, 0, 0, 0].item()
    expected = torch.zeros_like(x)
    expected[0, :, :2, :2] = dz / 8
    assert torch.allclose(c, expected, rtol=0, atol=1e-14)


def test_maxpool_rescale_credits_the_winning_maxima(device):
    """Windows of 2: x = (1, 3 | 2, 0 | 1, 0), reference (2, 0 | 0, 1 | 0, 4), y = (3, 2, 1),
    y0 = (2, 1, 4). Windows 1, 2: the input wins, Δy = 1 goes to the input's maximum.
    Window 3: the reference wins, Δy = 1 − 4 = −3 goes to the reference's maximum (multiplier
    −3/(0 − 4) = 0.75). C = (0, 1, 1, 0, 0, −3), Σ C = Δy. The gradient rule would give
    (0, 3, 2, 0, 1, 0), Σ = 6."""
    net = nn.MaxPool2d((1, 2))
    x, ref = t([1.0, 3, 2, 0, 1, 0], device).view(1, 1, 1, 6), t([2.0, 0, 0, 1, 0, 4], device).view(1, 1, 1, 6)
    seed = torch.ones(1, 1, 1, 3, dtype=torch.float64, device=device)
    assert deeplift.attribute(net, x, ref, seed, rules(maxpool="rescale")).flatten().tolist() == [0, 1, 1, 0, 0, -3]
    assert deeplift.attribute(net, x, ref, seed).flatten().tolist() == [0, 3, 2, 0, 1, 0]


# --- summation-to-delta on random networks ---------------------------------------------------

class RandomNet(nn.Module):
    """conv-ReLU-conv(stride 2)-ReLU-ℓ2Norm-maxpool(3, s1)-avgpool-conv-ReLU-flatten-linear-ReLU-linear."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2, padding=1),
                                  nn.ReLU(inplace=True))
        self.norm = L2Norm(8, scale=3.0)
        self.head = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), nn.AvgPool2d(2), nn.Conv2d(8, 8, 3, padding=2, dilation=2), nn.ReLU(),
                                  nn.Flatten(), nn.Linear(8 * 4 * 4, 12), nn.ReLU(), nn.Linear(12, 5))

    def forward(self, x):
        return self.head(self.norm(self.body(x)))


@pytest.mark.parametrize("rule", ["rescale", "revealcancel"])
@pytest.mark.parametrize("first", [None, "flat"])
@pytest.mark.parametrize("seed_value", [0, 1, 2])
def test_summation_to_delta(device, rule, first, seed_value):
    """Σ C[n] = Σ seed[n] ⊙ (f(x)[n] − f(reference)[n]) to 1e-8 relative, in float64
    (max-pooling with the conserving rule)."""
    torch.manual_seed(seed_value)
    net = RandomNet().double().to(device).eval()
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64, device=device)
    ref = torch.randn(1, 3, 16, 16, dtype=torch.float64, device=device)
    seed = torch.randn(3, 5, dtype=torch.float64, device=device)
    c = deeplift.attribute(net, x, ref, seed, rules(rule=rule, first=first, maxpool="rescale"))
    assert c.shape == x.shape
    delta = (seed * (net(x) - net(ref))).sum(dim=1).detach()
    assert torch.allclose(c.sum(dim=(1, 2, 3)), delta, rtol=1e-8, atol=1e-12)
    assert net.body[3].inplace   # restored after the attribution


@pytest.mark.parametrize("rule", ["rescale", "revealcancel"])
def test_batched_seeds_equal_one_by_one(device, rule):
    """K seeds from one forward pass, as a loop and as one vmapped backward pass, == K separate
    attributions (γ, ♭, max-pool rule)."""
    net = RandomNet().double().to(device).eval()
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64, device=device)
    ref = torch.randn(1, 3, 16, 16, dtype=torch.float64, device=device)
    seeds = torch.randn(4, 1, 5, dtype=torch.float64, device=device)
    kw = rules(gamma=0.1, first="flat", rule=rule, maxpool="rescale")
    one_by_one = torch.stack([deeplift.attribute(net, x, ref, s, kw) for s in seeds])
    for backward in ("loop", "vmap"):
        batched = deeplift.attribute(net, x, ref, seeds, kw, batched=True, backward=backward)
        assert torch.allclose(batched, one_by_one, rtol=1e-10, atol=1e-14)


# --- errors -----------------------------------------------------------------------------------

def test_unsupported_module_is_named():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())
    with pytest.raises(ValueError, match=r"1 \(Sigmoid\)"):
        deeplift.attribute(net, torch.ones(1, 2), torch.zeros(1, 2), torch.ones(1, 2))


@pytest.mark.parametrize("kwargs, message", [
    (dict(reference=torch.zeros(2, 3)), "reference shape"),
    (dict(seed=torch.ones(1, 3)), "seed shape"),
    (dict(seed=(torch.ones(1, 2), None)), "returns 1 outputs but 2 seeds"),
    (dict(x=torch.tensor([[float("nan"), 1.0, float("inf")]])), "x has 1 NaN and 1 ±inf values"),
    (dict(reference=torch.tensor([[0.0, float("nan"), 0.0]])), "reference has 1 NaN and 0 ±inf"),
    (dict(backward="scan"), "unknown backward mode"),
])
def test_bad_arguments(kwargs, message):
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    args = dict(x=torch.ones(1, 3), reference=torch.zeros(1, 3), seed=torch.ones(1, 2)) | kwargs
    with pytest.raises(ValueError, match=message):
        deeplift.attribute(net, **args)


@pytest.mark.parametrize("make, message", [
    (lambda: deeplift.Linear(-1.0), "gamma must be a finite number >= 0"),
    (lambda: deeplift.Linear(float("nan")), "gamma must be a finite number"),
    (lambda: deeplift.Linear(float("inf")), "gamma must be a finite number"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_revealcancel_needs_a_linear_layer_before_each_relu():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2, 1))
    with pytest.raises(ValueError, match="revealcancel"):
        deeplift.attribute(net, torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), torch.ones(1, 1),
                           rules(rule="revealcancel"))


class Doubling(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        return self.conv(2 * x)


def test_flat_needs_the_first_layer_to_read_the_input():
    with pytest.raises(ValueError, match="read the model input directly"):
        deeplift.attribute(Doubling(), torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 2, 2), rules(first="flat"))
