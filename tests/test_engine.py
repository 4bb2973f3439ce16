"""The shared engine (lrp/engine.py and its parts): cores that know nothing of the detector, loop ==
batched backward, two threads on one model, (prior, label) pairs as targets, hyperparameters and inputs
checked, the windowed convolution transpose (lrp/kernels.py)."""
import ast
import threading
from pathlib import Path

import pytest
import torch

import deeplift
import lrp
import perturb
import ssd
from lrp import engine, kernels

CONFIG = ssd.SHAPES_SSD512.replace(width=1 / 64)
TARGETS = [ssd.Target(5, 1), ssd.Target(3000, 4), ssd.Target(21000, 6)]
EXPLAIN = {"lrp": lrp.explain, "deeplift": deeplift.explain}


def narrow_ssd(device="cpu"):
    torch.manual_seed(0)
    return ssd.SSD(CONFIG).to(device).eval()


def image(device="cpu"):
    g = torch.Generator().manual_seed(1)
    return (30 * torch.randn(1, 3, 512, 512, generator=g)).to(device)


def test_cores_explain_a_toy_network():
    """lrp, deeplift and perturb on a toy net that is no detector: conservation, summation-to-delta,
    exact SHAP of an additive score, a receptive field."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1, bias=False), torch.nn.ReLU(inplace=True),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(12, 2, bias=False)).double()
    x = torch.rand(1, 2, 4, 4, dtype=torch.float64)
    seed = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    # LRP-ε without biases conserves relevance: Σ R = Σ seed
    r = lrp.attribute(net, x, seed, lrp.composite(conv=lrp.Epsilon(0.0), linear=lrp.Epsilon(0.0), first=lrp.Flat()))
    assert abs(r.sum().item() - 1.0) < 1e-10, r.sum()
    # DeepLIFT with the conserving max-pool rule: Σ C = Δ output
    ref = torch.zeros_like(x)
    rules = deeplift.composite(first=deeplift.Flat(), maxpool=deeplift.MaxPoolRescale())
    c = deeplift.attribute(net, x, ref, seed, rules)
    assert abs(c.sum().item() - (net(x) - net(ref))[0, 0].item()) < 1e-10, c.sum()
    # SHAP of an additive score over 4 superpixels: exactly each superpixel's term (any permutations)
    segments = torch.arange(4).view(1, 4).repeat_interleave(2, 1).repeat_interleave(2, 0)            # [2,8]
    picture = torch.arange(1.0, 17.0, dtype=torch.float64).view(1, 1, 2, 8)
    weights = torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=torch.float64)
    score = lambda b: (b[:, 0] * weights[segments]).sum(dim=(1, 2))[:, None]                        # noqa: E731
    phi = perturb.shap(score, picture, segments, n_permutations=2)[0]
    exact = torch.stack([(picture[0, 0] * weights[segments])[segments == s].sum() for s in range(4)])
    assert torch.allclose(phi, exact), (phi, exact)
    # the receptive field of a 3×3 convolution's output (1, 1) on a 4×4 input: rows and columns 0..2
    assert perturb.receptive_field([net[0]], 1, 1, (4, 4)) == (0, 2, 0, 2)


ROOT = Path(__file__).resolve().parent.parent
CORES = {"lrp": ["engine", "hooks", "backward_pass", "kernels", "rules", "composite", "attribute", "redistribute"],
         "deeplift": ["rules", "attribute", "composite", "blur"],
         "perturb": ["lime", "shap", "drise", "masking", "receptive_field", "ridge", "superpixels"]}
FIRST_PARTY = ("ssd", "lrp", "deeplift", "perturb", "eval")


def _imports(path: Path) -> set[str]:
    """The first-party modules a file imports, at module level or inside functions: `from P import m`
    counts as P.m where m is a module of P, `from .m import x` as package.m."""
    package = ".".join(path.relative_to(ROOT).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if (ROOT / sub.replace(".", "/")).with_suffix(".py").is_file() else module)
    return {m for m in found if m.split(".")[0] in FIRST_PARTY}


def test_cores_import_nothing_of_the_detector_but_its_checks():
    """The cores of lrp, deeplift and perturb import, of this project, only each other and ssd.checks:
    they know nothing of the detector."""
    cores = {f"{package}.{name}" for package, names in CORES.items() for name in names}
    for core in sorted(cores):
        imported = _imports(ROOT / (core.replace(".", "/") + ".py"))
        assert imported <= cores | {"ssd.checks"}, (core, imported - cores)


def test_ssd_imports_no_method_and_no_evaluation():
    """ssd is the lowest layer: no module of it imports lrp, deeplift, perturb or eval, not even inside
    a function."""
    for path in sorted((ROOT / "ssd").rglob("*.py")):
        imported = _imports(path)
        assert {m.split(".")[0] for m in imported} <= {"ssd"}, (path.relative_to(ROOT), imported)


@pytest.mark.parametrize("method", ["lrp", "deeplift"])
def test_loop_and_batched_backward_give_the_same_heatmaps(device, method):
    model, x = narrow_ssd(device), image(device)
    loop = EXPLAIN[method](model, x, TARGETS, chunk=2, backward="loop")
    vmap = EXPLAIN[method](model, x, TARGETS, chunk=2, backward="vmap")
    assert (loop.abs().amax(dim=(1, 2)) > 0).all()
    torch.testing.assert_close(loop, vmap, rtol=1e-5, atol=1e-6 * loop.abs().max().item())


@pytest.mark.parametrize("method", ["lrp", "deeplift"])
def test_targets_may_be_prior_label_pairs(method):
    model, x = narrow_ssd(), image()
    pairs = [(t.prior, t.label) for t in TARGETS[:2]]
    assert torch.equal(EXPLAIN[method](model, x, pairs), EXPLAIN[method](model, x, TARGETS[:2]))


def test_two_threads_on_one_model_give_the_single_thread_results():
    """LRP and DeepLIFT explaining one model in two threads at once (each twice, started together)
    give what each gives alone: the hooks of one call do nothing in the other's forward pass."""
    model, x = narrow_ssd(), image()
    model.features[0].relu1_1.inplace = True     # an in-place ReLU, handed a copy of its input
    alone = {name: f(model, x, TARGETS[:2]) for name, f in EXPLAIN.items()}
    start, results, errors = threading.Barrier(2), {}, []

    def work(name):
        try:
            start.wait()
            results[name] = [EXPLAIN[name](model, x, TARGETS[:2]) for _ in range(2)]
        except BaseException as error:   # reported by the main thread
            errors.append(error)
    threads = [threading.Thread(target=work, args=(name,)) for name in EXPLAIN]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for name, maps in results.items():
        for m in maps:
            torch.testing.assert_close(m, alone[name], rtol=1e-6, atol=1e-6 * alone[name].abs().max().item())
    assert model.features[0].relu1_1.inplace


@pytest.mark.parametrize("make, message", [
    (lambda: lrp.Gamma(float("nan")), "gamma must be a finite number >= 0, got nan"),
    (lambda: lrp.Gamma(float("inf")), "gamma must be a finite number >= 0, got inf"),
    (lambda: lrp.Gamma(-0.1), "gamma must be a finite number >= 0"),
    (lambda: lrp.Gamma(0.1, epsilon=float("nan")), "epsilon must be a finite number"),
    (lambda: lrp.Epsilon(float("nan")), "epsilon must be a finite number"),
    (lambda: lrp.ZPlus(-1.0), "epsilon must be a finite number >= 0"),
    (lambda: deeplift.Linear(float("nan")), "gamma must be a finite number"),
])
def test_hyperparameters_must_be_finite_and_in_range(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_explain_rejects_bad_gamma_before_any_pass():
    model, x = narrow_ssd(), image()
    for f in EXPLAIN.values():
        with pytest.raises(ValueError, match="gamma must be a finite number"):
            f(model, x, TARGETS[:1], gamma=float("nan"))


def test_attribute_rejects_non_finite_input():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    x = torch.tensor([[1.0, float("nan"), float("-inf")]])
    with pytest.raises(ValueError, match=r"x has 1 NaN and 1 ±inf values \(of 3; the first at \[0, 1\]\)"):
        lrp.attribute(net, x, torch.ones(1, 2), lrp.composite())
    with pytest.raises(ValueError, match=r"x has 1 NaN and 1 ±inf values"):
        deeplift.attribute(net, x, torch.zeros(1, 3), torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"reference has 0 NaN and 1 ±inf values"):
        deeplift.attribute(net, torch.ones(1, 3), torch.tensor([[0.0, float("inf"), 0.0]]), torch.ones(1, 2))


@pytest.mark.parametrize("module", [
    torch.nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
    torch.nn.Conv2d(3, 5, 1),
    torch.nn.Linear(7, 4),
])
def test_route_has_the_value_of_z_and_the_gradient_of_the_modified_map(module):
    """engine.route(module, z, a, w′) == stand_in(z, affine(module, a, w′)) in value and in gradient
    (plain and batched seeds), without running affine forward."""
    module = module.double()
    a = torch.randn((2, 4, 9, 9) if isinstance(module, torch.nn.Conv2d) and module.in_channels == 4 else
                    (2, 3, 5, 5) if isinstance(module, torch.nn.Conv2d) else (2, 7), dtype=torch.float64,
                    requires_grad=True)
    w = module.weight.detach()
    modified = engine.gamma_weights(w, 0.25)
    z = module(a)
    routed = engine.route(module, z, a, modified)
    reference = engine.stand_in(z, engine.affine(module, a, modified))
    assert torch.equal(routed, z.detach())
    seeds = torch.randn((3,) + tuple(z.shape), dtype=torch.float64)
    for batched in (False, True):
        got = torch.autograd.grad(routed, a, seeds if batched else seeds[0], retain_graph=True,
                                  is_grads_batched=batched)[0]
        want = torch.autograd.grad(reference, a, seeds if batched else seeds[0], retain_graph=True,
                                   is_grads_batched=batched)[0]
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def _backward_into_later_blocks(model, explain):
    """(heatmap, how often the backward entered a block after block 0)."""
    entered = []
    handles = [block[0].register_full_backward_hook(lambda *_: entered.append(1)) for block in model.features[1:]]
    try:
        return explain(), len(entered)
    finally:
        for h in handles:
            h.remove()


@pytest.mark.parametrize("method", ["lrp", "deeplift"])
def test_a_target_is_seeded_at_its_head_so_later_blocks_stay_out_of_the_backward(method, monkeypatch):
    """A conv4_3 target's logit depends on block 0 only: with the seed at its class head the backward
    never enters fc6–fc7 or the extras (counted by backward hooks on their first layers); seeded on
    the concatenated logits (ssd.head_seeds' fallback) it enters all of them, with the same heatmap."""
    model, x = narrow_ssd(), image()
    target = ssd.Target(5, 1)
    assert ssd.prior_location(model.config, target.prior)[0] == 0
    heat, entered = _backward_into_later_blocks(model, lambda: EXPLAIN[method](model, x, [target]))
    assert entered == 0 and heat.abs().max() > 0
    monkeypatch.setattr(ssd, "head_seeds", lambda m, kept, output, targets: [[(output[0], (0, t.prior, t.label), 1.0)]
                                                                             for t in targets])
    on_logits, entered = _backward_into_later_blocks(model, lambda: EXPLAIN[method](model, x, [target]))
    assert entered == len(model.features) - 1
    torch.testing.assert_close(heat, on_logits, rtol=1e-6, atol=1e-9 * float(heat.abs().max()))


@pytest.mark.parametrize("conv, size", [
    (torch.nn.Conv2d(32, 8, 3, padding=1), 64),
    (torch.nn.Conv2d(32, 8, 3, stride=2, padding=1), 129),
    (torch.nn.Conv2d(32, 8, 3, padding=6, dilation=6), 64),
    (torch.nn.Conv2d(32, 8, 5, stride=2, padding=2, groups=2), 128),
    (torch.nn.Conv2d(256, 8, 1), 64),
])
@pytest.mark.parametrize("window", [(10, 14, 20, 23), (0, 3, 0, 2), (29, 32, 28, 32), (5, 6, 30, 31)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_conv_input_gradient_on_the_reached_window_equals_the_whole_transpose(conv, size, window, layout,
                                                                            monkeypatch):
    """A gradient that is non-zero only in a window of the output (a target's receptive field) gives
    the same input gradient through the cropped transpose as through the whole one, at the map's
    borders (clipped padding) too, for strides, dilations, groups, two images and both layouts;
    the cropped path is the one taken (the window is under half of the map)."""
    conv = conv.double()
    a = torch.randn(2, conv.in_channels, size, size, dtype=torch.float64).contiguous(memory_format=layout)
    out = conv(a)
    h, w = out.shape[2:]
    r0, r1, c0, c1 = (int(v * h / 32) for v in window)
    grad = torch.zeros_like(out)
    grad[1, :, r0:max(r1, r0 + 1), c0:max(c1, c0 + 1)] = torch.randn_like(grad[1, :, r0:max(r1, r0 + 1), c0:max(c1, c0 + 1)])
    assert grad.numel() >= 2 ** 16 and bool(grad.any(dim=1).any(dim=0).sum() < h * w // 2)
    assert conv.weight[0].numel() >= 256                                # a kernel heavy enough to crop
    geometry = (conv.stride, conv.padding, conv.dilation, conv.groups)
    weight = conv.weight.detach()
    paddings, transpose = [], kernels._transposed_conv
    monkeypatch.setattr(kernels, "_transposed_conv", lambda *args, padding=None: paddings.append(padding)
                        or transpose(*args, padding=padding))
    got = kernels.conv_input_gradient(grad, weight, geometry, a.shape, layout)
    assert paddings == [(0, 0)]                                         # the window's unpadded transpose
    want = torch.nn.grad.conv2d_input(a.shape, weight, grad, conv.stride, conv.padding, conv.dilation, conv.groups)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert got.is_contiguous(memory_format=layout)
    a.requires_grad_(True)            # and through affine's autograd Function, against plain conv2d
    (via_affine,) = torch.autograd.grad(engine.affine(conv, a, weight), a, grad)
    torch.testing.assert_close(via_affine, want, rtol=1e-12, atol=1e-12)


def test_conv_input_gradient_of_a_zero_gradient_is_zero(monkeypatch):
    """A gradient that reaches nothing gives zeros without any transpose (a heavy kernel, so the
    window search runs)."""
    conv = torch.nn.Conv2d(32, 6, 3, padding=1)
    assert conv.weight[0].numel() >= 256
    monkeypatch.setattr(kernels, "_transposed_conv", lambda *args, **kw: pytest.fail("transposed"))
    grad = torch.zeros(1, 6, 128, 128)
    got = kernels.conv_input_gradient(grad, conv.weight.detach(), (conv.stride, conv.padding, conv.dilation, 1),
                                      torch.Size((1, 32, 128, 128)), torch.contiguous_format)
    assert got.shape == (1, 32, 128, 128) and not bool(got.any())
