"""The windowed score of SSD targets equals the full forward pass, for every source and border."""
import random

import pytest
import torch

import perturb
import ssd


def _targets(config, n, seed):
    rng = random.Random(seed)
    priors = len(ssd.priors(config))
    picked = [ssd.Target(rng.randrange(priors), rng.randrange(1, config.num_classes))  # not the background
              for _ in range(n)]
    a, f = config.boxes_per_location[0], config.feature_maps[0]
    corners = [0, (f - 1) * a, (f * (f - 1)) * a, f * f * a - 1]             # the four corners of source 0
    return picked + [ssd.Target(p, 1) for p in corners]


@pytest.mark.parametrize("preset, size", [(ssd.SHAPES_SSD512, 512), (ssd.TORCHVISION_SSD300, 300)])
def test_every_target_alone_and_all_together_equal_the_full_model(preset, size, device):
    torch.manual_seed(0)
    model = ssd.SSD(preset.replace(width=1 / 32)).to(device).eval()
    x = torch.randn(2, 3, size, size, device=device)
    targets = _targets(model.config, 12, seed=size)
    with torch.no_grad():
        for kind in ("logit", "probability"):
            full = ssd.score(model(x)[0], targets, kind)
            for t, target in enumerate(targets if kind == "logit" else []):
                alone = perturb.WindowedScore(model, [target], kind)
                torch.testing.assert_close(alone(x), full[:, t:t + 1], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(perturb.ssd_score(model, targets, kind)(x), full, rtol=1e-5, atol=1e-5)


def test_box_and_contrast_targets_windowed_equal_the_full_model(device):
    """Box outputs come from the box head of the same source at the same location, contrasts from two
    logits of the class head: alone, mixed with class targets and in both score kinds, the windowed
    score equals ssd.score of the full model's (logits, deltas)."""
    torch.manual_seed(0)
    model = ssd.SSD(ssd.SHAPES_SSD512.replace(width=1 / 32)).to(device).eval()
    x = torch.randn(2, 3, 512, 512, device=device)
    rng = random.Random(7)
    priors = len(ssd.priors(model.config))
    corner = model.config.feature_maps[0] ** 2 * model.config.boxes_per_location[0] - 1     # source 0's last
    targets = [ssd.BoxTarget(rng.randrange(priors), c) for c in ssd.COORDINATES] + [
        ssd.ContrastTarget(rng.randrange(priors), 3, 5), ssd.ContrastTarget(corner, 0, 6), ssd.BoxTarget(corner, "w"),
        ssd.Target(rng.randrange(priors), 2)]
    with torch.no_grad():
        for kind in ("logit", "probability"):
            full = ssd.score(model(x), targets, kind)
            torch.testing.assert_close(perturb.ssd_score(model, targets, kind)(x), full, rtol=1e-5, atol=1e-5)
            for t in (0, 4, 5, 6):
                alone = perturb.WindowedScore(model, [targets[t]], kind)
                assert alone.groups is not None or t < 5                        # source 0: a window, not the model
                torch.testing.assert_close(alone(x), full[:, t:t + 1], rtol=1e-5, atol=1e-5)


def test_a_conv4_3_target_runs_the_first_block_on_a_small_window():
    model = ssd.SSD(ssd.SHAPES_SSD512.replace(width=1 / 32)).eval()
    a = model.config.boxes_per_location[0]
    target = ssd.Target((30 * 64 + 30) * a, 2)                                # source 0, centre
    score = perturb.WindowedScore(model, [target])
    (group,) = score.groups
    r0, r1, c0, c1 = group.window
    rf = perturb.ssd_receptive_fields(model, [target])[0]
    rows, cols = torch.nonzero(rf.any(1)).flatten(), torch.nonzero(rf.any(0)).flatten()
    assert group.depth == 0                                                   # conv1_1 … conv4_3 only
    assert r0 <= rows[0] and rows[-1] < r1 and c0 <= cols[0] and cols[-1] < c1   # holds the field
    assert r0 % 8 == 0 and r1 % 8 == 0 and c0 % 8 == 0 and c1 % 8 == 0      # on the stride grid
    assert (r1 - r0) * (c1 - c0) < 0.1 * 512 * 512
    assert perturb.WindowedScore(model, [target], windowed=False).groups is None


def test_wrong_input_size_and_kind_are_errors():
    model = ssd.SSD(ssd.SHAPES_SSD512.replace(width=1 / 32)).eval()
    with pytest.raises(ValueError, match=r"\[N,3,512,512\].*configured size 512.*\(1, 3, 256, 256\)"):
        perturb.ssd_score(model, [ssd.Target(0, 1)])(torch.zeros(1, 3, 256, 256))
    with pytest.raises(ValueError, match="score kind"):
        perturb.WindowedScore(model, [ssd.Target(0, 1)], kind="softmax")
