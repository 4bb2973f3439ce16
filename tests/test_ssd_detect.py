"""Pre-processing, detection and targets of our SSD."""
import numpy as np
import pytest
import torch

import ssd


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = ssd.SSD(ssd.SHAPES_SSD512.replace(width=1 / 32)).eval()
    with torch.no_grad():  # a confident background-vs-class split so that detections exist
        for head in model.cls_heads:
            head.bias.normal_(0, 3)
    return model


def test_detect_returns_the_prior_whose_deltas_give_the_box(tiny, device):
    model = tiny.to(device)
    x = torch.randn(2, 3, 512, 512, device=device)
    dets = ssd.detect(model, x, score_threshold=0.2)
    logits, deltas = model(x)
    priors = ssd.priors(model.config, device)
    for n, det in enumerate(dets):
        assert len(det) > 0 and det.boxes.device.type == device.type
        expected = ssd.decode(deltas[n, det.priors], priors[det.priors]).clamp(0, 1) * 512
        torch.testing.assert_close(det.boxes, expected)
        probs = torch.softmax(logits[n, det.priors], dim=-1)
        torch.testing.assert_close(det.scores, probs[torch.arange(len(det)), det.labels])
        assert (det.labels > 0).all() and (det.scores > 0.2).all()
        assert (det.scores[:-1] >= det.scores[1:]).all()
        # targets and their scores read back exactly the detection's probability
        t = ssd.targets(det)
        torch.testing.assert_close(ssd.score(logits[n:n + 1], t, "probability")[0], det.scores)
        torch.testing.assert_close(ssd.score(logits[n:n + 1], t)[0], logits[n, det.priors, det.labels])


def test_nms_and_limits(tiny):
    x = torch.randn(1, 3, 512, 512)
    det = ssd.detect(tiny, x, score_threshold=0.05, max_detections=7)[0]
    assert len(det) == 7
    det = ssd.detect(tiny, x, score_threshold=0.05, nms_iou=0.45)[0]
    from torchvision.ops import box_iou
    for c in det.labels.unique():
        b = det.boxes[det.labels == c]
        iou = box_iou(b, b).fill_diagonal_(0)
        assert (iou <= 0.45 + 1e-6).all()
    assert len(ssd.detect(tiny, x, score_threshold=1.0)[0]) == 0


def test_preprocess_converts_grey_and_rgba_and_normalises():
    cfg = ssd.SHAPES_SSD512
    grey = np.full((40, 60), 200, dtype=np.uint8)
    rgba = np.dstack([np.full((40, 60, 3), 200, dtype=np.uint8), np.zeros((40, 60), np.uint8)])
    x = ssd.preprocess([grey, rgba], cfg)
    assert x.shape == (2, 3, 512, 512)
    expected = torch.tensor([200 - m for m in cfg.mean]).view(3, 1, 1).expand(3, 512, 512)
    torch.testing.assert_close(x[0], expected)
    torch.testing.assert_close(x[1], expected)
    np.testing.assert_array_equal(ssd.to_image(x, cfg)[0], np.full((512, 512, 3), 200, np.uint8))


def test_preprocess_grey_alpha_and_16_bit():
    cfg = ssd.SHAPES_SSD512
    grey_alpha = np.dstack([np.full((4, 4), 200, np.uint8), np.zeros((4, 4), np.uint8)])
    deep = np.full((4, 4, 3), 200 * 256 + 255, np.uint16)
    torch.testing.assert_close(ssd.preprocess(grey_alpha, cfg), ssd.preprocess(deep, cfg))
    np.testing.assert_array_equal(ssd.to_image(ssd.preprocess(deep, cfg), cfg)[0, 0, 0], [200, 200, 200])


def test_preprocess_bgr_checkpoints_flip_channels():
    cfg = ssd.COCO_SSD512.replace(channel_order="BGR", mean=(0.0, 0.0, 0.0))
    image = np.zeros((512, 512, 3), np.uint8)
    image[..., 0] = 255  # red
    x = ssd.preprocess(image, cfg)
    assert x[0, 2].min() == 255 and x[0, 0].max() == 0


def test_preprocess_reads_files_and_names_bad_ones(tmp_path):
    import skimage.io

    skimage.io.imsave(tmp_path / "a.png", np.zeros((30, 20, 3), np.uint8))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert ssd.preprocess([tmp_path / "a.png"], ssd.SHAPES_SSD512).shape == (1, 3, 512, 512)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ssd.preprocess([tmp_path / "missing.png"], ssd.SHAPES_SSD512)
    with pytest.raises(ValueError, match="bad.png"):
        ssd.preprocess([tmp_path / "bad.png"], ssd.SHAPES_SSD512)


@pytest.mark.parametrize("image, message", [
    (np.zeros((8, 8, 3), np.float32), "dtype uint8"),
    (np.zeros((2, 8, 8, 3), np.uint8), "shape"),
    (np.zeros((8, 8, 5), np.uint8), "shape"),
    (np.zeros((8, 8, 3), np.int64), "dtype uint8"),
    ([[1, 2]], "numpy array"),
])
def test_preprocess_rejects_bad_arrays(image, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ssd.preprocess([image], ssd.SHAPES_SSD512)


def test_empty_batch_and_bad_model_input(tiny):
    with pytest.raises(ValueError, match="empty batch"):
        ssd.preprocess([], ssd.SHAPES_SSD512)
    with pytest.raises(ValueError, match=r"\[N,3,H,W\]"):
        tiny(torch.zeros(3, 512, 512))


def test_bad_targets_are_named():
    logits = torch.zeros(1, 10, 3)
    with pytest.raises(ValueError, match="empty"):
        ssd.score(logits, [])
    with pytest.raises(ValueError, match="prior index out of range"):
        ssd.score(logits, [ssd.Target(10, 1)])
    with pytest.raises(ValueError, match="label out of range"):
        ssd.score(logits, [ssd.Target(0, 3)])
    with pytest.raises(ValueError, match="unknown score kind"):
        ssd.score(logits, [ssd.Target(0, 1)], kind="softmax")


def test_channels_last_layout_changes_no_output(tiny, device):
    """SSD stores channels-last kernels for speed; the outputs equal those of the plain layout."""
    import copy
    model = tiny.to(device)
    assert model.features[0].conv1_1.weight.is_contiguous(memory_format=torch.channels_last)
    plain = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    assert plain.features[0].conv1_1.weight.is_contiguous()
    x = torch.randn(2, 3, 512, 512, device=device)
    with torch.no_grad():
        for ours, reference in zip(model(x), plain(x)):
            torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
