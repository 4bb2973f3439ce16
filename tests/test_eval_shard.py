"""Sharing units among ranks (eval.run.runner.shard): longest-processing-time first, the same split
on every rank, round-robin when the units weigh the same."""
import itertools

from eval.run.runner import shard


def test_equal_weights_are_round_robin():
    assert shard([1.0] * 7, 3) == [0, 1, 2, 0, 1, 2, 0]
    assert shard([1.0] * 3, 1) == [0, 0, 0]


def test_heavy_unit_is_balanced_by_the_light_ones():
    # the main job's case: the first image carries LIME with the matched score (weight 12), the
    # others two samples (7) or one (6); round-robin would give rank 0 12 + 6 + 6 = 24 against 14
    weights = [12.0, 7.0, 6.0, 7.0, 6.0]
    ranks = shard(weights, 2)
    loads = [sum(w for w, r in zip(weights, ranks) if r == k) for k in range(2)]
    assert ranks == [0, 1, 0, 1, 1] and loads == [18.0, 20.0]


def test_lpt_is_within_four_thirds_of_the_best_split():
    # exhaustive check on small cases: the slowest rank's load is at most 4/3 of the optimum's
    cases = [[5, 5, 4, 4, 3, 3, 3], [9, 7, 6, 5, 4, 3, 2, 1], [3, 3, 2, 2, 2]]
    for weights, world in itertools.product(cases, (2, 3)):
        ranks = shard([float(w) for w in weights], world)
        makespan = max(sum(w for w, r in zip(weights, ranks) if r == k) for k in range(world))
        best = min(max(sum(w for w, r in zip(weights, split) if r == k) for k in range(world))
                   for split in itertools.product(range(world), repeat=len(weights)))
        assert makespan <= 4 / 3 * best
        assert sorted(set(ranks)) == list(range(world))          # no rank idles while units wait
