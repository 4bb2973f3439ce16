"""DeepLIFT rules (Shrikumar et al. 2017; paper sections 2.2 and 3.2.2), one small class each.

A multiplier m = C/Δa turns a difference from the reference into a contribution, Δt = Σ m·Δa, and
multipliers chain like derivatives (m_{Δa Δt} = Σ_j m_{Δa Δy_j} m_{Δy_j Δt}): autograd's chain rule
computes DeepLIFT once each layer's local gradient is replaced by its multiplier. A rule does that
for one module, called by the hooks of `deeplift.attribute` in two passes:

- reference pass (no graph): `record(module, a0, z0, hooks)` returns what the input pass needs of
  the reference (default: the layer's reference input a0; None: nothing);
- input pass: `rule(module, a, z, ref, hooks)` returns a tensor with the value of the output z whose
  gradient with respect to the input a is the multiplier. Most rules implement only
  `forward(module, a, z, ref)`, typically `stand_in(z, m * a)` with m computed without a graph.

Shapes: a, z [N,...]; the reference pass may run on one row [1,...], which broadcasts. Where a
difference is below EPS the quotient is meaningless (0/0) and the ordinary gradient is used instead,
as in the original DeepLIFT code; no NaN or inf can come out.
"""
import torch
import torch.nn.functional as F
from torch import nn

from lrp.engine import affine, flat, gamma_weights, parameters, route, stand_in
from lrp.redistribute import redistribute
from ssd.checks import check_hyperparameter

EPS = 1e-10


def rescale(delta_in: torch.Tensor, delta_out: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """m = Δy/Δx element-wise (eq. 2.2); `gradient` where |Δx| < EPS. All broadcastable to [N,...]."""
    small = delta_in.abs() < EPS
    return torch.where(small, gradient, delta_out / delta_in)     # where small, the quotient is not used


class Rule:
    """A DeepLIFT rule of one module (module docstring). Subclasses implement `forward` (and `record`
    if they need more of the reference pass than its input); rules that need the call's leaf or the
    layer before them override `__call__`."""

    def record(self, module: nn.Module, a0: torch.Tensor, z0: torch.Tensor, hooks):
        """What the input pass needs of the reference pass (a0 [1 or N,...] input, z0 output)."""
        return a0

    def forward(self, module: nn.Module, a: torch.Tensor, z: torch.Tensor, ref) -> torch.Tensor:
        """The output: value z [N,...], gradient with respect to a [N,...] the multiplier."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(module, a, z, ref)")

    def __call__(self, module: nn.Module, a: torch.Tensor, z: torch.Tensor, ref, hooks) -> torch.Tensor:
        """The hook's return value; `hooks` is the call's `lrp.hooks.Hooks` (its `unit`, `at_input`,
        `producer`)."""
        return self.forward(module, a, z, ref)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in vars(self).items())})"


class Gradient(Rule):
    """m = ∂z/∂a, the module's own gradient at the actual input (for max-pooling the original
    DeepLIFT default; it breaks exact summation-to-delta there)."""

    def record(self, module, a0, z0, hooks):
        return None

    def forward(self, module, a, z, ref):
        return z


class Linear(Rule):
    """Linear rule of a Conv2d/Linear: m = w, and with γ (paper section 3.2.2) m = w + γw⁺ in the
    backward pass only (the value stays z = w·a + b)."""

    def __init__(self, gamma: float = 0.0):
        self.gamma = check_hyperparameter("gamma", gamma)

    def record(self, module, a0, z0, hooks):
        return None

    def forward(self, module, a, z, ref):
        if self.gamma == 0:
            return z
        w, _ = parameters(module)
        return route(module, z, a, gamma_weights(w, self.gamma))      # stand_in(z, affine(a, w + γw⁺))


class Rescale(Rule):
    """Rescale rule of a ReLU (eq. 2.2): m = Δy/Δx = (relu(x) − relu(x0)) / (x − x0), 1[x > 0]
    where |Δx| < EPS. Lies in [0, 1]."""

    def record(self, module, x0, y0, hooks):
        return x0, y0

    def forward(self, module, x, y, ref):
        x0, y0 = ref                                   # y = relu(x), y0 = relu(x0): Δy = y − y0
        with torch.no_grad():
            m = rescale(x - x0, y - y0, (x > 0).to(x.dtype))
        return stand_in(y, m * x)


class RevealCancel(Rule):
    """RevealCancel (Shrikumar et al. 2017, §3.5.3) of a ReLU f reading the output x of a Conv2d/Linear.

    Δx = Δx⁺ + Δx⁻, the sums of the positive and of the negative terms w_i·Δa_i of that layer, and

        Δy⁺ = ½[f(x0 + Δx⁺) − f(x0)] + ½[f(x0 + Δx⁻ + Δx⁺) − f(x0 + Δx⁻)],   m⁺ = Δy⁺/Δx⁺
        Δy⁻ = ½[f(x0 + Δx⁻) − f(x0)] + ½[f(x0 + Δx⁺ + Δx⁻) − f(x0 + Δx⁺)],   m⁻ = Δy⁻/Δx⁻

    (1[x > 0] where |Δx±| < EPS); Δy⁺ + Δy⁻ = Δy keeps summation-to-delta. Each term w_i·Δa_i is
    multiplied by m⁺ or m⁻ according to its sign: with s⁺ = 1[Δa > 0] + ½·1[Δa = 0], s⁻ = 1 − s⁺
    (the masks of the original code), p = layer(Δa ⊙ s⁺; w⁺) + layer(Δa ⊙ s⁻; w⁻) has the value Δx⁺,
    and the output y.detach() + m⁻ ⊙ (x − x.detach()) + (m⁺ − m⁻) ⊙ (p − p.detach()) carries both.
    With the layer's rule Linear(γ), w⁺ becomes (1+γ)w⁺ in p's gradient too. A ReLU on the model
    input or after a ♭ first layer uses Rescale: there both agree (one term per unit; or only each
    unit's total is used).
    """

    def record(self, module, x0, y0, hooks):
        producer = hooks.producer(x0)
        if hooks.at_input(x0) or (producer is not None and isinstance(producer.rule, Flat)):
            return x0, None
        if producer is None or not isinstance(producer.module, (nn.Conv2d, nn.Linear)):
            raise ValueError("RevealCancel (rule='revealcancel') needs every ReLU to read the output of a "
                             f"Conv2d/Linear directly; {type(module).__name__} does not")
        return x0, producer.a

    def __call__(self, module, x, y, ref, hooks):
        x0, a0 = ref
        if a0 is None:
            return Rescale().forward(module, x, y, (x0, torch.relu(x0)))
        producer = hooks.producer(x)
        if producer is None:
            raise RuntimeError("the model called its layers differently for the input and the reference")
        layer, delta_a = producer.module, producer.a - a0
        w, _ = parameters(layer)
        s_pos = ((delta_a > 0).to(x.dtype) + 0.5 * (delta_a == 0).to(x.dtype)).detach()
        pos_from_pos = affine(layer, delta_a * s_pos, w.clamp(min=0))
        pos_from_neg = affine(layer, delta_a * (1 - s_pos), w.clamp(max=0))
        with torch.no_grad():
            m_pos, m_neg = self.multipliers(x, x0, pos_from_pos + pos_from_neg)
        p = (1 + getattr(producer.rule, "gamma", 0.0)) * pos_from_pos + pos_from_neg
        return y.detach() + m_neg * (x - x.detach()) + (m_pos - m_neg) * (p - p.detach())

    @staticmethod
    def multipliers(x: torch.Tensor, x0: torch.Tensor, delta_pos: torch.Tensor):
        """(m⁺, m⁻), each [N,...], for input x [N,...], reference x0 [1 or N,...] and Δx⁺ [N,...]."""
        f = torch.relu
        delta_neg = (x - x0) - delta_pos
        y0, y = f(x0), f(x)
        y_pos_only, y_neg_only = f(x0 + delta_pos), f(x0 + delta_neg)
        dy_pos = 0.5 * (y_pos_only - y0) + 0.5 * (y - y_neg_only)
        dy_neg = 0.5 * (y_neg_only - y0) + 0.5 * (y - y_pos_only)
        gradient = (x > 0).to(x.dtype)
        return rescale(delta_pos, dy_pos, gradient), rescale(delta_neg, dy_neg, gradient)


class Flat(Rule):
    """♭ rule of the layer that reads the model input (Bach et al. 2016; paper sections 3.2.1, 3.2.2):
    the contribution C_k = m_k·Δz_k of each output is spread evenly over the n_k inputs of its
    receptive field (all input channels, zero padding excluded), C_i = Σ_k C_k / n_k, so Σ_i C_i =
    Σ_k C_k (summation-to-delta holds). It does not depend on the layer's weights or on Δx_i:
    the gradient flows to the call's all-ones leaf through `lrp.engine.flat`."""

    def record(self, module, a0, z0, hooks):
        self._check(module, a0, hooks)
        return z0

    def __call__(self, module, a, z, z0, hooks):
        self._check(module, a, hooks)
        return stand_in(z, redistribute(z - z0, flat(module, hooks.unit)))

    @staticmethod
    def _check(module, a, hooks):
        if not hooks.at_input(a):
            raise ValueError("the Flat rule (first='flat') needs the first Conv2d/Linear to read the model input "
                             f"directly; {type(module).__name__} reads the output of another layer")


class L2NormRescale(Rule):
    """Rescale rule of an ℓ2-Norm y = α ⊙ x / (‖x‖ + eps) (paper section 3.2.2), element by element:
    m = Δy/Δx; where |Δx| < EPS the layer's own gradient (`module.forward` on x̃, which carries the
    graph only there), except at locations whose channels are all 0 (there the gradient is
    α/eps ≈ 1e10·α, an artefact of eps that would only amplify rounding noise): 0."""

    def record(self, module, x0, y0, hooks):
        return x0, y0

    def forward(self, module, x, y, ref):
        x0, y0 = ref
        with torch.no_grad():
            dx = x - x0
            small = dx.abs() < EPS
            m = rescale(dx, y - y0, torch.zeros_like(dx))
            alive = torch.linalg.vector_norm(x, dim=1, keepdim=True) > 0
        x_small = torch.where(small & alive, x, x.detach())
        y_small = module.forward(x_small)                 # the module's own map: its hooks do not run
        return y.detach() + m * (x - x.detach()) + (y_small - y_small.detach())


class MaxPoolRescale(Rule):
    """A max-pooling rule that keeps summation-to-delta (the rule Captum uses, which the paper ran).

    Window j with output y_j (input) and y0_j (reference), top_j = max(y_j, y0_j): Δy_j =
    (top_j − y0_j) + (y_j − top_j), the first part (≥ 0) credited to the input's maximum of window j,
    the second (≤ 0) to the reference's maximum. For input element i

        C_i = Σ_{j: argmax x = i} g_j (top_j − y0_j) + Σ_{j: argmax x0 = i} g_j (y_j − top_j),   m_i = C_i / Δx_i

    (the gradient where |Δx_i| < EPS; such an i only carries parts that are 0), so Σ_i m_i Δx_i =
    Σ_j g_j Δy_j. Built from gathers at the two argmax maps, whose gradients are these scatters.
    """

    def forward(self, module, x, y, x0):
        pool = dict(kernel_size=module.kernel_size, stride=module.stride, padding=module.padding,
                    dilation=module.dilation, ceil_mode=module.ceil_mode, return_indices=True)
        with torch.no_grad():
            _, at_x = F.max_pool2d(x.detach(), **pool)
            y0, at_x0 = F.max_pool2d(x0, **pool)
            at_x0 = at_x0.expand_as(at_x)
            dx = x - x0
            small = dx.abs() < EPS
            inverse = torch.where(small, torch.zeros_like(dx), 1 / torch.where(small, torch.ones_like(dx), dx))
            top = torch.maximum(y, y0)

        def gather(t, at):   # t [N,C,H,W] at flat indices [N,C,H',W'] -> [N,C,H',W']
            return t.flatten(2).gather(2, at.flatten(2)).view_as(at)

        scaled = x * inverse
        routed = (top - y0) * gather(scaled, at_x) + (y.detach() - top) * gather(scaled, at_x0) \
            + gather(x * small.to(x.dtype), at_x)
        return stand_in(y, routed)


class Unsupported(Rule):
    """Marks a module that a composite has no rule for; `deeplift.attribute` names all of them."""
