"""Training: BatchNorm folding, augmentation geometry, schedule, resumable sampling, a short run."""
import numpy as np
import pytest
import torch

import ssd
from ssd.bn_fold import BatchNormSSD
from ssd.data import generate, CocoDataset
from ssd.data.augment import augment
from ssd.loss import multibox_loss
from ssd.train import learning_rate, main, scaled_config
from ssd.train_data import SyntheticImages, TrainSet, batches
from ssd.train_state import export, init_heads

@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a shared 2-core machine, more threads mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = scaled_config(ssd.SHAPES_SSD512.replace(width=1 / 32), 320)   # feature maps 40 … 1


def test_scaled_config_fits_the_network():
    assert TINY.feature_maps == (40, 20, 10, 5, 3, 2, 1)
    logits, deltas = ssd.SSD(TINY)(torch.zeros(1, 3, 320, 320))
    assert logits.shape[1] == deltas.shape[1] == ssd.priors(TINY).shape[0]


def test_folded_model_computes_the_batchnorm_model(device):
    model = BatchNormSSD(ssd.SSD(TINY)).to(device)
    for bn in model.norms.values():  # non-trivial affine parameters
        torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
        torch.nn.init.uniform_(bn.bias, -0.2, 0.2)
    x = torch.randn(2, 3, 320, 320, device=device)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x + torch.randn_like(x))  # running statistics
    model.eval()
    folded = model.fold().to(device)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert type(folded) is ssd.SSD
    with torch.no_grad():
        (a, b), (c, d) = model(x), folded(x)
    torch.testing.assert_close(c, a, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(d, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_augmented_boxes_follow_the_pixels(seed):
    """A white rectangle on black: after any augmentation its returned box bounds the bright pixels."""
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    image[50:120, 200:330] = 255
    box = np.array([[200, 50, 330, 120]], dtype=np.float32)
    x, boxes, labels = augment(image, box, np.array([3]), np.random.default_rng(seed), 128,
                               p_expand=0.4, p_crop=0.4)
    assert x.shape == (3, 128, 128) and labels.tolist() == [3]
    grey = x.mean(dim=0)
    rows, cols = torch.nonzero(grey > (grey.max() + grey.min()) / 2, as_tuple=True)
    found = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=np.float32) / 128
    np.testing.assert_allclose(boxes[0], found, atol=2.5 / 128)


def test_learning_rate_schedule():
    assert learning_rate(0, 1.0, 10, 100) == pytest.approx(0.1)
    assert learning_rate(9, 1.0, 10, 100) == pytest.approx(1.0)
    assert learning_rate(74, 1.0, 10, 100) == 1.0                       # constant until the last quarter
    assert learning_rate(100, 1.0, 10, 100) == pytest.approx(0.01)
    assert learning_rate(87, 1.0, 10, 100) < 1.0


def test_resumed_sampling_sees_the_same_batches():
    whole = list(batches(10, 4, 0, 8, seed=3))
    assert list(batches(10, 4, 5, 8, seed=3)) == whole[5:]
    assert sorted(p for b in whole for p, k in b if k < 10) == list(range(10))  # an epoch is a permutation
    assert list(batches(None, 2, 3, 4, seed=3)) == [[(6, 6), (7, 7)]]


def test_synthetic_boxes_equal_the_coco_boxes(tmp_path):
    generate(tmp_path, 1, seed=11, size=320)
    boxes, cats = CocoDataset(tmp_path).annotations(1)
    image, b2, c2 = SyntheticImages(11, 320).sample(0, 0)
    np.testing.assert_array_equal(b2, boxes)
    assert c2.tolist() == cats.tolist()


def test_short_training_decreases_the_loss():
    """A few steps on one fixed batch of two images: the SSD loss falls well below its start."""
    data = TrainSet(SyntheticImages(5, 320), TINY, seed=5)
    items = [data[(k, k)] for k in range(2)]
    x, labels, target = (torch.stack(t) for t in zip(*items))
    model = BatchNormSSD(ssd.SSD(TINY))
    init_heads(model.ssd)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(20):
        loc, conf = multibox_loss(*model(x), labels, target)
        opt.zero_grad()
        (loc + conf).backward()
        opt.step()
        losses.append((loc + conf).item())
    assert np.mean(losses[-3:]) < 0.6 * losses[0], losses


def test_train_resume_and_export(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--run", str(run), "--size", "320", "--width", "0.03125", "--batch-size", "2", "--workers", "0",
            "--threads", "1", "--warmup", "1", "--log-every", "1", "--checkpoint-every", "2", "--seed", "4"]
    main(args + ["--iterations", "2"])
    main(args + ["--iterations", "3", "--export", str(tmp_path / "exported.pt")])
    log = (run / "train.log").read_text()
    assert "resuming from" in log and "at iteration 2" in log and "iter 3/3" in log
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["iteration"] == 3
    # the same command again trains nothing, says so and writes the models of last.pt again (exit 0)
    (tmp_path / "exported.pt").unlink()
    capsys.readouterr()
    assert main(args + ["--iterations", "3", "--export", str(tmp_path / "exported.pt")]) == 0
    assert (tmp_path / "exported.pt").is_file() and "already complete at iteration 3" in capsys.readouterr().out
    # a checkpoint past --iterations is an error, not a silent success
    assert main(args + ["--iterations", "2"]) == 2
    assert "at iteration 3, past --iterations 2" in capsys.readouterr().err
    assert torch.load(run / "last.pt", weights_only=True)["iteration"] == 3
    main(["--run", str(run), "--export-only", str(tmp_path / "again.pt")])
    a, b = ssd.load(tmp_path / "exported.pt"), ssd.load(tmp_path / "again.pt")
    assert a.config == b.config and a.config.feature_maps == TINY.feature_maps
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(v, w)
    assert a.config.class_names == ssd.SHAPES_SSD512.class_names


def test_seed_fixes_the_initial_weights(tmp_path):
    """Two runs from scratch with --seed 4 start from the same weights (last.pt after one step at a
    learning rate of 1e-30 holds them), whatever the caller's random state; --seed 5 starts elsewhere."""
    args = ["--size", "320", "--width", "0.03125", "--batch-size", "2", "--workers", "0", "--threads", "1",
            "--warmup", "1", "--lr", "1e-30", "--iterations", "1"]

    def initial(run, seed):
        torch.manual_seed(1000 + run)                      # a different random state before each run
        assert main(["--run", str(tmp_path / str(run)), "--seed", str(seed)] + args) == 0
        return torch.load(tmp_path / str(run) / "last.pt", weights_only=True)["model"]

    first, again, other = initial(0, 4), initial(1, 4), initial(2, 5)
    assert first.keys() == again.keys()
    for k, v in first.items():
        assert torch.equal(v, again[k]), k
    heads = [k for k in first if k.startswith("ssd.cls_heads.") and k.endswith(".weight")]
    assert heads and all(not torch.equal(first[k], other[k]) for k in heads)


def test_embedded_model_loads_offline():
    model = ssd.load("shapes")
    assert model.config.class_names == ("background", "circle", "square", "triangle", "star", "cross", "ring")
    assert model.config.size == 512 and model.config.width == 0.125
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    logits, deltas = model(torch.zeros(1, 3, 512, 512))
    assert logits.shape == (1, 24564, 7) and torch.isfinite(logits).all()


def _tiny_checkpoint(path):
    """A folded TINY model with non-trivial heads, written as `ssd.train` exports it."""
    model = ssd.SSD(TINY)
    for head in list(model.cls_heads) + list(model.box_heads):
        torch.nn.init.normal_(head.bias, std=0.5)
    export(model, str(path), {"iteration": 0})
    return ssd.load(path)


FINE_TUNE = ["--variant", "hans", "--batch-size", "2", "--workers", "0", "--threads", "1", "--warmup", "1",
             "--log-every", "1", "--checkpoint-every", "1", "--seed", "4"]


def test_fine_tuning_starts_from_exactly_the_initial_model(tmp_path):
    """--init trains the folded SSD as it is (no BatchNorm put back): at a learning rate of 1e-30 the exported
    model holds the initial weights (up to the rounding of the weight average), and the run stays
    without BatchNorm on resume."""
    init = _tiny_checkpoint(tmp_path / "init.pt")
    run = tmp_path / "run"
    main(["--run", str(run), "--init", str(tmp_path / "init.pt"), "--lr", "1e-30", "--iterations", "1"] + FINE_TUNE)
    main(["--run", str(run), "--init", str(tmp_path / "init.pt"), "--lr", "1e-30", "--iterations", "2"] + FINE_TUNE)
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["batchnorm"] is False and state["iteration"] == 2
    assert not any(k.startswith("norms.") for k in state["model"])
    assert "resuming from" in (run / "train.log").read_text()
    tuned = ssd.load(run / "model.pt")
    assert tuned.config == init.config
    for (k, v), w in zip(init.state_dict().items(), tuned.state_dict().values()):
        torch.testing.assert_close(w, v, rtol=1e-6, atol=1e-7, msg=k)
    main(["--run", str(run), "--export-only", str(tmp_path / "again.pt")])
    for v, w in zip(tuned.state_dict().values(), ssd.load(tmp_path / "again.pt").state_dict().values()):
        assert torch.equal(v, w)


def test_fine_tuning_can_reset_the_class_heads(tmp_path):
    init = _tiny_checkpoint(tmp_path / "init.pt")
    run = tmp_path / "run"
    main(["--run", str(run), "--init", str(tmp_path / "init.pt"), "--reset-class-heads", "--lr", "1e-30",
          "--iterations", "1"] + FINE_TUNE)
    tuned, before = ssd.load(run / "model.pt").state_dict(), init.state_dict()
    for k, v in before.items():
        if k.startswith("cls_heads.") and k.endswith(".bias"):
            assert tuned[k].abs().max() < 1e-20                  # zero, but for the 1e-30 learning rate
        elif not k.startswith("cls_heads."):
            torch.testing.assert_close(tuned[k], v, rtol=1e-6, atol=1e-7, msg=k)


def test_a_variant_needs_synthetic_data(tmp_path, capsys):
    assert main(["--run", str(tmp_path / "run"), "--data", str(tmp_path), "--variant", "hans"]) == 2
    assert "--variant hans needs --data synthetic" in capsys.readouterr().err
