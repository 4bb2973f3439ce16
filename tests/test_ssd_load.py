"""Checkpoint layouts of lufficc/SSD and mmdetection (key names and shapes from ssd/ssd512.md), our own
layout, and the errors for bad checkpoints."""
import pytest
import torch

import ssd

VGG = [(0, 3, 64, 3), (2, 64, 64, 3), (5, 64, 128, 3), (7, 128, 128, 3), (10, 128, 256, 3),
       (12, 256, 256, 3), (14, 256, 256, 3), (17, 256, 512, 3), (19, 512, 512, 3), (21, 512, 512, 3),
       (24, 512, 512, 3), (26, 512, 512, 3), (28, 512, 512, 3), (31, 512, 1024, 3), (33, 1024, 1024, 1)]
EXTRAS = [(1024, 256, 1), (256, 512, 3), (512, 128, 1), (128, 256, 3), (256, 128, 1), (128, 256, 3),
          (256, 128, 1), (128, 256, 3), (256, 128, 1), (128, 256, 4)]
SOURCES = [512, 1024, 512, 256, 256, 256, 256]
BOXES = [4, 6, 6, 6, 6, 4, 4]
OURS = ([f"features.0.conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3)) for i in range(1, n + 1)]
        + ["features.1.conv5_1", "features.1.conv5_2", "features.1.conv5_3", "features.1.fc6", "features.1.fc7"]
        + [f"features.{2 + j // 2}.conv{6 + j // 2}_{j % 2 + 1}" for j in range(10)])


def _conv(sd, key, cin, cout, k, w):
    cin, cout = max(1, round(cin * w)) if cin != 3 else 3, max(1, round(cout * w))
    sd[key + ".weight"], sd[key + ".bias"] = torch.empty(cout, cin, k, k), torch.empty(cout)


def lufficc_state(width=1.0, classes=81):
    sd = {}
    for i, cin, cout, k in VGG:
        _conv(sd, f"backbone.vgg.{i}", cin, cout, k, width)
    for j, (cin, cout, k) in enumerate(EXTRAS):
        _conv(sd, f"backbone.extras.{j}", cin, cout, k, width)
    sd["backbone.l2_norm.weight"] = torch.empty(round(512 * width))
    for k, (c, a) in enumerate(zip(SOURCES, BOXES)):
        sd[f"box_head.predictor.cls_headers.{k}.weight"] = torch.empty(a * classes, round(c * width), 3, 3)
        sd[f"box_head.predictor.cls_headers.{k}.bias"] = torch.empty(a * classes)
        sd[f"box_head.predictor.reg_headers.{k}.weight"] = torch.empty(a * 4, round(c * width), 3, 3)
        sd[f"box_head.predictor.reg_headers.{k}.bias"] = torch.empty(a * 4)
    return sd


def mmdet_state(width=1.0, old=False):
    sd = {}
    for k, v in lufficc_state(width).items():
        for theirs, mine in [("backbone.vgg.", "backbone.features."), ("backbone.l2_norm", "backbone.l2_norm"
                             if old else "neck.l2_norm")]:
            k = k.replace(theirs, mine)
        if k.startswith("backbone.extras."):
            j, p = k.split(".")[2:]
            k = f"backbone.extra.{j}.{p}" if old else f"neck.extra_layers.{int(j) // 2}.{int(j) % 2}.conv.{p}"
        for theirs, mine in [("box_head.predictor.cls_headers.", "bbox_head.cls_convs."),
                             ("box_head.predictor.reg_headers.", "bbox_head.reg_convs.")]:
            if k.startswith(theirs):
                n, p = k[len(theirs):].split(".")
                k = f"{mine}{n}.{p}" if old else f"{mine}{n}.0.{p}"
        sd[k] = v
    return sd


def _plant(sd):
    """Fill every tensor with its own index, so each can be recognised after conversion."""
    for i, k in enumerate(sorted(sd)):
        sd[k] = torch.full(sd[k].shape, float(i))
    return {k: i for i, k in enumerate(sorted(sd))}


def test_lufficc_layout_every_tensor_lands_in_its_layer(tmp_path):
    sd = lufficc_state()
    ids = _plant(sd)
    torch.save({"model": sd, "iteration": 1}, tmp_path / "vgg_ssd512_coco.pth")
    model = ssd.load(tmp_path / "vgg_ssd512_coco.pth")
    assert model.config.size == 512 and model.config.num_classes == 81 and model.config.width == 1.0
    params = dict(model.named_parameters())
    vgg = [f"backbone.vgg.{i}" for i, *_ in VGG] + [f"backbone.extras.{j}" for j in range(10)]
    for theirs, ours in zip(vgg, OURS):
        for p in ("weight", "bias"):
            assert params[f"{ours}.{p}"].flatten()[0].item() == ids[f"{theirs}.{p}"], ours
    assert params["l2norm.weight"][0].item() == ids["backbone.l2_norm.weight"]
    for k in range(7):
        assert params[f"cls_heads.{k}.weight"][0, 0, 0, 0].item() == ids[f"box_head.predictor.cls_headers.{k}.weight"]
        assert params[f"box_heads.{k}.bias"][0].item() == ids[f"box_head.predictor.reg_headers.{k}.bias"]


@pytest.mark.parametrize("old", [False, True])
def test_mmdetection_layout_every_tensor_lands_in_its_layer(tmp_path, old):
    sd = mmdet_state(old=old)
    ids = _plant(sd)
    torch.save({"state_dict": sd, "meta": {"epoch": 24}}, tmp_path / "ssd512_coco.pth")
    model = ssd.load(tmp_path / "ssd512_coco.pth")
    assert model.config.truncate and model.config.mean == (123.675, 116.28, 103.53)
    params = dict(model.named_parameters())
    extra = (lambda j: f"backbone.extra.{j}") if old else (lambda j: f"neck.extra_layers.{j // 2}.{j % 2}.conv")
    theirs = [f"backbone.features.{i}" for i, *_ in VGG] + [extra(j) for j in range(10)]
    for t, ours in zip(theirs, OURS):
        assert params[f"{ours}.weight"].flatten()[0].item() == ids[f"{t}.weight"], ours
    assert params["l2norm.weight"][0].item() == ids["backbone.l2_norm.weight" if old else "neck.l2_norm.weight"]
    head = (lambda k: f"bbox_head.reg_convs.{k}") if old else (lambda k: f"bbox_head.reg_convs.{k}.0")
    for k in range(7):
        assert params[f"box_heads.{k}.weight"].flatten()[0].item() == ids[head(k) + ".weight"]


def test_mmdetection_background_last_is_moved_to_index_0(tmp_path):
    """The same network stored background-last (mmdetection) and background-first (lufficc): after
    loading, our logits are identical and class c of ours is class c-1 of mmdetection's."""
    torch.manual_seed(0)
    width = 1 / 16
    lu = {k: torch.randn(v.shape) * 0.1 for k, v in lufficc_state(width).items()}
    mm = {}
    for k, v in zip(mmdet_state(width), lu.values()):  # same insertion order, same tensors
        mm[k] = v.clone()
    for k in range(7):  # store the class heads background-last: channel a·81 + c ← ours a·81 + (c+1) mod 81
        order = torch.tensor([a * 81 + (c + 1) % 81 for a in range(BOXES[k]) for c in range(81)])
        for p in ("weight", "bias"):
            mm[f"bbox_head.cls_convs.{k}.0.{p}"] = lu[f"box_head.predictor.cls_headers.{k}.{p}"][order]
    torch.save({"model": lu}, tmp_path / "lu.pth")
    torch.save({"state_dict": mm}, tmp_path / "mm.pth")
    a, b = ssd.load(tmp_path / "lu.pth"), ssd.load(tmp_path / "mm.pth")
    x = torch.randn(1, 3, 512, 512)
    with torch.no_grad():
        torch.testing.assert_close(a(x)[0], b(x)[0])


def test_our_own_layout_round_trip(tmp_path):
    cfg = ssd.SHAPES_SSD512.replace(width=1 / 32)
    model = ssd.SSD(cfg)
    torch.save({"format": "xai-ssd", "config": cfg.to_dict(), "state_dict": model.state_dict()}, tmp_path / "m.pt")
    loaded = ssd.load(tmp_path / "m.pt")
    assert loaded.config == cfg and not loaded.training
    x = torch.randn(1, 3, 512, 512)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        ssd.load(tmp_path / "nothing.pth")


def test_truncated_file_is_reported(tmp_path):
    torch.save({"model": lufficc_state(1 / 16)}, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot read checkpoint .*cut.pth"):
        ssd.load(tmp_path / "cut.pth")


def test_state_dict_of_another_network_reports_its_keys(tmp_path):
    from torchvision.models import resnet18

    torch.save(resnet18(weights=None).state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(ValueError, match=r"not an SSD checkpoint.*bn1\.bias"):
        ssd.load(tmp_path / "resnet.pth")


def test_partial_ssd_state_dict_reports_missing_and_unmatched_keys(tmp_path):
    sd = lufficc_state(1 / 16)
    del sd["backbone.extras.9.weight"]
    sd["backbone.vgg.99.weight"] = torch.empty(1)
    torch.save({"model": sd}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"missing keys \['features.6.conv10_2.weight'\].*backbone.vgg.99"):
        ssd.load(tmp_path / "partial.pth")


def test_wrong_tensor_shape_is_named(tmp_path):
    sd = lufficc_state(1 / 16)
    sd["backbone.l2_norm.weight"] = torch.empty(7)
    torch.save({"model": sd}, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=r"l2norm.weight: expected \(32,\), got \(7,\)"):
        ssd.load(tmp_path / "shape.pth")


def test_non_finite_weights_are_named(tmp_path):
    cfg = ssd.SHAPES_SSD512.replace(width=1 / 32)
    sd = ssd.SSD(cfg).state_dict()
    sd["features.1.fc6.weight"][0, 0, 0, :2] = float("nan")
    sd["cls_heads.3.bias"][1] = float("inf")
    torch.save({"format": "xai-ssd", "config": cfg.to_dict(), "state_dict": sd}, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=r"nan.pt: non-finite weights in 2 tensors: "
                                         r"features.1.fc6.weight \(2 NaN, 0 ±inf\), cls_heads.3.bias \(0 NaN, 1 ±inf\)"):
        ssd.load(tmp_path / "nan.pt")


@pytest.mark.parametrize("drop", ["config", "state_dict"])
def test_our_layout_without_a_key_names_it(tmp_path, drop):
    cfg = ssd.SHAPES_SSD512.replace(width=1 / 32)
    ckpt = {"format": "xai-ssd", "config": cfg.to_dict(), "state_dict": ssd.SSD(cfg).state_dict()}
    del ckpt[drop]
    torch.save(ckpt, tmp_path / "ours.pt")
    with pytest.raises(ValueError, match=rf"ours.pt: a checkpoint of format 'xai-ssd' needs '{drop}'"):
        ssd.load(tmp_path / "ours.pt")


def test_our_layout_with_a_bad_config_names_it(tmp_path):
    cfg = ssd.SHAPES_SSD512.replace(width=1 / 32)
    torch.save({"format": "xai-ssd", "config": [1, 2], "state_dict": ssd.SSD(cfg).state_dict()}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"c.pt: 'config' must be a dict of SSDConfig fields, got list"):
        ssd.load(tmp_path / "c.pt")


def test_a_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"checkpoint {tmp_path} is a directory, not a file"):
        ssd.load(tmp_path)


def _save_ours(path, config: dict, state_dict=None):
    cfg = ssd.SHAPES_SSD512.replace(width=1 / 32)
    torch.save({"format": "xai-ssd", "config": config,
                "state_dict": ssd.SSD(cfg).state_dict() if state_dict is None else state_dict}, path)
    return path


@pytest.mark.parametrize("changes, message", [
    ({"mean": [float("nan"), 117.0, 104.0]}, r"SSDConfig mean must be 3 finite numbers, got \(nan, 117.0, 104.0\)"),
    ({"std": [1.0, 0.0, 1.0]}, r"SSDConfig std must be 3 finite numbers > 0, got \(1.0, 0.0, 1.0\)"),
    ({"nms_iou": 2}, r"SSDConfig nms_iou must be a finite number in \[0, 1\], got 2"),
    ({"max_detections": 0}, r"SSDConfig max_detections must be an integer ≥ 1, got 0"),
    ({"top_k": 2.5}, r"SSDConfig top_k must be an integer ≥ 1, got 2.5"),
    ({"score_threshold": -0.1}, r"SSDConfig score_threshold must be a finite number in \[0, 1\], got -0.1"),
    ({"channel_order": "GBR"}, r"SSDConfig channel_order must be 'RGB' or 'BGR', got 'GBR'"),
    ({"width": 0}, r"SSDConfig width must be a finite number > 0, got 0"),
    ({"size": 300}, r"SSDConfig feature_maps \(64, 32, 16, 8, 4, 2, 1\) do not fit size 300: "
                    r"the network's sources are \(38, 19, 10, 5, 3, 2, 1\) at 300×300 input"),
    ({"steps": [8, 16]}, r"SSDConfig steps must have one entry per source \(7\), got 2"),
    ({"variances": [0.1, -0.2]}, r"SSDConfig variances must be 2 finite numbers > 0, got \(0.1, -0.2\)"),
    ({"class_names": ["background"]}, r"SSDConfig class_names must be 2 or more names"),
])
def test_bad_config_fields_are_named_when_loaded(tmp_path, changes, message):
    """Each used to pass: NaN mean or zero std blamed the input image, size 300 with the 512 layout
    and nms_iou 2 or max_detections 0 gave tracebacks, an unknown channel order was taken as RGB."""
    config = {**ssd.SHAPES_SSD512.replace(width=1 / 32).to_dict(), **changes}
    path = _save_ours(tmp_path / "bad.pt", config)
    with pytest.raises(ValueError, match=r"bad.pt: " + message):
        ssd.load(path)


def test_config_fields_are_checked_when_built():
    with pytest.raises(ValueError, match=r"SSDConfig std must be 3 finite numbers > 0"):
        ssd.SHAPES_SSD512.replace(std=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match=r"SSDConfig channel_order must be 'RGB' or 'BGR', got 'rgb'"):
        ssd.SSDConfig(channel_order="rgb")


@pytest.mark.parametrize("config", [ssd.COCO_SSD512, ssd.MMDET_SSD512, ssd.TORCHVISION_SSD300, ssd.SHAPES_SSD512])
def test_source_sizes_are_the_network_sources(config):
    model = ssd.SSD(config.replace(width=1 / 64))
    for size in (config.size, 320, 333):
        with torch.no_grad():
            sides = tuple(s.shape[-1] for s in model.sources(torch.zeros(1, 3, size, size)))
        assert model.source_sizes(size) == sides
    assert model.source_sizes(config.size) == config.feature_maps


def test_integer_weights_are_an_error_naming_the_key(tmp_path):
    """An integer state dict loaded (copied into the float parameters, all 0) and detected nothing."""
    cfg = ssd.SHAPES_SSD512.replace(width=1 / 32)
    sd = {k: v.long() for k, v in ssd.SSD(cfg).state_dict().items()}
    path = _save_ours(tmp_path / "int.pt", cfg.to_dict(), sd)
    with pytest.raises(ValueError, match=r"int.pt: the weights must be floating point; "
                                         r"features.0.conv1_1.weight is torch.int64 \(and \d+ more\)"):
        ssd.load(path)
