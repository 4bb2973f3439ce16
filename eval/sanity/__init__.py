"""`python -m eval.sanity`: model-parameter randomisation sanity checks (Adebayo et al. 2018); the
randomised copies are made by eval.randomization.

    experiment     the experiment on the runner: levels, steps, explanations, similarity records
    summary        cells, the verdict rule, sanity.json / .md, figures, its report section
"""
from .experiment import EXPERIMENT, Sanity, main

__all__ = ["Sanity", "EXPERIMENT", "main"]
