"""The seeded backward shared by `lrp` and `deeplift`: gradients placed on outputs, read at the leaf.

After the hooked forward pass (`lrp.hooks`) the explanation of a seed (a gradient placed on the model
output, or on a head's output) is the gradient at the all-ones leaf `unit`. `backward` runs K seeds
through the retained graph either as a loop of K backward passes or as one batched pass
(`is_grads_batched`, a vmap over the seeds); the loop is faster on the CPU, the batched pass on CUDA,
and both give the same result (tests/test_engine.py checks it). Both are possible because every op of
the rules has a vmap rule (`lrp.kernels`). `target_maps` seeds each target of a detector where its
score is computed (one or more weighted outputs of its heads), so that its backward stays out of the
parts of the network it does not depend on.
"""
from typing import Sequence

import torch

BACKWARDS = ("auto", "loop", "vmap")


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


def target_maps(unit: torch.Tensor, seeds: Sequence[Sequence[tuple[torch.Tensor, tuple, float]]],
                chunk: int, mode: str = "auto") -> torch.Tensor:
    """Maps [K,H,W] for K seeds of one image: seed k places weight w at index i of tensor t for each
    (t, i, w) in seeds[k] (a model output, or a head's output kept by `Hooks`; nothing elsewhere),
    e.g. +1 and −1 on two logits for a contrast; the gradient at unit [1,C_in,H,W] summed over its
    channels. Seeding each target where its score is computed (its head) keeps the backward out of
    the parts of the network it does not depend on. `chunk` seeds share one seed tensor per seeded
    tensor [chunk, *shape] (and one batched pass)."""
    if int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk}")
    k, maps = len(seeds), []
    for start in range(0, k, chunk):
        part = range(start, min(start + chunk, k))
        tensors = list({id(t): t for i in part for t, _, _ in seeds[i]}.values())
        pairs = []
        for t in tensors:
            seed = t.new_zeros((len(part),) + tuple(t.shape))
            for row, i in enumerate(part):
                for tensor, index, weight in seeds[i]:
                    if tensor is t:
                        seed[(row,) + tuple(index)] += weight
            pairs.append((t, seed))
        g = backward(unit, pairs, batched=True, retain_graph=start + chunk < k, mode=mode)
        maps.append(g[:, 0].sum(dim=1))
    return torch.cat(maps)
