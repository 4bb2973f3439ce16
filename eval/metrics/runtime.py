"""Applicability: run time per explanation (table 4; lower is better), measured by the runner's
`eval.run.timing.timed` (wall clock, CUDA synchronised, after a warm-up)."""
from .registry import Metric

METRICS = (Metric("milliseconds", "time per explanation (ms)", False),)
