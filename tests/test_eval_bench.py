"""eval.bench's units of cost (the numbers themselves are printed by the script, never timed here)."""
import torch

import eval_oracle
import ssd
from eval import bench
from eval.timing import PassCounter


def _tiny(device):
    torch.manual_seed(0)
    model = ssd.SSD(eval_oracle.TINY).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_gradient_map_is_the_target_logits_input_gradient(device):
    model = _tiny(device)
    x = torch.randn(2, 3, 128, 128, device=device)
    target = ssd.Target(100, 3)
    grad = bench.gradient_map(model, x, target)
    xr = x.clone().requires_grad_(True)
    expected, = torch.autograd.grad(model(xr)[0][:, 100, 3].sum(), xr)
    torch.testing.assert_close(grad, expected)
    assert all(p.grad is None for p in model.parameters())          # parameters stay frozen


def test_pass_counter_and_targets(device):
    model = _tiny(device)
    counter = PassCounter(model)
    x = bench.bench_input(model, device)
    with torch.no_grad():
        model(x.expand(5, -1, -1, -1))
    targets = bench.bench_targets(model, x)                          # runs one detection pass
    assert counter.images == 6
    counter.remove()
    model(x)
    assert counter.images == 6
    assert len(targets) == bench.TARGETS
    ssd.check_targets(targets, len(ssd.priors(model.config)), model.config.num_classes)


def test_unknown_method_is_an_error(capsys):
    assert bench.main(["gradcam"]) == 2
    assert "unknown method 'gradcam'" in capsys.readouterr().err
