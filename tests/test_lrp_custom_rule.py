"""A new rule written outside the package (the README's "Writing your own rule") plugs straight in."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lrp


class AlphaOneBetaZero(lrp.Rule):
    """α1β0: R_j = Σ_k (a_j w_jk)⁺ / Σ_i (a_i w_ik)⁺ · R_k  (biases ignored)."""

    def forward(self, module, a, z):
        w, _ = lrp.parameters(module)
        return (lrp.affine(module, a.clamp(min=0), w.clamp(min=0))      # a⁺w⁺ ...
                + lrp.affine(module, a.clamp(max=0), w.clamp(max=0)))   # ... + a⁻w⁻ = (aw)⁺


class WSquare(lrp.Rule):
    """w²-rule: R_j = Σ_k w_jk² / Σ_i w_ik² · R_k  (only for the layer that sees the input)."""

    def __call__(self, module, a, z, unit=None):
        if unit is None:
            raise ValueError("WSquare applies only to the layer that sees the model input")
        w, _ = lrp.parameters(module)
        return lrp.redistribute(z, lrp.affine(module, unit, w * w))


def test_alpha_one_beta_zero_on_a_linear_layer_matches_its_formula(device):
    torch.manual_seed(5)
    layer = nn.Linear(6, 4).double().to(device)
    x = torch.randn(3, 6, dtype=torch.float64, device=device)          # both signs
    seed = torch.randn(3, 4, dtype=torch.float64, device=device)
    got = lrp.attribute(layer, x, seed, lambda name, m: AlphaOneBetaZero())
    contrib = (x[:, None, :] * layer.weight[None]).clamp(min=0)        # [N,k,j] = (a_j w_jk)⁺
    expected = (contrib / (contrib.sum(2, keepdim=True) + 1e-6) * seed[:, :, None]).sum(1)
    torch.testing.assert_close(got, expected.detach(), rtol=1e-10, atol=1e-12)


def test_w_square_on_a_conv_input_layer_matches_its_formula(device):
    torch.manual_seed(6)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 1, 5)).double().to(device)
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, device=device)
    seed = net(x).detach()                                           # [1,1,1,1]
    rules = lambda name, m: WSquare() if name == "0" else (AlphaOneBetaZero() if name == "2" else None)
    got = lrp.attribute(net, x, seed, rules)
    # relevance of the hidden layer by α1β0 (the 5×5 conv sees the whole 3×5×5 map), then w²
    with torch.no_grad():
        h = net[1](net[0](x))
        c = (h[0] * net[2].weight[0]).clamp(min=0)                       # [3,5,5]
        r_hidden = c / (c.sum() + 1e-6) * seed.flatten()
        cols = F.unfold(torch.ones_like(x), 3, padding=1)[0]            # [2·9, 25] 1 where not padding
        w2 = (net[0].weight ** 2).flatten(1)                            # [3, 18]
        per_out = w2[:, :, None] * cols[None]                           # [k, (c,kh,kw), position]
        share = per_out / per_out.sum(1, keepdim=True) * r_hidden.flatten(1)[:, None, :]
        expected = F.fold(share.sum(0)[None], (5, 5), 3, padding=1)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="sees the model input"):
        lrp.attribute(net, x, seed, lambda name, m: WSquare() if name == "2" else None)
    assert all(not m._forward_hooks for m in net.modules())     # removed although the forward raised
