"""`ssd.Target` holds two integers and `ssd.check_targets` their ranges: tensors, floats, negative
numbers, the background class and priors past the last are one-line errors at once, instead of
`divmod`/`IndexError` tracebacks deep inside an explanation."""
import numpy as np
import pytest
import torch

import ssd


def test_zero_dimensional_integer_tensors_and_numpy_integers_become_ints():
    t = ssd.Target(torch.tensor(5), np.int64(1))
    assert t == (5, 1) and type(t.prior) is int and type(t.label) is int
    assert repr(t) == "Target(prior=5, label=1)"
    assert ssd.Target(prior=3, label=torch.tensor(2, dtype=torch.int32)) == (3, 2)


@pytest.mark.parametrize("prior, label, message", [
    (5, 1.0, r"Target label must be an integer ≥ 0, got 1.0"),
    (5.0, 1, r"Target prior must be an integer ≥ 0, got 5.0"),
    (-1, 1, r"Target prior must be an integer ≥ 0, got -1"),
    (True, 1, r"Target prior must be an integer ≥ 0, got True"),
    (torch.tensor(5.0), 1, r"Target prior must be an integer ≥ 0 \(a 0-d integer tensor will do\), "
                           r"got a torch.float32 tensor of shape \(\)"),
    (torch.tensor([5, 6]), 1, r"Target prior must be an integer ≥ 0 \(a 0-d integer tensor will do\), "
                              r"got a torch.int64 tensor of shape \(2,\)"),
])
def test_other_values_are_named(prior, label, message):
    with pytest.raises(ValueError, match=message):
        ssd.Target(prior, label)


@pytest.mark.parametrize("target, message", [
    (ssd.Target(100, 1), r"target Target\(prior=100, label=1\): prior index out of range \[0, 100\)"),
    (ssd.Target(3, 7), r"target Target\(prior=3, label=7\): label out of range \[1, 7\)"),
    (ssd.Target(3, 0), r"target Target\(prior=3, label=0\): label 0 is the background, not a class to explain"),
])
def test_check_targets_names_the_target_out_of_range(target, message):
    with pytest.raises(ValueError, match=message):
        ssd.check_targets([target], num_priors=100, num_classes=7)


def test_pairs_are_targets_too():
    with pytest.raises(ValueError, match=r"Target label must be an integer ≥ 0, got 1.5"):
        ssd.check_targets([(3, 1.5)], num_priors=100, num_classes=7)
    ssd.check_targets([(3, 1), ssd.Target(4, 2)], num_priors=100, num_classes=7)
