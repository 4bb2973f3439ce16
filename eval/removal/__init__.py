"""How pixels are removed (operators: grey, blur, inpaint, true) and the removal curves built on them.

    operators   an operator turns an image and removal masks into perturbed inputs
    curves      the target's score while pixels are removed in the order of a heatmap (MoRF, LeRF,
                insertion), each distinct input evaluated once

A new operator is a class in operators.py (a `Removal` with its fill) added to `OPERATORS`.
"""
from .curves import DIRECTIONS, LOG_GRID, UNITS, RemovalCurves, linear_grid, random_heatmap, removal_order
from .operators import OPERATORS, Removal

__all__ = ["OPERATORS", "Removal", "RemovalCurves", "LOG_GRID", "DIRECTIONS", "UNITS", "linear_grid",
           "random_heatmap", "removal_order"]
