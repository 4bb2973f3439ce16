"""The cue-effect measurement (`ssd.cue`): its statistics, and the shipped models' cue effects."""
import numpy as np
import pytest

from ssd.cue import CueDetection, mean_interval, summary


def test_interval_resamples_images_not_detections():
    """Two images with two identical values each: the bootstrap sees two units, so its interval
    spans the two image means (1 and 3), as it would for the two images alone."""
    mean, lo, hi = mean_interval([1.0, 1.0, 3.0, 3.0], [0, 0, 1, 1])
    assert mean == 2.0 and lo == 1.0 and hi == 3.0
    assert mean_interval([1.0, 3.0], [0, 1]) == (2.0, 1.0, 3.0)


def test_summary_counts_the_detections_that_vanish():
    found = [CueDetection(0, 0, 2, 10, 0.9, 0.1), CueDetection(0, 1, 3, 11, 0.8, 0.7),
             CueDetection(1, 0, 2, 12, 0.6, 0.2)]
    s = summary(found, tagged=5, threshold=0.5)
    assert (s["tagged_objects"], s["cue_detections"], s["clever_hans"]) == (5, 3, 2)
    assert s["mean_drop"] == pytest.approx((0.8 + 0.1 + 0.4) / 3)
    assert s["mean_drop_clever_hans"] == pytest.approx(0.6)
    assert np.isnan(summary([], 0, 0.5)["mean_drop"])
