"""`python -m eval.hans`: which method reveals what a Clever-Hans detector really uses.

    cues         cue detections, verified causally by true removal of the tag; shares of relevance
    granularity  the tag share of every map grouped into the LIME/SHAP superpixels, and its ceiling
    causal       the Shapley split of p between the tag and the object; each map's distance to it
    controls     the control models: the plain shapes model, a fully randomised shapes-hans
    experiment   the experiment on the runner
    summary      cells, tables, hans.json / .md (its layout), the figure, its report section
    findings     what the fair test lets one conclude, in words
"""
from .cues import CueSample, cue_detections, select, shares
from .experiment import EXPERIMENT, Hans, main
from .summary import summarize

__all__ = ["Hans", "EXPERIMENT", "main", "CueSample", "cue_detections", "select", "shares", "summarize"]
