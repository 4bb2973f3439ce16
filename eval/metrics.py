"""The paper's comparison metrics (section 4), one concept per module, gathered here:

- `entropy(heatmap, bins=None)`: human interpretability, eq. 4.1 (table 1);
- `pixel_flipping(score_fn, x, heatmap, steps, segments)`, `auc(curve)`, `random_heatmap(...)`:
  faithfulness by flipping the most relevant pixels (figures 10–11, table 2);
- `localization(heatmap, box_or_mask)`: share of positive relevance inside the object (table 3);
- `group(heatmap, segments)`: any heatmap grouped into the SLIC superpixels of LIME and SHAP.
"""
from .entropy import entropy, uniform_entropy
from .flipping import auc, pixel_flipping, random_heatmap
from .localization import box_mask, localization
from .superpixels import group, superpixel_sums

__all__ = ["entropy", "uniform_entropy", "pixel_flipping", "auc", "random_heatmap", "localization", "box_mask",
           "group", "superpixel_sums"]
