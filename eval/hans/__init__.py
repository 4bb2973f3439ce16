"""`python -m eval.hans`: which method reveals what a Clever-Hans detector really uses.

    cues        cue detections, verified causally by true removal of the tag; shares of relevance
    experiment  the experiment on the runner
    summary     cells, tables, hans.json / .md, the figure, its report section
"""
from .cues import CueSample, cue_detections, select, shares
from .experiment import EXPERIMENT, Hans, main
from .summary import summarize

__all__ = ["Hans", "EXPERIMENT", "main", "CueSample", "cue_detections", "select", "shares", "summarize"]
