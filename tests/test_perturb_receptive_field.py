"""Receptive fields derived from the module tree are exact, and SHAP pruning with them changes no
value while saving forward passes."""
import pytest
import torch
from torch import nn

import perturb
import ssd

SIZE = (40, 37)


def small_net() -> nn.Sequential:
    """Conv (pad 1) → ReLU → max-pool 2×2 with ceil_mode → dilated conv (d 2, pad 2) → ReLU → strided
    conv (s 2, no pad) → ReLU → 3×3 head: the layer kinds on SSD's paths, on an odd-sized input."""
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2, ceil_mode=True),
                         nn.Conv2d(3, 3, 3, padding=2, dilation=2), nn.ReLU(), nn.Conv2d(3, 2, 3, stride=2),
                         nn.ReLU(), nn.Conv2d(2, 1, 3, padding=1)).double()


def test_receptive_field_equals_gradient_support_with_positive_weights():
    """With positive weights, biases and inputs every unit is active, so the gradient of an output
    position is nonzero exactly on the input pixels that influence it (a max-pool would pass the
    gradient to its window's maximum only, so an average pool of the same geometry stands in)."""
    net = small_net()
    net[2] = nn.AvgPool2d(2, 2, ceil_mode=True)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.abs() + 0.1)
    rows, cols = net(torch.zeros(1, 1, *SIZE, dtype=torch.float64)).shape[2:]
    positions = [(i, j) for i in range(rows) for j in range(cols)]
    # one copy of the input per output position: row n of the gradient belongs to position n
    x = (torch.rand(1, 1, *SIZE, dtype=torch.float64) + 0.5).expand(len(positions), -1, -1, -1).clone().requires_grad_()
    out = net(x)
    n = torch.arange(len(positions))
    grad, = torch.autograd.grad(out[n, 0, [i for i, _ in positions], [j for _, j in positions]].sum(), x)
    for (i, j), g in zip(positions, grad):
        assert torch.equal(g[0] != 0, perturb.receptive_field_mask(list(net), i, j, SIZE)), (i, j)


def test_max_pool_geometry_matches_average_pool():
    net = small_net()
    for i, j in [(0, 0), (1, 2), (8, 7)]:
        with_max = perturb.receptive_field(list(net), i, j, SIZE)
        net_avg = small_net()
        net_avg[2] = nn.AvgPool2d(2, 2, ceil_mode=True)
        assert with_max == perturb.receptive_field(list(net_avg), i, j, SIZE)
    with pytest.raises(ValueError, match="outside the output map"):
        perturb.receptive_field(list(net), 9, 0, SIZE)
    with pytest.raises(ValueError, match="unsupported layer"):
        perturb.receptive_field([nn.Linear(3, 3)], 0, 0, SIZE)


def test_ssd_receptive_field_by_hand():
    """Class logit at source 0 (conv4_3, stride 8): field 108 px = 92 (VGG16 conv4_3) + 2·8 (3×3
    head). Paddings seen from the input: conv1_x 1+1, conv2_x 2·(1+1), conv3_x 4·3, conv4_x 8·3,
    head 8 → 50, so location (i, j) sees rows 8i−50 … 8i+57, clipped to the image."""
    model = ssd.SSD(ssd.COCO_SSD512.replace(width=1 / 32))
    config = model.config
    a = config.boxes_per_location[0]
    at = lambda i, j: ssd.Target((i * config.feature_maps[0] + j) * a + 1, 1)
    rf = perturb.ssd_receptive_fields(model, [at(10, 20), at(0, 63)])
    assert perturb.receptive_field(perturb.ssd_layers(model, 0), 10, 20, (512, 512)) == (30, 137, 110, 217)
    expected = torch.zeros(2, 512, 512, dtype=torch.bool)
    expected[0, 30:138, 110:218] = True
    expected[1, 0:58, 8 * 63 - 50:512] = True
    assert torch.equal(rf, expected)
    # the last source (1×1) sees the whole image
    last = sum(f * f * a for f, a in zip(config.feature_maps, config.boxes_per_location)) - 1
    assert bool(perturb.ssd_receptive_fields(model, [ssd.Target(last, 2)]).all())


def test_ssd_gradient_stays_inside_receptive_field():
    model = ssd.SSD(ssd.COCO_SSD512.replace(width=1 / 32)).eval()
    targets = [ssd.Target(5 * 4 * 64 + 4 * 7 + 2, 3), ssd.Target(64 * 64 * 4 + (3 * 32 + 30) * 6, 1)]  # sources 0, 1
    rf = perturb.ssd_receptive_fields(model, targets)
    x = torch.randn(1, 3, 512, 512).expand(2, -1, -1, -1).clone().requires_grad_()
    scores = perturb.ssd_score(model, targets)(x)
    grad, = torch.autograd.grad(scores[0, 0] + scores[1, 1], x)                  # row t: target t
    for t in range(2):
        support = grad[t].abs().sum(0) != 0
        assert bool(support.any()) and not bool((support & ~rf[t]).any())
    assert rf[0].sum() < rf[1].sum()


def test_shap_pruning_is_exact_and_saves_passes(device):
    torch.manual_seed(3)
    net = small_net().to(device)
    out_positions = [(0, 0), (8, 8)]                                             # opposite corners
    f = lambda b: torch.stack([net(b)[:, 0, i, j] for i, j in out_positions], dim=1)
    rows = []

    def counting(batch):
        rows.append(len(batch))
        return f(batch)
    x = torch.randn(1, 1, *SIZE, dtype=torch.float64, device=device)
    rr, cc = torch.meshgrid(torch.arange(SIZE[0], device=device), torch.arange(SIZE[1], device=device), indexing="ij")
    segments = (rr // 5) * 8 + cc // 5                                               # 5×5 blocks, 64 superpixels
    rf = torch.stack([perturb.receptive_field_mask(list(net), i, j, SIZE, device) for i, j in out_positions])
    full = perturb.shap(counting, x, segments, n_permutations=3, seed=0)
    unpruned_passes = sum(rows)
    rows.clear()
    pruned = perturb.shap(counting, x, segments, n_permutations=3, seed=0, receptive_field=rf)
    assert unpruned_passes == 2 + 3 * 63 and sum(rows) < unpruned_passes
    torch.testing.assert_close(pruned, full, rtol=0, atol=1e-10)
    inside = perturb.inside_receptive_field(rf, segments, 64, 2)
    assert bool((~inside).any(dim=1).all())                                        # pruning has work to do
    assert torch.equal(pruned[~inside], torch.zeros_like(pruned[~inside]))         # exactly 0 outside
    # one pass is saved per superpixel outside every field, plus the last relevant step, per permutation
    assert sum(rows) == 2 + 3 * (int(inside.any(0).sum()) - 1)
    # a single [H,W] mask is shared by all targets
    union = perturb.shap(f, x, segments, n_permutations=3, seed=0, receptive_field=rf.any(0))
    torch.testing.assert_close(union, full, rtol=0, atol=1e-10)
