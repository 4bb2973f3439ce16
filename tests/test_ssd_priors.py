"""Priors of the presets against numbers worked out by hand from ssd/ssd512.md and against torchvision."""
import math

import pytest
import torch

import ssd

# First location of every source layer of COCO SSD512, worked out by hand from ssd/ssd512.md:
# centre = 0.5·step/512; s = min/512, s' = sqrt(min·max)/512; (s√r, s/√r), (s/√r, s√r); clipped to 1.
# Source start indices: 0, 64²·4 = 16384, +32²·6 = 22528, +16²·6 = 24064, +8²·6 = 24448,
# +4²·6 = 24544, +2²·4 = 24560 (and +1·4 = 24564 priors in all).
FIRST_PRIORS = {
    0: (0.0078125, [(0.04, 0.04), (0.0632455532, 0.0632455532), (0.0565685425, 0.0282842712),
                    (0.0282842712, 0.0565685425)]),
    16384: (0.015625, [(0.1, 0.1), (0.1612451550, 0.1612451550), (0.1414213562, 0.0707106781),
                       (0.0707106781, 0.1414213562), (0.1732050808, 0.0577350269),
                       (0.0577350269, 0.1732050808)]),
    22528: (0.03125, [(0.26, 0.26), (0.3304542328, 0.3304542328), (0.3676955262, 0.1838477631),
                      (0.1838477631, 0.3676955262), (0.4503332099, 0.1501110700),
                      (0.1501110700, 0.4503332099)]),
    24064: (0.0625, [(0.42, 0.42), (0.4935585072, 0.4935585072), (0.5939696962, 0.2969848481),
                     (0.2969848481, 0.5939696962), (0.7274613392, 0.2424871131),
                     (0.2424871131, 0.7274613392)]),
    24448: (0.125, [(0.58, 0.58), (0.6551335741, 0.6551335741), (0.8202438662, 0.4101219331),
                    (0.4101219331, 0.8202438662), (1.0, 0.3348631562), (0.3348631562, 1.0)]),
    24544: (0.25, [(0.74, 0.74), (0.8160882305, 0.8160882305), (1.0, 0.5232590180),
                   (0.5232590180, 1.0)]),
    24560: (0.5, [(0.9, 0.9), (0.9767292358, 0.9767292358), (1.0, 0.6363961031), (0.6363961031, 1.0)]),
}


def test_coco_ssd512_prior_count_and_first_priors():
    p = ssd.priors(ssd.COCO_SSD512)
    assert p.shape == (24564, 4)
    for start, (c, wh) in FIRST_PRIORS.items():
        expected = torch.tensor([(c, c, w, h) for w, h in wh])
        torch.testing.assert_close(p[start:start + len(wh)], expected, rtol=0, atol=1e-6)
    # the second location of source 0 is one step to the right (columns inner)
    assert p[4, 0].item() == pytest.approx(1.5 * 8 / 512) and p[4, 1].item() == pytest.approx(0.5 * 8 / 512)


def test_feature_map_sizes_of_ssd512():
    model = ssd.SSD(ssd.COCO_SSD512.replace(width=1 / 32))
    with torch.no_grad():
        sizes = [s.shape[-1] for s in model.sources(torch.zeros(1, 3, 512, 512))]
    assert sizes == [64, 32, 16, 8, 4, 2, 1]
    logits, deltas = model(torch.zeros(1, 3, 512, 512))
    assert logits.shape == (1, 24564, 81) and deltas.shape == (1, 24564, 4)


def test_truncated_sizes_for_mmdetection():
    p = ssd.priors(ssd.MMDET_SSD512)
    assert p[0, 2].item() == pytest.approx(20 / 512)
    assert p[1, 2].item() == pytest.approx(math.sqrt(20 * 51) / 512)


def test_ssd300_priors_equal_torchvision_default_boxes():
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator

    gen = DefaultBoxGenerator([[2], [2, 3], [2, 3], [2, 3], [2], [2]],
                              scales=[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05], steps=[8, 16, 32, 64, 100, 300])
    theirs = gen._grid_default_boxes([[f, f] for f in (38, 19, 10, 5, 3, 1)], [300, 300])
    ours = ssd.priors(ssd.TORCHVISION_SSD300)
    assert ours.shape == (8732, 4)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_prior_location_inverts_the_order():
    cfg = ssd.COCO_SSD512
    assert ssd.prior_location(cfg, 0) == (0, 0, 0, 0)
    assert ssd.prior_location(cfg, 4 * 64 + 5) == (0, 1, 1, 1)
    assert ssd.prior_location(cfg, 24563) == (6, 0, 0, 3)
    with pytest.raises(ValueError, match="out of range"):
        ssd.prior_location(cfg, 24564)


def test_encode_decode_round_trip(device):
    pri = ssd.priors(ssd.COCO_SSD512, device)[:100]
    boxes = torch.rand(100, 4, device=device) * 0.4
    boxes[:, 2:] += boxes[:, :2] + 0.05
    torch.testing.assert_close(ssd.decode(ssd.encode(boxes, pri), pri), boxes, rtol=1e-5, atol=1e-6)
