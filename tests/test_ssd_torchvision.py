"""Our SSD300 configuration against torchvision's ssd300_vgg16, an implementation no one here wrote."""
import numpy as np
import pytest
import torch

import ssd
from ssd.load import convert, load_state


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from torchvision.models.detection import ssd300_vgg16

    torch.manual_seed(1)
    theirs = ssd300_vgg16(weights=None, weights_backbone=None).eval()
    # make the random ℓ2-Norm scale and biases non-trivial so that every tensor matters
    with torch.no_grad():
        theirs.backbone.scale_weight.uniform_(5, 30)
        for m in theirs.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.1, 0.1)
    path = tmp_path_factory.mktemp("tv") / "ssd300_vgg16.pth"
    torch.save(theirs.state_dict(), path)
    return theirs, ssd.load(path)


def _images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (300, 300, 3), dtype=np.uint8) for _ in range(2)]


def test_layout_detected_as_torchvision_ssd300(pair):
    _, ours = pair
    assert ours.config.size == 300 and ours.config.num_classes == 91 and ours.config.width == 1.0
    assert len(ssd.priors(ours.config)) == 8732


def test_raw_outputs_equal_torchvision(pair):
    theirs, ours = pair
    images = [torch.from_numpy(i).permute(2, 0, 1).float() / 255 for i in _images()]
    with torch.no_grad():
        batch, _ = theirs.transform(images)
        head = theirs.head(list(theirs.backbone(batch.tensors).values()))
        logits, deltas = ours(batch.tensors)
    # torchvision's box coder weights (10, 10, 5, 5) are our variances (0.1, 0.2): same raw deltas
    torch.testing.assert_close(logits, head["cls_logits"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(deltas, head["bbox_regression"], rtol=1e-4, atol=1e-4)


def test_preprocessing_matches_torchvision_up_to_its_rounded_mean(pair):
    theirs, ours = pair
    images = _images()
    with torch.no_grad():
        batch, _ = theirs.transform([torch.from_numpy(i).permute(2, 0, 1).float() / 255 for i in images])
    # torchvision's mean is 0.48235·255 = 122.999… where ours is 123 (the same convention)
    torch.testing.assert_close(ssd.preprocess(images, ours.config), batch.tensors, rtol=0, atol=2e-3)


def test_detections_equal_torchvision(pair):
    theirs, ours = pair
    images = [torch.from_numpy(i).permute(2, 0, 1).float() / 255 for i in _images()]
    with torch.no_grad():
        batch, _ = theirs.transform(images)
        expected = theirs(images)
    for det, exp in zip(ssd.detect(ours, batch.tensors), expected):
        assert len(det) == len(exp["scores"]) > 0
        # random weights give near-equal scores of different classes, whose order float rounding
        # may swap: compare in the order (class, score)
        ours_order = torch.argsort(det.labels * 10 + det.scores.double())
        their_order = torch.argsort(exp["labels"] * 10 + exp["scores"].double())
        torch.testing.assert_close(det.scores[ours_order], exp["scores"][their_order], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(det.labels[ours_order], exp["labels"][their_order])
        torch.testing.assert_close(det.boxes[ours_order], exp["boxes"][their_order], rtol=1e-4, atol=1e-3)


def test_every_torchvision_tensor_lands_in_our_named_layer(pair):
    theirs, _ = pair
    sd = theirs.state_dict()
    config, converted = convert(dict(sd))
    model = ssd.SSD(config)
    load_state(model, converted)
    named = dict(model.named_parameters())
    torch.testing.assert_close(named["features.0.conv1_1.weight"], sd["backbone.features.0.weight"])
    torch.testing.assert_close(named["features.0.conv4_3.weight"], sd["backbone.features.21.weight"])
    torch.testing.assert_close(named["features.1.conv5_1.weight"], sd["backbone.extra.0.1.weight"])
    torch.testing.assert_close(named["features.1.fc6.weight"], sd["backbone.extra.0.7.1.weight"])
    torch.testing.assert_close(named["features.1.fc7.weight"], sd["backbone.extra.0.7.3.weight"])
    torch.testing.assert_close(named["features.5.conv9_2.weight"], sd["backbone.extra.4.2.weight"])
    torch.testing.assert_close(named["l2norm.weight"], sd["backbone.scale_weight"])
    torch.testing.assert_close(named["cls_heads.5.bias"], sd["head.classification_head.module_list.5.bias"])
