"""The pointing game and insertion/deletion (eval/metrics/pointing.py, insertion_deletion.py) against
hand computations."""
import pytest
import torch

from eval.metrics import REGISTRY, insertion_deletion, pointing_game

# a 10×10 object in a 64×64 image, rows and columns 20..29
MASK = torch.zeros(64, 64, dtype=torch.bool)
MASK[20:30, 20:30] = True


def peak(row, col):
    heatmap = torch.zeros(64, 64)
    heatmap[row, col] = 1.0
    return heatmap


def test_the_maximum_within_15_pixels_of_the_object_is_a_hit():
    assert pointing_game(peak(25, 25), MASK) == 1.0                     # on the object
    assert pointing_game(peak(25, 39), MASK) == 1.0                     # 10 px right of column 29
    assert pointing_game(peak(25, 44), MASK) == 1.0                     # 15 px: the tolerance itself
    assert pointing_game(peak(25, 49), MASK) == 0.0                     # 20 px
    assert pointing_game(peak(41, 41), MASK) == 0.0                     # 12 px diagonally: √288 ≈ 17 px
    assert pointing_game(peak(39, 39), MASK) == 1.0                     # √200 ≈ 14.1 px
    assert pointing_game(peak(25, 39), MASK, tolerance=0) == 0.0
    assert pointing_game(peak(25, 39), (20, 20, 30, 30)) == 1.0         # the same object as a box


def test_ties_at_the_maximum_are_decided_by_their_majority():
    two_of_three = peak(25, 25) + peak(60, 60) + peak(22, 22)           # 2 of 3 tied pixels near: hit
    assert pointing_game(two_of_three, MASK) == 1.0
    half = peak(25, 25) + peak(60, 60)                                  # exactly half: miss
    assert pointing_game(half, MASK) == 0.0
    # all-zero map: all 4096 pixels tie; the dilated object holds 10² + 4·10·15 + π·15² ≈ 1407 < 2048
    # of them: a miss; an object covering most of the image (64·54 pixels): a hit
    assert pointing_game(torch.zeros(64, 64), MASK) == 0.0
    big = torch.ones(64, 64, dtype=torch.bool)
    big[:, :10] = False
    assert pointing_game(torch.zeros(64, 64), big) == 1.0
    assert pointing_game(-peak(25, 25) - 1, MASK) == 0.0                 # the maximum −1 everywhere but (25,25)


# a 1×4 image of ones; the score is linear: pixel w is worth (0.4, 0.3, 0.2, 0.1) of it, grey removes it
WORTH = torch.tensor([0.4, 0.3, 0.2, 0.1])
X = torch.ones(1, 3, 1, 4)


def score(batch):
    return (batch[:, 0, 0] * WORTH).sum(dim=1)


def test_insertion_deletion_and_oa_by_hand():
    """Order 1, 2, 3, 0 (a wrong map: relevance 0.1, 0.4, 0.3, 0.2):
    deletion 1, .7, .5, .4, 0 -> ¼·(.85 + .6 + .45 + .2) = .525; insertion 0, .3, .5, .6, 1 ->
    ¼·(.15 + .4 + .55 + .8) = .475; OA = −.05. The true order 0, 1, 2, 3: deletion 1, .6, .3, .1, 0 ->
    .375, insertion 0, .4, .7, .9, 1 -> .625, OA = .25, ranked above the wrong map."""
    quarters = (0.0, 0.25, 0.5, 0.75, 1.0)
    wrong = insertion_deletion(score, X, torch.tensor([[0.1, 0.4, 0.3, 0.2]]), fractions=quarters)
    assert wrong == pytest.approx((0.475, 0.525, -0.05))
    right = insertion_deletion(score, X, WORTH[None], fractions=quarters)
    assert right == pytest.approx((0.625, 0.375, 0.25))
    assert right.oa > wrong.oa


def test_superpixels_move_whole_and_directions_are_registered():
    """Superpixels {0, 1} (relevance 0.5 each) and {2, 3} (0.1): deletion removes {0, 1} at f = ½
    (score .3), insertion puts it back (score .7): D = ½·(1 + .3)/2 + ½·(.3 + 0)/2 = .4, I = .6."""
    segments = torch.tensor([[0, 0, 1, 1]])
    areas = insertion_deletion(score, X, torch.tensor([[0.5, 0.5, 0.1, 0.1]]), fractions=(0.0, 0.5, 1.0),
                               segments=segments)
    assert areas == pytest.approx((0.6, 0.4, 0.2))
    assert (REGISTRY["insertion"].higher_is_better, REGISTRY["deletion"].higher_is_better,
            REGISTRY["insertion_deletion"].higher_is_better, REGISTRY["pointing"].higher_is_better) == (
        True, False, True, True)
