"""SHAP against exact Shapley values by enumeration of all coalitions, efficiency, sampling error,
antithetic pairs, and batching/seed/target-count invariances."""
import functools
import itertools
import math

import pytest
import torch

import perturb

PLAYERS = 6


def game(z: torch.Tensor) -> torch.Tensor:
    """Three nonlinear games on 6 players: z [B,6] in {0,1} -> [B,3] (products, max, thresholds)."""
    product = z[:, 0] * z[:, 1] * z[:, 2] + 2 * z[:, 3] - 0.5 * z[:, 1] * z[:, 5]
    maximum = 3 * torch.maximum(z[:, 1], z[:, 4]) - z[:, 5] + 0.25
    threshold = ((z[:, :4] * torch.tensor([1.0, 0.5, 0.7, 0.3], dtype=z.dtype, device=z.device)).sum(1) > 1.1).to(z.dtype) \
        + 2 * (z[:, 4] * z[:, 5] > 0).to(z.dtype) * z[:, 0]
    return torch.stack([product, maximum, threshold], dim=1)


def setup(device):
    """One-pixel superpixels of value 1 with baseline 0, so that the pixels are the states."""
    x = torch.ones(1, 1, 1, PLAYERS, dtype=torch.float64, device=device)
    segments = torch.arange(PLAYERS, device=device)[None]
    return x, segments, lambda batch: game(batch[:, 0, 0, :])


@functools.lru_cache(maxsize=1)
def exact_shapley() -> torch.Tensor:
    """φ_i = Σ_{A ⊆ N∖{i}} |A|!(n−|A|−1)!/n! · (v(A ∪ {i}) − v(A)), enumerating all coalitions. [T,S]"""
    n = PLAYERS
    values = torch.zeros(3, n, dtype=torch.float64)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            for coalition in itertools.combinations(others, size):
                without = torch.zeros(1, n, dtype=torch.float64)
                without[0, list(coalition)] = 1
                with_i = without.clone()
                with_i[0, i] = 1
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                values[:, i] += weight * (game(with_i) - game(without))[0]
    return values


@functools.lru_cache(maxsize=1)
def marginal_std() -> torch.Tensor:
    """Standard deviation over uniformly random permutations of each player's marginal contribution [T,S]."""
    perms = torch.tensor(list(itertools.permutations(range(PLAYERS))))               # [M,S]
    rank = torch.argsort(perms, dim=1)                                                # position of each player
    steps = torch.arange(-1, PLAYERS)
    states = (rank[:, None, :] <= steps[None, :, None]).double()                     # [M,S+1,S]: after k steps
    scores = game(states.reshape(-1, PLAYERS)).reshape(len(perms), PLAYERS + 1, 3)
    gains = scores[:, 1:] - scores[:, :-1]                                            # [M,S,T]: step k adds perms[:,k]
    marginal = torch.gather(gains, 1, rank[:, :, None].expand(-1, -1, 3))            # [M,S(player),T]
    return marginal.std(dim=0, unbiased=False).T


def test_all_permutations_give_exact_shapley_values(device):
    x, segments, f = setup(device)
    everything = torch.tensor(list(itertools.permutations(range(PLAYERS))))
    values = perturb.shap(f, x, segments, permutations=everything, batch_size=256)
    torch.testing.assert_close(values.cpu(), exact_shapley(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_permutations,antithetic", [(1, False), (3, False), (4, True)])
def test_efficiency_for_any_number_of_permutations(device, n_permutations, antithetic):
    x, segments, f = setup(device)
    values = perturb.shap(f, x, segments, n_permutations=n_permutations, antithetic=antithetic, seed=5)
    delta = game(torch.ones(1, PLAYERS, dtype=torch.float64)) - game(torch.zeros(1, PLAYERS, dtype=torch.float64))
    torch.testing.assert_close(values.sum(1).cpu(), delta[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("antithetic", [False, True])
def test_sampling_error_within_bound(antithetic):
    """The estimate averages M marginal contributions of standard deviation σ (exact, by enumeration):
    its error is within 5·σ/√M (M = 200 independent permutations; with antithetic pairs, each pair's
    mean has variance ≤ σ², so the bound 5·σ/√(M/2) holds). Five standard errors: by the CLT a
    violation has probability below 1e-6 per value; the seed is fixed, so the test is deterministic."""
    x, segments, f = setup("cpu")
    values = perturb.shap(f, x, segments, n_permutations=200, antithetic=antithetic, seed=0)
    independent = 100 if antithetic else 200
    bound = 5 * marginal_std() / math.sqrt(independent) + 1e-12
    assert bool(((values - exact_shapley()).abs() <= bound).all())


def test_antithetic_pairs_each_permutation_with_its_reverse():
    perms = perturb.sample_permutations(6, 9, seed=2, antithetic=True)
    assert torch.equal(perms[1::2], perms[0::2].flip(1))
    with pytest.raises(ValueError, match="even"):
        perturb.sample_permutations(3, 9, antithetic=True)
    # two players: a permutation and its reverse are all permutations, so the values are exact
    x = torch.ones(1, 1, 1, 2, dtype=torch.float64)
    segments = torch.tensor([[0, 1]])
    f = lambda b: (b[:, 0, 0, :1] * b[:, 0, 0, 1:] * 3 + b[:, 0, 0, :1])  # v = 3·z0·z1 + z0
    torch.testing.assert_close(perturb.shap(f, x, segments, n_permutations=2, antithetic=True),
                               torch.tensor([[2.5, 1.5]], dtype=torch.float64), rtol=0, atol=1e-12)


def test_batching_seed_and_number_of_targets(device):
    x, segments, f = setup(device)
    rows = []

    def counting(batch):
        rows.append(len(batch))
        return f(batch)
    reference = perturb.shap(counting, x, segments, n_permutations=5, seed=1, batch_size=64)
    assert sum(rows) == 2 + 5 * (PLAYERS - 1)
    for batch_size in (1, 7):
        torch.testing.assert_close(perturb.shap(f, x, segments, n_permutations=5, seed=1, batch_size=batch_size),
                                   reference, rtol=0, atol=1e-12)
    assert torch.equal(perturb.shap(f, x, segments, n_permutations=5, seed=1), reference)
    assert not torch.equal(perturb.shap(f, x, segments, n_permutations=5, seed=2), reference)
    rows.clear()
    single = perturb.shap(lambda b: counting(b)[:, 1:2], x, segments, n_permutations=5, seed=1)
    assert sum(rows) == 2 + 5 * (PLAYERS - 1)                  # one target costs the same as three
    torch.testing.assert_close(single[0], reference[1], rtol=0, atol=1e-12)


def test_shap_bad_arguments():
    x, segments, f = setup("cpu")
    with pytest.raises(ValueError, match="permutations must be"):
        perturb.shap(f, x, segments, permutations=torch.tensor([[0, 1, 2, 3, 4, 4]]))
    with pytest.raises(ValueError, match="n_permutations"):
        perturb.shap(f, x, segments, n_permutations=0)
    with pytest.raises(ValueError, match="receptive_field must be"):
        perturb.shap(f, x, segments, receptive_field=torch.ones(2, 1, PLAYERS, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean"):
        perturb.shap(f, x, segments, receptive_field=torch.ones(1, PLAYERS))
