"""The backward-pass engine shared by `lrp` and `deeplift`: forward hooks that give a layer's output a
stand-in gradient, and the seeded backward pass that reads the explanation off an all-ones leaf.

Both methods explain x [N,...] by one forward pass with hooks and a backward pass of plain autograd:

    unit = 1 (leaf, shaped like x),   model input = x + (unit − 1) ⊙ Δ   (value x, ∂/∂unit = Δ)

so that the gradient reaching `unit` is Δ ⊙ (gradient at the input): LRP takes Δ = x (relevance
R = x ⊙ c, c the relevance per activation), DeepLIFT Δ = x − reference (contribution C = Δx ⊙ m,
m the multiplier). A rule replaces a layer's output z by a tensor of the same value whose gradient
is the rule's: `stand_in(z, path)` = z.detach() + (path − path.detach()) has value z and the gradient
of `path` (LRP's `redistribute` is the multiplicative form, d·(z/d)). A rule that does not scale with
the input (♭) routes its gradient through `unit` directly (`flat`).

Hooks (`Hooks`) belong to one call: they are gated by a context variable naming that call, so hooks
of a call running in another thread (each thread has its own context) do nothing, and no per-call
state lives on the model's modules. A module with `inplace=True` (ReLU) is handed a copy of its input
by a pre-hook, so that the rule still sees the input; `inplace` itself is never changed. The hooks
are removed in `finally`, also on KeyboardInterrupt.

The seeded backward (`backward`) runs K seeds through the retained graph either as a loop of K
backward passes or as one batched pass (`is_grads_batched`, a vmap over the seeds); the loop is
faster on the CPU, the batched pass on CUDA, and both give the same result (tests check it).
Both are possible because every op has a vmap rule. Two custom autograd functions carry the
convolutions of the rules: `affine`'s (the modified map, value and gradient) and `route`'s (value z,
gradient of a modified map, for a rule that changes only the gradient). Their backward is
`conv_input_gradient`, which computes the transpose only on the window of the input that a
gradient reaches: a target's gradient is non-zero only within its receptive field, so the backward
of a target on an early feature map skips most of the large maps (same values; through vmap, the
whole transpose).
"""
import contextvars
import math
import numbers
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

BACKWARDS = ("auto", "loop", "vmap")
_CALL = contextvars.ContextVar("xai_engine_call", default=None)


# --- checks ---------------------------------------------------------------------------------
# The argument checks of every package (lrp, deeplift, perturb, and ssd.check_input), network-agnostic,
# so that bad input fails at once with a message that names the problem instead of deep inside torch or
# as a silently wrong result (one NaN pixel makes every heatmap NaN).

def _count_non_finite(x: torch.Tensor) -> str:
    """'n NaN and m ±inf values (of N; the first at [i, j, …])' of a tensor holding some."""
    bad = ~torch.isfinite(x)
    nan = int(torch.isnan(x).sum())
    first = [int(i) for i in torch.nonzero(bad)[0]]
    return f"{nan} NaN and {int(bad.sum()) - nan} ±inf values (of {x.numel()}; the first at {first})"


def check_tensor(x, name: str = "x", dtype: torch.dtype = None, device: torch.device = None) -> torch.Tensor:
    """`x` itself if it is a floating-point torch tensor (of `dtype` and on `device` where given) with
    only finite values. Raises TypeError if `x` is not a tensor, ValueError otherwise; the message
    names the dtype or device asked for, or counts the NaN and ±inf values. Other dtypes are named,
    never cast, so that what is explained is exactly what was given."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} is {x.dtype}, not floating point: pass x.to({dtype or torch.float32})")
    if dtype is not None and x.dtype != dtype:
        fix = {torch.float32: "x.float()", torch.float64: "x.double()"}.get(dtype, f"x.to({dtype})")
        raise ValueError(f"{name} is {x.dtype} but the model computes in {dtype}: pass {fix} "
                         f"(inputs are not cast, so that what is explained is what was given)")
    if device is not None and x.device != torch.device(device):
        raise ValueError(f"{name} is on {x.device} but the model on {device}: pass x.to('{device}')")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} has {_count_non_finite(x)}: every value must be finite")
    return x


def check_integer(value, name: str, low: int | None = 1) -> int:
    """`value` as an int if it is an integer (not a bool, not a float such as 2.0 or nan) ≥ `low`
    (None: any integer); ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (low is not None and value < low):
        bound = "an integer" if low is None else f"an integer ≥ {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return int(value)


def check_real(value, name: str, within=lambda v: True, interval: str = "") -> float:
    """`value` as a float if it is a finite real number for which `within(value)` holds; ValueError
    naming `name` and `interval` (e.g. "> 0", ">= 0") otherwise. A bool is not a number here."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and within(value)):
        raise ValueError(f"{name} must be a finite number {interval}".rstrip() + f", got {value!r}")
    return float(value)


def check_hyperparameter(name: str, value, low: float = 0.0) -> float:
    """A rule's hyperparameter (ε, γ) as a float: a finite number >= low (`check_real`)."""
    return check_real(value, name, lambda v: v >= low, f">= {low:g}")


# --- building blocks of rules -----------------------------------------------------------------

def stand_in(value: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
    """A tensor with the value of `value` and the gradient of `path` (same shape, any):
    value.detach() + (path − path.detach())."""
    return value.detach() + (path - path.detach())


def _memory_format(t: torch.Tensor) -> torch.memory_format:
    """channels_last if `t` [N,C,H,W] is stored that way (and not also plain contiguous), else contiguous."""
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _is_batched(t: torch.Tensor) -> bool:
    """Whether `t` is a batch of seeds seen through vmap, whose values cannot be read: the legacy vmap
    of `autograd.grad(is_grads_batched=True)`, or functorch's."""
    functorch = torch._C._functorch
    return bool(functorch.is_legacy_batchedtensor(t) or functorch.is_batchedtensor(t))


def _transposed_conv(grad, weight, geometry, input_shape, memory_format, padding=None) -> torch.Tensor:
    """Σ_k ∂z_k/∂a_j · grad_k for z = conv2d(a, weight) (no bias): the convolution's transpose
    [N,C_out,H',W'] -> input_shape [N,C_in,H,W], in `memory_format` (the layout of a, so that the
    kernel is as fast as autograd's own)."""
    stride, own_padding, dilation, groups = geometry
    like = torch.empty(input_shape, dtype=grad.dtype, device=grad.device, memory_format=memory_format)
    return torch.ops.aten.convolution_backward(
        grad, like, weight, None, stride, own_padding if padding is None else padding, dilation,
        False, (0, 0), groups, (True, False, False))[0]


def _zeros(like: torch.Tensor, shape, memory_format) -> torch.Tensor:
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=memory_format).zero_()


def conv_input_gradient(grad, weight, geometry, input_shape, memory_format) -> torch.Tensor:
    """The gradient at the input a [N,C_in,H,W] of conv2d(a, weight) for `grad` [N,C_out,H',W'] at its
    output (`_transposed_conv`), computed only where `grad` can reach.

    A target's gradient is non-zero only inside its receptive field, often a small window of an
    early feature map. With the non-zero output rows r0..r1−1 (columns alike), stride s, padding p,
    dilation δ and kernel size k, the inputs reached are rows i0 = r0·s − p up to i1 = (r1−1)·s − p
    + δ(k−1) + 1 (exclusive): the transpose of an unpadded convolution of that window, cut to the
    map (rows < 0 or ≥ H are the zero padding). Everything else is exactly 0. Seeds seen through
    vmap, small or unbatched maps, light kernels (C_in/groups · k² < 256, as in narrow networks' first
    layers) and windows of more than half the map take the whole transpose.
    """
    light = weight[0].numel() < 256          # narrow layers: cropping saved nothing measurable (README, Cost)
    if _is_batched(grad) or grad.dim() != 4 or grad.numel() < 2 ** 16 or light:
        return _transposed_conv(grad, weight, geometry, input_shape, memory_format)
    live = grad.any(dim=1).any(dim=0)                                         # [H', W'], non-zero
    rows, cols = live.any(dim=1).nonzero()[:, 0], live.any(dim=0).nonzero()[:, 0]
    if rows.numel() == 0:
        return _zeros(grad, input_shape, memory_format)
    (r0, r1), (c0, c1) = (int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1)
    if (r1 - r0) * (c1 - c0) > live.numel() // 2:
        return _transposed_conv(grad, weight, geometry, input_shape, memory_format)
    stride, padding, dilation, _ = geometry
    windows = []                                   # per axis: input span [i0, i1) reached by outputs [o0, o1)
    for o0, o1, s, p, d, k in zip((r0, c0), (r1, c1), stride, padding, dilation, weight.shape[2:]):
        windows.append((o0 * s - p, (o1 - 1) * s - p + d * (k - 1) + 1))
    (i0, i1), (j0, j1) = windows
    part = _transposed_conv(grad[:, :, r0:r1, c0:c1], weight, geometry,
                            (*input_shape[:2], i1 - i0, j1 - j0), memory_format, padding=(0, 0))
    height, width = input_shape[2:]
    out = _zeros(grad, input_shape, memory_format)
    out[:, :, max(i0, 0):min(i1, height), max(j0, 0):min(j1, width)] = \
        part[:, :, max(-i0, 0):part.shape[2] - max(i1 - height, 0), max(-j0, 0):part.shape[3] - max(j1 - width, 0)]
    return out


def _geometry(module: nn.Module):
    """(stride, padding, dilation, groups) of a zero-padded Conv2d; None for a Linear."""
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"these rules support zero padding only, got padding_mode={module.padding_mode!r}")
        return module.stride, module.padding, module.dilation, module.groups
    if isinstance(module, nn.Linear):
        return None
    raise ValueError(f"this rule applies to Conv2d and Linear layers, not to {type(module).__name__}")


class _Conv(torch.autograd.Function):
    """conv2d(a, weight, bias) whose backward (to `a` only: rules never differentiate parameters)
    is `conv_input_gradient`, which skips the parts of the map a gradient does not reach."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a, weight, bias, geometry):
        stride, padding, dilation, groups = geometry
        return F.conv2d(a, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, weight, _, geometry = inputs
        ctx.a_shape, ctx.a_format, ctx.geometry = a.shape, _memory_format(a), geometry
        ctx.save_for_backward(weight)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        return conv_input_gradient(grad, weight, ctx.geometry, ctx.a_shape, ctx.a_format), None, None, None


class _Route(torch.autograd.Function):
    """Value z (a copy, in z's memory layout); gradient with respect to the layer input `a` that of
    a ↦ affine(module, a, weight), i.e. the map's transpose applied to the incoming gradient; none
    for z itself."""

    generate_vmap_rule = True          # the backward is plain ops, so batched seeds (vmap) work

    @staticmethod
    def forward(z, a, weight, geometry):
        return z.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, a, weight, geometry = inputs
        ctx.a_shape, ctx.a_format, ctx.geometry = a.shape, _memory_format(a), geometry
        ctx.save_for_backward(weight)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        if ctx.geometry is None:                                              # Linear: [.., out] -> [.., in]
            return None, grad @ weight, None, None
        return None, conv_input_gradient(grad, weight, ctx.geometry, ctx.a_shape, ctx.a_format), None, None


def route(module: nn.Module, z: torch.Tensor, a: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A tensor with the value of the layer output `z` whose gradient with respect to the layer
    input `a` is that of `affine(module, a, weight)`, without running that map forward: equal to
    `stand_in(z, affine(module, a, weight))` at the cost of the backward alone, for a rule that
    changes only the gradient of a linear layer (DeepLIFT's γ rule, w + γw⁺)."""
    return _Route.apply(z, a, weight, _geometry(module))


def parameters(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The module's weight and bias, detached (rules never build graphs through parameters)."""
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        raise ValueError(f"this rule applies to Conv2d and Linear layers, not to {type(module).__name__}")
    bias = module.bias.detach() if module.bias is not None else None
    return module.weight.detach(), bias


def affine(module: nn.Module, a: torch.Tensor, weight: torch.Tensor,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """`module`'s map (stride, padding, dilation, groups of a Conv2d; or a Linear) applied to `a` with
    `weight` and `bias` in place of its own parameters.

    Conv2d: a [N,Cin,H,W], weight [Cout,Cin/groups,kh,kw] -> [N,Cout,H',W'];
    Linear: a [N,...,in], weight [out,in] -> [N,...,out].
    """
    geometry = _geometry(module)
    if geometry is None:
        return F.linear(a, weight, bias)
    if weight.requires_grad or (bias is not None and bias.requires_grad):   # a graph through parameters
        return F.conv2d(a, weight, bias, *geometry)
    return _Conv.apply(a, weight, bias, geometry)


def gamma_weights(weight: torch.Tensor, gamma: float, part: str = "positive") -> torch.Tensor:
    """The γ-scaled weights w + γw⁺ (part="positive"; w + γw⁻ for part="negative"), shaped like w."""
    if part == "positive":
        return weight + gamma * weight.clamp(min=0)
    return weight + gamma * weight.clamp(max=0)


def flat(module: nn.Module, unit: torch.Tensor) -> torch.Tensor:
    """The ♭ rule's modified forward: n_k = Σ_i 1 over the inputs i in output k's receptive field
    (zero padding excluded), as a differentiable function of the all-ones `unit` [N,...] -> shaped
    like the layer output. A gradient g_k arriving at n_k reaches input i as Σ_k g_k over the
    outputs k that read i, so seeding it with R_k / n_k spreads R_k evenly over its field."""
    w, _ = parameters(module)
    return affine(module, unit, torch.ones_like(w))


# --- hooks of one call --------------------------------------------------------------------------

class AtInput:
    """Rule choice by position: `first` for the layer that reads the model input, `other` (or None:
    no rule) for the same layer type elsewhere. Resolved by `Hooks` during the forward pass."""

    def __init__(self, first, other):
        self.first, self.other = first, other

    def __repr__(self) -> str:
        return f"AtInput(first={self.first!r}, other={self.other!r})"


class Produced:
    """The last hooked module call of a pass: `output` (what it returned), `module`, `rule` and its
    input `a` (for rules that look at the layer that computed their input, e.g. RevealCancel)."""

    def __init__(self, output, module, rule, a):
        self.output, self.module, self.rule, self.a = output, module, rule, a


class Hooks:
    """Context manager: forward hooks of one call on every module with a rule.

    rules(name, module) -> rule | None; `apply(call, module, rule, a, z)` -> the output to use (or
    None: keep z) is called for each hooked module call, with `rule` resolved (`AtInput`). `model_input`
    is set by the caller before each forward pass; `unit` is the leaf; `at_input(a)` tells whether `a`
    is the model input; `producer(t)` returns the `Produced` record of the last hooked call if `t` is
    its output, else None. `keep`: a dict whose keys are hooked modules; each value becomes the
    module's output as the rules left it (of its last call), so that a backward pass can start
    there (a detector's head) instead of at the model output. Hooks act only in the context that
    entered this call (see module docstring).
    """

    def __init__(self, model: nn.Module, rules: Callable, apply: Callable, keep: dict | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model, self.apply = model, apply
        self.keep = {} if keep is None else keep   # {module: its output as the rules left it, last call}
        self.rules = [(m, r) for name, m in model.named_modules() if (r := rules(name, m)) is not None]
        self.model_input = self.unit = self.last = None
        self.first_used = False
        self._copies = {}          # id(copy handed to an in-place module) -> its original input
        self._handles, self._token = [], None

    def at_input(self, a: torch.Tensor) -> bool:
        return a is self.model_input

    def producer(self, t: torch.Tensor) -> Produced | None:
        return self.last if self.last is not None and self.last.output is t else None

    def _active(self) -> bool:
        return _CALL.get() is self

    def _forward_hook(self, rule):
        def hook(module, inputs, output):
            if not self._active():
                return None
            a = inputs[0]
            a = self._copies.pop(id(a), (None, a))[1]
            chosen = rule
            if isinstance(rule, AtInput):
                chosen = rule.first if self.at_input(a) else rule.other
                self.first_used |= self.at_input(a)
            out = None if chosen is None else self.apply(self, module, chosen, a, output)
            self.last = Produced(output if out is None else out, module, chosen, a)
            if module in self.keep:
                self.keep[module] = self.last.output
            return out
        return hook

    def _copy_input(self, module, inputs):
        if not self._active() or not inputs:
            return None
        a = inputs[0]
        copy = a.clone()
        self._copies[id(copy)] = (copy, a)     # the copy is kept alive, so that its id stays unique
        return (copy,) + tuple(inputs[1:])

    def __enter__(self):
        self._token = _CALL.set(self)
        try:
            for module, rule in self.rules:
                if getattr(module, "inplace", False) is True:
                    self._handles.append(module.register_forward_pre_hook(self._copy_input))
                self._handles.append(module.register_forward_hook(self._forward_hook(rule)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        try:
            for handle in self._handles:
                handle.remove()
        finally:
            self._handles.clear()
            self._copies.clear()
            self.last = None
            if self._token is not None:
                _CALL.reset(self._token)
                self._token = None


def leaf(x: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit, model_input): the all-ones leaf [N,...] shaped like x and x + (unit − 1) ⊙ Δ, whose value
    is exactly x and whose gradient with respect to unit is Δ (broadcast to x's shape)."""
    unit = torch.ones_like(x, requires_grad=True)
    return unit, x + (unit - 1) * delta


def forward(hooks: Hooks, model_input: torch.Tensor, unit: torch.Tensor | None = None):
    """model(model_input) with `hooks` entered (they see `model_input` and `unit`); grad enabled if a
    `unit` is given, else the caller's grad mode. Raises a ValueError if a first-layer rule (`AtInput`)
    found no layer reading the model input."""
    hooks.model_input, hooks.unit, hooks.last, hooks.first_used = model_input, unit, None, False
    with torch.set_grad_enabled(True if unit is not None else torch.is_grad_enabled()):
        output = hooks.model(model_input)
    firsts = [r.first for _, r in hooks.rules if isinstance(r, AtInput) and r.first is not None]
    if firsts and not hooks.first_used:
        raise ValueError(f"the first-layer rule {firsts[0]!r} found no layer that reads the model input: it needs "
                         "the first Conv2d/Linear to read the model input directly")
    return output


# --- the seeded backward ----------------------------------------------------------------------

def seeded(output, seed, batched: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs (output, seed) for the outputs that have a seed, with shapes checked.

    output: a tensor or a tuple of tensors; seed: shaped like output ([K, *output.shape] if
    `batched`), or for a tuple output a tuple with one such seed or None per output."""
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    seeds = list(seed) if isinstance(seed, (tuple, list)) else [seed]
    if len(outputs) != len(seeds):
        raise ValueError(f"the model returns {len(outputs)} outputs but {len(seeds)} seeds were given "
                         "(give a tuple with one tensor or None per output)")
    pairs = []
    for o, s in zip(outputs, seeds):
        if s is None:
            continue
        s = torch.as_tensor(s, device=o.device, dtype=o.dtype)
        expected = ((s.shape[0],) if batched and s.dim() > 0 else ()) + tuple(o.shape)
        if tuple(s.shape) != expected:
            raise ValueError(f"seed shape {tuple(s.shape)} does not match the output: expected {expected}"
                             + (" ([K, *output.shape] because batched=True)" if batched else ""))
        pairs.append((o, s))
    if not pairs:
        raise ValueError("no seed given: every seed is None")
    return pairs


def backward(unit: torch.Tensor, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], batched: bool = False,
             retain_graph: bool = False, mode: str = "auto") -> torch.Tensor:
    """The gradient at `unit` [N,...] for gradients `pairs` [(output, grad)] placed on the outputs.

    batched: each grad is [K, *output.shape] and the result [K, *unit.shape]. mode: "loop" (K
    backward passes through the retained graph), "vmap" (one batched pass, `is_grads_batched`) or
    "auto" (loop on the CPU, vmap elsewhere); the result does not depend on it. Outputs that do not
    depend on the input give zeros.
    """
    if mode not in BACKWARDS:
        raise ValueError(f"unknown backward mode {mode!r}: use one of {BACKWARDS}")
    outputs = [o for o, _ in pairs]
    grads = [g for _, g in pairs]
    if not batched:
        return _grad(unit, outputs, grads, retain_graph, False, ())
    k = grads[0].shape[0]
    if mode == "auto":
        mode = "loop" if unit.device.type == "cpu" else "vmap"
    if k == 1 or mode == "loop":
        maps = []
        for i in range(k):     # an output whose seed row is all zero adds nothing: it is not traversed
            live = [(o, g[i]) for o, g in zip(outputs, grads) if bool(g[i].any())]
            maps.append(_grad(unit, [o for o, _ in live], [g for _, g in live], retain_graph or i < k - 1, False, ())
                        if live else unit.new_zeros(unit.shape))
        return torch.stack(maps)
    return _grad(unit, outputs, grads, retain_graph, True, (k,))


def _grad(unit, outputs, grads, retain_graph, is_grads_batched, lead) -> torch.Tensor:
    (g,) = torch.autograd.grad(outputs, unit, grads, retain_graph=retain_graph,
                               is_grads_batched=is_grads_batched, allow_unused=True)
    return unit.new_zeros(lead + tuple(unit.shape)) if g is None else g


def target_maps(unit: torch.Tensor, seeds: Sequence[tuple[torch.Tensor, tuple]], weights: torch.Tensor,
                chunk: int, mode: str = "auto") -> torch.Tensor:
    """Maps [K,H,W] for K one-hot seeds of one image: seed k is weights[k] at the index seeds[k][1] of
    the tensor seeds[k][0] (a model output, or a head's output kept by `Hooks`, nothing elsewhere);
    the gradient at unit [1,C_in,H,W] summed over its channels. Seeding each target where its score
    is computed (its head) keeps the backward out of the parts of the network it does not depend on.
    `chunk` seeds share one seed tensor per seeded tensor [chunk, *shape] (and one batched pass)."""
    if int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}")
    k, maps = len(seeds), []
    for start in range(0, k, chunk):
        part = range(start, min(start + chunk, k))
        tensors = list({id(seeds[i][0]): seeds[i][0] for i in part}.values())
        pairs = []
        for t in tensors:
            seed = t.new_zeros((len(part),) + tuple(t.shape))
            for row, i in enumerate(part):
                if seeds[i][0] is t:
                    seed[(row,) + tuple(seeds[i][1])] = weights[i]
            pairs.append((t, seed))
        g = backward(unit, pairs, batched=True, retain_graph=start + chunk < k, mode=mode)
        maps.append(g[:, 0].sum(dim=1))
    return torch.cat(maps)
