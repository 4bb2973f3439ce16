"""The main job, `python -m eval.compare`: the paper's comparison of LRP, DeepLIFT, LIME and SHAP.

    experiment   the experiment on the runner: options, settings, selection, measuring, summary
    measure      everything measured for one explained detection
    summary      the values of its tables (tables.json) and curve bands (curves.json), from records
    tables       the tables, laid out once (tables.md; HTML in the section)
    figures      the paper's figures 4–11 and the faithfulness figures, from stored arrays
    variability  figure 7's data (LIME/SHAP variability over seeds)
    section      its section of report.html and the gallery
"""
from .experiment import EXPERIMENT, Compare, main

__all__ = ["Compare", "EXPERIMENT", "main"]
