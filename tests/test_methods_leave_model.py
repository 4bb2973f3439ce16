"""Every public explain/attribute leaves the model as it found it: no hooks, ReLU.inplace as it was,
parameters, their .grad and requires_grad unchanged; also when the forward pass raises (here: an interruption
like KeyboardInterrupt, from a hook of the test's own on the second block)."""
import pytest
import torch

import deeplift
import lrp
import perturb
import ssd
from eval import methods

CONFIG = ssd.SHAPES_SSD512.replace(width=1 / 64)
TARGETS = [ssd.Target(21000, 6), ssd.Target(3000, 4)]


def seed_on_logits(model, x, k):
    """(one-hot seed [1,P,C] on target k's logit, None for the box deltas), made without a forward pass."""
    seed = torch.zeros(1, len(ssd.priors(CONFIG)), CONFIG.num_classes)
    seed[0, TARGETS[k].prior, TARGETS[k].label] = 1.0
    return seed, None


CALLS = {
    "lrp.explain": lambda model, x: lrp.explain(model, x, TARGETS),
    "lrp.attribute": lambda model, x: lrp.attribute(model, x, seed_on_logits(model, x, 0),
                                                     lrp.composite(conv=lrp.Gamma(0.1), first=lrp.Flat())),
    "deeplift.explain": lambda model, x: deeplift.explain(model, x, TARGETS, rule="revealcancel", maxpool="rescale"),
    "deeplift.attribute": lambda model, x: deeplift.attribute(
        model, x, deeplift.blur(x), seed_on_logits(model, x, 1),
        deeplift.composite(linear=deeplift.Linear(0.1), first=deeplift.Flat(),
                           layers={ssd.L2Norm: deeplift.L2NormRescale()})),
    "perturb lime": lambda model, x: perturb.explain(model, x, TARGETS, method="lime", n=12, n_samples=6),
    "perturb shap": lambda model, x: perturb.explain(model, x, TARGETS, method="shap", n=12, n_permutations=1),
    "gradient": lambda model, x: methods.get("gradient").explain(model, x, TARGETS),
    "drise": lambda model, x: methods.get("drise").explain(model, x, TARGETS, n_masks=3),
    "gradcam": lambda model, x: methods.get("gradcam").explain(model, x, TARGETS + [ssd.BoxTarget(3000, "h")]),
}


class Interrupted(BaseException):
    """Like KeyboardInterrupt: not an Exception, so that no `except Exception` swallows it."""


def model_and_state():
    torch.manual_seed(0)
    model = ssd.SSD(CONFIG).eval()
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    for i, m in enumerate(relus):
        m.inplace = i % 2 == 0                       # both kinds, so that either would show a change
    for p in list(model.parameters())[::3]:
        p.grad = torch.full_like(p, 0.5)             # a .grad that must survive as it is
    for p in list(model.parameters())[1::4]:
        p.requires_grad_(False)                      # frozen and trainable parameters alike
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    return model, state, grads, [m.inplace for m in relus]


def assert_unchanged(model, state, grads, inplace):
    assert [p.requires_grad for p in model.parameters()] == [i % 4 != 1 for i, _ in enumerate(model.parameters())]
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               and not m._backward_pre_hooks for m in model.modules())
    assert [m.inplace for m in model.modules() if isinstance(m, torch.nn.ReLU)] == inplace
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    for n, p in model.named_parameters():
        assert (p.grad is None) == (grads[n] is None) and (p.grad is None or torch.equal(p.grad, grads[n])), n


@pytest.mark.parametrize("raises", [False, True], ids=["returns", "forward raises"])
@pytest.mark.parametrize("name", list(CALLS))
def test_model_left_as_it_was(name, raises):
    model, state, grads, inplace = model_and_state()
    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(1)) * 30
    if not raises:
        heatmaps = CALLS[name](model, x)
        assert torch.isfinite(heatmaps).all() and heatmaps.abs().sum() > 0
    else:
        def interrupt(module, inputs):
            raise Interrupted
        handle = model.features[1].register_forward_pre_hook(interrupt)
        with pytest.raises(Interrupted):
            CALLS[name](model, x)
        handle.remove()
    assert_unchanged(model, state, grads, inplace)
