"""The paper's comparison metrics (section 4), one concept per module, gathered here:

- `entropy(heatmap, bins=None)`: human interpretability, eq. 4.1 (table 1);
- `pixel_flipping(score_fn, x, heatmap, steps, segments)`, `auc(curve)`, `random_heatmap(...)`:
  faithfulness by flipping the most relevant pixels (figures 10–11, table 2);
- `localization(heatmap, box_or_mask)`: share of positive relevance inside the object (table 3);
- `localization_null(field, region)`: the share a heatmap uniform over the receptive field reaches;
- `outside_rf(heatmap, field)`: share of |relevance| outside the receptive field (lower is better);
- `group(heatmap, segments)`: any heatmap grouped into the SLIC superpixels of LIME and SHAP.
MoRF/LeRF removal curves, their normalisation and areas live in eval.curves, the removal operators
in eval.removal.
"""
from .entropy import entropy, uniform_entropy
from .curves import random_heatmap
from .flipping import auc, pixel_flipping
from .localization import box_mask, localization, localization_null
from .outside_rf import outside_rf
from .superpixels import group, superpixel_sums

__all__ = ["entropy", "uniform_entropy", "pixel_flipping", "auc", "random_heatmap", "localization", "localization_null", "outside_rf", "box_mask",
           "group", "superpixel_sums"]
