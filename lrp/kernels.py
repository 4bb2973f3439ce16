"""The convolutions of the rules, whose backward computes `F.conv2d`'s input gradient faster.

For z = conv2d(a, w) (a [N,C_in,H,W], w [C_out,C_in/groups,kh,kw], z [N,C_out,H',W']) the gradient at
the input for a gradient g at the output is the convolution's transpose,

    ∂/∂a_j Σ_k g_k z_k = Σ_k ∂z_k/∂a_j · g_k,

which is what autograd computes for `F.conv2d`. `conv_input_gradient` computes exactly that: the same
values as the whole transpose (tests/test_engine.py compares them at the map's borders, with strides,
dilation, groups and both memory layouts). It is faster where a rule's backward is slow:

- Only the window of the input that the gradient reaches is transposed. A target's gradient is
  non-zero only inside its receptive field, often a small window of an early feature map; every
  output outside the window adds exactly 0, so the transpose of the window alone, cut to the map,
  is the whole input gradient there and everything else is 0.
- The transpose is computed in the memory layout of the activation a (channels-last stays
  channels-last), as autograd's own kernel is; torch's `conv2d_input` makes a contiguous stand-in.
- Where the window cannot be read or saves nothing, the whole transpose is taken: seeds batched
  through vmap (their values cannot be read inside it), unbatched or small maps, light kernels
  (narrow networks' first layers) and windows of more than half the map.

`Conv` (conv2d, for `lrp.engine.affine`) and `Route` (value z, gradient of a modified map, for
`lrp.engine.route`) are the autograd functions whose backward this is. Both have a vmap rule, so a
batched backward of many seeds (`is_grads_batched`) runs through them.
"""
import torch
import torch.nn.functional as F


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

    With the non-zero output rows r0..r1−1 (columns alike), stride s, padding p, dilation δ and kernel
    size k, the inputs reached are rows i0 = r0·s − p up to i1 = (r1−1)·s − p + δ(k−1) + 1 (exclusive):
    the transpose of an unpadded convolution of that window, cut to the map (rows < 0 or ≥ H are the
    zero padding). Everything else is exactly 0. Seeds seen through vmap, small or unbatched maps,
    light kernels (C_in/groups · k² < 256) and windows of more than half the map take the whole
    transpose (module docstring).
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


def _remember(ctx, a: torch.Tensor, weight: torch.Tensor, geometry) -> None:
    """What the backward of `Conv` and `Route` needs of the forward: a's shape and layout, the weight."""
    ctx.a_shape, ctx.a_format, ctx.geometry = a.shape, _memory_format(a), geometry
    ctx.save_for_backward(weight)


class Conv(torch.autograd.Function):
    """conv2d(a, weight, bias) with geometry (stride, padding, dilation, groups), whose backward (to `a`
    only: rules never differentiate parameters) is `conv_input_gradient`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a, weight, bias, geometry):
        stride, padding, dilation, groups = geometry
        return F.conv2d(a, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, weight, _, geometry = inputs
        _remember(ctx, a, weight, geometry)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        return conv_input_gradient(grad, weight, ctx.geometry, ctx.a_shape, ctx.a_format), None, None, None


class Route(torch.autograd.Function):
    """Value z (a copy, in z's memory layout); gradient with respect to the layer input `a` that of
    the map a ↦ conv2d(a, weight) with `geometry` (a ↦ a @ weight.T for geometry None: a Linear), i.e.
    the map's transpose applied to the incoming gradient; none for z itself."""

    generate_vmap_rule = True          # the backward is plain ops, so batched seeds (vmap) work

    @staticmethod
    def forward(z, a, weight, geometry):
        return z.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, a, weight, geometry = inputs
        _remember(ctx, a, weight, geometry)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        if ctx.geometry is None:                                              # Linear: [.., out] -> [.., in]
            return None, grad @ weight, None, None
        return None, conv_input_gradient(grad, weight, ctx.geometry, ctx.a_shape, ctx.a_format), None, None
