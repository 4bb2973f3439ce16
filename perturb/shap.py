"""Permutation-sampling SHAP over superpixels (paper sections 2.4 and 3.2.4), with exact
receptive-field pruning, for all targets from the same forward passes.

Shapley value of superpixel s for target t (v_t(A) = f_t(input with only the superpixels in A kept)):
    φ_t(s) = E_π [ v_t(Pre_π(s) ∪ {s}) − v_t(Pre_π(s)) ]
where π is a uniformly random order of the S superpixels and Pre_π(s) those before s in π.
Each sampled π walks from the baseline (nothing kept) to the input (everything kept), crediting
each superpixel the change of every target's score when it is added; the values of one
permutation telescope to f(x) − f(baseline) (efficiency), so their average does too.

Receptive-field pruning. If f_t depends only on the pixels in rf[t] (a boolean [H,W] mask), a
superpixel s with no pixel in rf[t] never changes f_t: every marginal contribution, and so
φ_t(s), is exactly 0 (a null player). Call s *relevant* if it touches the RF of at least one
target. Adding an irrelevant superpixel changes no target's score, so its forward pass is
skipped and the score before it is reused; likewise the state after the last relevant
superpixel of a permutation scores f(x) on every target and needs no pass of its own. A pass is
skipped only when no target can see the change, so pruned and unpruned runs with the same
permutations give the same values for every target (up to floating point), and φ_t(s) is set
to exactly 0 wherever s lies outside rf[t], also when s is relevant to another target.
"""
import torch

from ssd.checks import check_integer

from .masking import check_baseline, check_inputs, evaluate


def check_settings(n_permutations: int, seed: int = 0, antithetic: bool = False) -> int:
    """n_permutations as an int: ValueError unless it is an integer ≥ 1 (even with `antithetic`) and
    seed an integer."""
    n_permutations = check_integer(n_permutations, "n_permutations", 1)
    check_integer(seed, "seed", None)
    if antithetic and n_permutations % 2:
        raise ValueError(f"antithetic sampling pairs permutations: n_permutations must be even, got {n_permutations}")
    return n_permutations


def sample_permutations(n_permutations: int, count: int, seed: int = 0, antithetic: bool = False) -> torch.Tensor:
    """Random orders of the S superpixels: int64 [M,S] (CPU generator: same on every device).

    With `antithetic`, permutations come in pairs (π, reverse(π)), so M must be even; the pair
    adds each superpixel once early and once late, which lowers the variance of the average.
    """
    n_permutations = check_settings(n_permutations, seed, antithetic)
    generator = torch.Generator().manual_seed(seed)
    drawn = n_permutations // 2 if antithetic else n_permutations
    perms = torch.stack([torch.randperm(count, generator=generator) for _ in range(drawn)])
    if antithetic:
        perms = torch.stack([perms, perms.flip(1)], dim=1).reshape(n_permutations, count)
    return perms


def inside_receptive_field(receptive_field: torch.Tensor, segments: torch.Tensor, count: int, targets: int) -> torch.Tensor:
    """Which superpixels touch each target's receptive field: mask [T,H,W] or [H,W] -> bool [T,S]."""
    rf = torch.as_tensor(receptive_field, device=segments.device)
    if rf.dtype != torch.bool:
        raise ValueError(f"receptive_field must be a boolean mask, got dtype {rf.dtype}")
    if rf.dim() == 2:
        rf = rf.expand(targets, *rf.shape)
    if rf.dim() != 3 or rf.shape[1:] != segments.shape or rf.shape[0] != targets:
        raise ValueError(f"receptive_field must be [H,W] or [T,H,W] = [{targets},{segments.shape[0]},"
                         f"{segments.shape[1]}], got {tuple(rf.shape)}")
    hits = torch.zeros(targets, count, dtype=torch.long, device=segments.device)
    hits.index_add_(1, segments.flatten(), rf.reshape(targets, -1).long())
    return hits > 0


def shap(f, x: torch.Tensor, segments: torch.Tensor, n_permutations: int = 4, seed: int = 0,
         batch_size: int | None = None, antithetic: bool = False, receptive_field=None, baseline=0.0,
         permutations=None) -> torch.Tensor:
    """Sampled Shapley values of every target for every superpixel: [T,S] (float64).

    f: score function [B,C,H,W] -> [B,T]; x: [1,C,H,W] or [C,H,W]; segments: int [H,W] with labels
    0..S-1; receptive_field: optional bool [H,W] or [T,H,W], the pixels each target can depend on
    (see the module docstring); permutations: optional int [M,S] orders to use instead of sampling
    (e.g. all S! of them for exact Shapley values). Cost: 2 + M·(S−1) model evaluations for any
    number of targets; with pruning 2 + M·(R−1), R = superpixels touching the union of the fields.
    x, the baseline and every score must be finite (`check_inputs`, `check_baseline`, `evaluate`).
    """
    x, segments, count = check_inputs(x, segments)
    baseline = check_baseline(baseline, x)
    if permutations is None:
        permutations = sample_permutations(n_permutations, count, seed, antithetic)
    permutations = torch.as_tensor(permutations, device=x.device).long()
    if permutations.dim() != 2 or permutations.shape[1] != count or permutations.shape[0] < 1 or not bool(
            (permutations.sort(dim=1).values == torch.arange(count, device=x.device)).all()):
        raise ValueError(f"permutations must be [M,{count}] orders of the superpixels 0..{count - 1}")
    device = x.device

    # baseline and input first: they fix T and anchor every permutation's walk
    ends = torch.zeros(2, count, dtype=torch.bool, device=device)
    ends[1] = True
    end_scores = evaluate(f, x, segments, ends, baseline, batch_size).double()        # [2,T]
    targets = end_scores.shape[1]
    if receptive_field is None:
        inside = torch.ones(targets, count, dtype=torch.bool, device=device)
    else:
        inside = inside_receptive_field(receptive_field, segments, count, targets)   # [T,S]
    relevant = inside.any(dim=0)                                                       # [S]

    # For each permutation: its relevant superpixels in order r_1..r_m. The states after adding
    # r_1..r_{m-1} are evaluated; before r_1 the score is f(baseline), after r_m it is f(x).
    states, owners = [], []     # owners: per permutation, the superpixels credited, in walk order
    rank = torch.empty_like(permutations)
    rank.scatter_(1, permutations, torch.arange(count, device=device).expand_as(permutations))
    for m, order in enumerate(permutations):
        steps = order[relevant[order]]                                                 # [m_rel]
        kept = rank[m][None, :] <= rank[m][steps[:-1]][:, None]                       # [m_rel-1, S]
        states.append(kept)
        owners.append(steps)
    middle = torch.cat(states)
    middle_scores = (evaluate(f, x, segments, middle, baseline, batch_size).double()
                     if middle.shape[0] else end_scores.new_zeros(0, targets))

    values = torch.zeros(targets, count, dtype=torch.float64, device=device)
    start = 0
    for steps in owners:
        if steps.numel() == 0:      # no superpixel any target can see
            continue
        n = steps.numel() - 1
        walk = torch.cat([end_scores[:1], middle_scores[start:start + n], end_scores[1:]])  # [m_rel+1,T]
        values.index_add_(1, steps, (walk[1:] - walk[:-1]).T)
        start += n
    values /= permutations.shape[0]
    return torch.where(inside, values, torch.zeros_like(values))
