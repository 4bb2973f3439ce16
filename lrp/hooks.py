"""The forward hooks of one call, shared by `lrp` and `deeplift`: the all-ones leaf, the rules put on
the layers for one forward pass, and that pass.

`leaf(x, Δ)` gives unit = 1 (shaped like x) and the model input x + (unit − 1) ⊙ Δ, whose value is x
and whose gradient with respect to unit is Δ: the gradient reaching `unit` is Δ ⊙ (gradient at the
input), the explanation itself (`lrp.engine`).

`Hooks` belong to one call: they are gated by a context variable naming that call, so hooks of a call
running in another thread (each thread has its own context) do nothing, and no per-call state lives
on the model's modules. A module with `inplace=True` (ReLU) is handed a copy of its input by a
pre-hook, so that the rule still sees the input; `inplace` itself is never changed. The hooks are
removed in `finally`, also on KeyboardInterrupt. `forward(hooks, model_input, unit)` is the model's
forward pass with them in place.
"""
import contextvars
from typing import Callable

import torch
from torch import nn

_CALL = contextvars.ContextVar("xai_engine_call", default=None)


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
