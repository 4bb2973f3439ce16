"""No method returns a NaN map: a non-finite heatmap is a ValueError naming the method, its settings
and the target; DeepLIFT refuses a γ whose (1+γ)^depth overflows; LIME refuses a kernel width that
leaves no perturbed sample any weight, before any pass.

Before: deeplift.explain(gamma=100) gave NaN pixels on a trained model without an error, LIME with
kernel_width 1e-200 returned NaN maps (k² underflowed to 0: 0/0 at distance 0) and with 1e-3 silently
all-zero ones (every perturbed sample had weight 0), ridge with alpha 0 then a LinAlgError traceback."""
import importlib
import math
import re

import pytest
import torch

import deeplift
import eval_oracle
import lrp
import perturb
import ssd
from perturb.lime import kernel_weights, lime
from perturb.ridge import weighted_ridge

TARGETS = [ssd.Target(10, 1), ssd.Target(300, 2)]
lime_module = importlib.import_module("perturb.lime")          # perturb.lime is the function
explain_module = importlib.import_module("perturb.explain")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return ssd.SSD(eval_oracle.TINY).eval()           # 128×128 input, 13 + 2 + 6 convolutions and a head


@pytest.fixture(scope="module")
def overflowing(tiny):
    """The tiny SSD with a class head whose logits overflow to ±inf (weights near float32's max)."""
    import copy
    model = copy.deepcopy(tiny)
    with torch.no_grad():
        model.cls_heads[0].weight.mul_(3e38 / model.cls_heads[0].weight.abs().max())
    return model


def x():
    return torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(1))


def test_lrp_names_method_settings_and_target_of_a_non_finite_map(overflowing):
    with pytest.raises(ValueError, match=re.escape("lrp (rule=gamma, gamma=0.1, epsilon=1e-06, first=flat) gave ")
                       + r"\d+ NaN and \d+ ±inf values \(of 16384; the first at \[\d+, \d+\]\) in the map of target "
                       + re.escape("Target(prior=10, label=1)")):
        lrp.explain(overflowing, x(), TARGETS)


def test_deeplift_names_method_settings_and_target_of_a_non_finite_map(overflowing):
    with pytest.raises(ValueError, match=re.escape("deeplift (gamma=0.1, first=flat, reference=blur, rule=rescale, "
                                                   "maxpool=gradient) gave ") + r".*Target\(prior=10, label=1\)"):
        deeplift.explain(overflowing, x(), TARGETS)


def test_perturb_names_method_settings_and_target_of_a_non_finite_map(tiny, monkeypatch):
    """The scores are checked pass by pass (`perturb.masking.evaluate`); the maps once more at the end."""
    def broken(f, x, segments, *args, **kwargs):
        values = torch.zeros(len(f.targets), int(segments.max()) + 1, dtype=torch.float64)
        values[1, 3] = float("nan")
        return values
    monkeypatch.setattr(explain_module, "lime", broken)
    segments = eval_oracle_grid()
    with pytest.raises(ValueError, match=re.escape(
            "perturb (method=lime, n_samples=4, kernel_width=1.0, alpha=1.0, seed=0, kind=logit, baseline=0.0) "
            "gave 256 NaN and 0 ±inf values (of 16384; the first at [0, 48])")
                       + r".*in the map of target " + re.escape("Target(prior=300, label=2)")):
        perturb.explain(tiny, x(), TARGETS, method="lime", n_samples=4, segments=segments)


def eval_oracle_grid(size=128, block=16):
    rows = torch.arange(size) // block
    return rows[:, None] * (size // block) + rows[None, :]


def test_deeplift_refuses_a_gamma_whose_growth_overflows(tiny):
    """21 convolutions with γ on the deepest path (♭ on the first): (1+γ)^21 ≤ 3.4e38 for γ ≤ 67.3."""
    limit = torch.finfo(torch.float32).max ** (1 / 21) - 1
    with pytest.raises(ValueError, match=re.escape(
            f"gamma=100 is too large for this network: the γ rule multiplies the positive weights by 1+γ in "
            f"each of its 21 layers, and (1+γ)^21 overflows torch.float32 (max 3.4e+38); use gamma ≤ {limit:.3g}")):
        deeplift.explain(tiny, x(), TARGETS, gamma=100)
    with pytest.raises(ValueError, match="each of its 22 layers"):
        deeplift.explain(tiny, x(), TARGETS, gamma=100, first=None)
    assert torch.isfinite(deeplift.explain(tiny, x(), TARGETS, gamma=math.floor(limit))).all()


def test_lime_kernel_weights_are_finite_for_tiny_widths():
    d = torch.tensor([0.0, 0.1, 0.3], dtype=torch.float64)
    assert kernel_weights(d, 1e-200).tolist() == [1.0, 0.0, 0.0]
    torch.testing.assert_close(kernel_weights(d, 0.5), torch.exp(-(d / 0.5) ** 2))


@pytest.mark.parametrize("kernel_width", [1e-200, 1e-3])
def test_lime_refuses_a_kernel_width_that_weights_only_the_input(kernel_width):
    x_ = torch.randn(1, 3, 16, 16)
    segments = (torch.arange(16)[:, None] // 4) * 4 + torch.arange(16)[None, :] // 4
    calls = []

    def f(batch):
        calls.append(1)
        return batch.sum((1, 2, 3))[:, None]
    with pytest.raises(ValueError, match=rf"LIME kernel_width {kernel_width:g} leaves 1.0 effective samples of 50 "
                       r"\(the weights exp\(−\(d/k\)²\) of cosine distances d in \[0.\d+, 0.\d+\]\)"):
        lime(f, x_, segments, n_samples=50, kernel_width=kernel_width)
    assert not calls


def test_lime_at_the_default_width_is_unchanged():
    """kernel_weights now computes (d/k)² instead of d²/k²: the same value at ordinary widths."""
    x_ = torch.randn(1, 3, 16, 16)
    segments = (torch.arange(16)[:, None] // 4) * 4 + torch.arange(16)[None, :] // 4
    f = lambda batch: batch[:, 0].sum((1, 2))[:, None]  # noqa: E731
    states = lime_module.sample_states(50, 16, 0)
    d = lime_module.cosine_distance(x_, segments, states)
    scores = f(perturb.masking.perturbed_inputs(x_, segments, states)).double()
    coef, _ = weighted_ridge(states, scores, torch.exp(-d ** 2), 1.0)
    expected = coef / coef.abs().max()
    torch.testing.assert_close(lime(f, x_, segments, n_samples=50), expected)


def test_a_singular_ridge_system_is_a_value_error():
    z = torch.tensor([[1, 0], [1, 0], [1, 0]], dtype=torch.bool)     # superpixel 0 never changes
    with pytest.raises(ValueError, match=r"the weighted ridge system is singular.*use alpha > 0"):
        weighted_ridge(z, torch.randn(3, 1), torch.ones(3), alpha=0.0)
