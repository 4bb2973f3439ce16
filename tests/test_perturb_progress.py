"""`perturb.masking.evaluate` reports the progress of a long run on stderr (SHAP with many superpixels
ran ~65,000 passes per image without a line): at most one line every PROGRESS_SECONDS, none in a
short run. A fake clock stands in for time."""
import itertools
import re

import pytest
import torch

from perturb import masking


@pytest.fixture
def fake_clock(monkeypatch):
    """A clock that advances `step` seconds each time it is read."""
    def install(step: float):
        ticks = itertools.count()
        monkeypatch.setattr(masking, "clock", lambda: step * next(ticks))
    return install


def run(states: int, batch_size: int):
    x = torch.ones(1, 3, 4, 4)
    segments = torch.arange(4).repeat_interleave(4).view(4, 4)
    f = lambda batch: batch.sum(dim=(1, 2, 3))[:, None]  # noqa: E731
    return masking.evaluate(f, x, segments, torch.ones(states, 4, dtype=torch.bool), batch_size=batch_size)


def test_a_line_every_30_seconds_with_the_time_left(fake_clock, capsys):
    """10 s per batch of 2: lines after 30, 60 and 90 s; ETA = time so far per pass × passes left
    (30/6·14 = 70 s, 60/12·8 = 40 s, 90/18·2 = 10 s); none once every pass is done."""
    fake_clock(10)
    scores = run(20, 2)
    assert scores.shape == (20, 1) and bool((scores == 48).all())
    assert capsys.readouterr().err.splitlines() == [
        "perturb: 6/20 passes, ETA 1m", "perturb: 12/20 passes, ETA 40s", "perturb: 18/20 passes, ETA 10s"]


def test_thousands_and_hours(fake_clock, capsys):
    fake_clock(100)
    run(65_000, 1_000)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "perturb: 1,000/65,000 passes, ETA 1h46m"          # 100/1,000 · 64,000 = 6,400 s
    assert len(lines) == 64 and all(re.fullmatch(r"perturb: [\d,]+/65,000 passes, ETA \d+\w*", line) for line in lines)


def test_short_runs_are_quiet(capsys):
    run(20, 2)
    assert capsys.readouterr().err == ""
