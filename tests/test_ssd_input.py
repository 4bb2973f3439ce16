"""`ssd.check_input`: model input of the wrong size, dtype, device or with NaN/±inf values gets an
error that names the problem and the fix, before any work; `ssd.detect` checks its input and its
thresholds."""
import re

import numpy as np
import pytest
import torch

import eval_oracle
import ssd
from ssd import checks

TINY = eval_oracle.TINY   # 128×128 input, five sources: each forward pass costs milliseconds


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = ssd.SSD(TINY).eval()
    with torch.no_grad():  # a confident background-vs-class split so that detections exist
        for head in model.cls_heads:
            head.bias.normal_(0, 3)
    return model


def test_one_nan_pixel_is_an_error_not_an_empty_detection(tiny, device):
    model = tiny.to(device)
    x = torch.randn(1, 3, 128, 128, device=device)
    assert len(ssd.detect(model, x, score_threshold=0.2)[0]) > 0
    x[0, 1, 10, 20] = float("nan")
    with pytest.raises(ValueError, match=r"1 NaN and 0 ±inf .*\[0, 1, 10, 20\]"):
        ssd.detect(model, x, score_threshold=0.2)


def test_nan_and_inf_are_counted(tiny):
    x = torch.zeros(2, 3, 128, 128)
    x[0, 0, 0, :2] = float("nan")
    x[1, 2, 5, 5] = float("inf")
    x[1, 2, 6, 6] = -float("inf")
    with pytest.raises(ValueError, match=r"x has 2 NaN and 2 ±inf values \(of 98304; the first at \[0, 0, 0, 0\]\)"):
        ssd.check_input(tiny, x)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes_are_rejected_naming_dtype_and_fix(tiny, dtype):
    x = torch.zeros(1, 3, 128, 128, dtype=dtype)
    with pytest.raises(ValueError, match=rf"x is {dtype} but the model computes in torch.float32.*x.float\(\)"):
        ssd.detect(tiny, x)


def test_a_double_model_takes_double_input(tiny):
    """The dtype asked for is the model's own, not a fixed float32."""
    import copy
    model = copy.deepcopy(tiny).double()
    assert ssd.check_input(model, torch.zeros(1, 3, 128, 128, dtype=torch.float64)) is not None
    with pytest.raises(ValueError, match="torch.float32 but the model computes in torch.float64"):
        ssd.check_input(model, torch.zeros(1, 3, 128, 128))


def test_integer_images_and_non_tensors_point_to_preprocess(tiny):
    with pytest.raises(ValueError, match=r"torch.uint8, not floating point.*ssd.preprocess"):
        ssd.check_input(tiny, torch.zeros(1, 3, 128, 128, dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"torch tensor.*ndarray.*ssd.preprocess"):
        ssd.check_input(tiny, np.zeros((1, 3, 128, 128), np.float32))


@pytest.mark.parametrize("shape", [(1, 3, 256, 256), (1, 3, 8, 8), (1, 3, 128, 96), (3, 128, 128),
                                   (1, 1, 128, 128), (0, 3, 128, 128)])
def test_wrong_shapes_name_the_configured_size(tiny, shape):
    with pytest.raises(ValueError, match=r"\[N,3,128,128\].*configured size 128.*" + re.escape(str(shape))):
        ssd.detect(tiny, torch.zeros(shape))


def test_the_paper_size_is_named_for_a_512_model():
    model = ssd.SSD(ssd.SHAPES_SSD512.replace(width=1 / 64))
    with pytest.raises(ValueError, match=r"\[N,3,512,512\].*\(1, 3, 1024, 1024\).*ssd.preprocess"):
        ssd.detect(model, torch.zeros(1, 3, 1024, 1024))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_input_on_another_device_is_named(tiny):
    with pytest.raises(ValueError, match="x is on cpu but the model on cuda"):
        ssd.check_input(tiny.to("cuda"), torch.zeros(1, 3, 128, 128))


def test_check_tensor_is_network_agnostic():
    """The generic part (ssd.checks, shared by every package): floating point, dtype, finite; any shape."""
    v = torch.tensor([1.0, float("nan")], dtype=torch.float64)
    with pytest.raises(ValueError, match="baseline has 1 NaN and 0 ±inf values"):
        checks.check_tensor(v, "baseline")
    with pytest.raises(ValueError, match="seed is torch.float64 but the model computes in torch.float32"):
        checks.check_tensor(torch.zeros(2, dtype=torch.float64), "seed", dtype=torch.float32)
    w = torch.ones(4, 5)
    assert checks.check_tensor(w, "w", dtype=torch.float32) is w


@pytest.mark.parametrize("kwargs, message", [
    ({"max_detections": -1}, "max_detections must be an integer ≥ 1, got -1"),
    ({"max_detections": 0}, "max_detections must be an integer ≥ 1, got 0"),
    ({"top_k": 0}, "top_k must be an integer ≥ 1, got 0"),
    ({"score_threshold": float("nan")}, r"score_threshold must be in \[0, 1\], got nan"),
    ({"score_threshold": 1.5}, r"score_threshold must be in \[0, 1\], got 1.5"),
    ({"nms_iou": float("nan")}, r"nms_iou must be in \[0, 1\], got nan"),
    ({"nms_iou": -0.1}, r"nms_iou must be in \[0, 1\], got -0.1"),
])
def test_detect_thresholds_are_checked(tiny, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ssd.detect(tiny, torch.zeros(1, 3, 128, 128), **kwargs)
