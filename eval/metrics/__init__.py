"""The metrics, one concept per file, each declaring its direction beside it; the registry that
tables and reports read (`REGISTRY`, `arrow`, `higher_is_better`).

    file             what it measures                                                     direction
    entropy          human interpretability: Shannon entropy, eq. 4.1 (table 1), and binned   —
    faithfulness     MoRF / LeRF areas of normalised removal curves and their gap             ↓ / ↑ / ↑
    flipping         the paper's pixel flipping, AUC over the flipped fraction (table 2)      ↓
    localization     share of positive relevance in the box / mask (table 3), its gain over
                     the receptive-field-uniform null; shares on a Clever-Hans tag            ↑
                     rank of the tag's superpixel; distance to the causal tag/object split    ↓ / ↓
    outside_rf       share of |relevance| outside the receptive field (0 is correct)          ↓
    fidelity         operator fidelity: an operator's removal against true removal            ↓ / ↑
    similarity       sanity checks: similarity of two maps (Spearman, SSIM, top-10 %)         —
    runtime          time per explanation (table 4)                                           ↓
    pointing         pointing game: the map's maximum on the object (15 px tolerance)         ↑
    insertion_deletion  insertion AUC ↑, deletion AUC ↓ and OA = insertion − deletion ↑

`superpixels` groups a pixel-wise map into the SLIC superpixels of LIME and SHAP (not a metric: the
"superpixels" column of the tables); `maps` divides a map by its max |R| (for similarity and the
pictures of eval.report.render). A new metric is a file here with its `METRICS`, added to the
tuple below; the tables take its direction from the registry.
"""
from . import entropy as _entropy
from . import faithfulness as _faithfulness
from . import fidelity as _fidelity
from . import flipping as _flipping
from . import insertion_deletion as _insertion_deletion
from . import localization as _localization
from . import outside_rf as _outside_rf
from . import pointing as _pointing
from . import runtime as _runtime
from . import similarity as _similarity
from .entropy import entropy, uniform_entropy
from .faithfulness import log_auc, normalised
from .flipping import auc, linear_auc, pixel_flipping
from .insertion_deletion import insertion_deletion
from .localization import box_mask, localization, localization_null
from .outside_rf import outside_rf
from .pointing import pointing_game
from .registry import Metric
from .superpixels import group, superpixel_sums

REGISTRY = {m.name: m for module in (_entropy, _faithfulness, _flipping, _localization, _outside_rf, _fidelity,
                                     _similarity, _runtime, _pointing, _insertion_deletion) for m in module.METRICS}


def arrow(name: str) -> str:
    """'↑' (higher is better), '↓' (lower is better) or '' for a metric of the registry."""
    return REGISTRY[name].arrow


def higher_is_better(name: str) -> bool | None:
    return REGISTRY[name].higher_is_better


__all__ = ["REGISTRY", "Metric", "arrow", "higher_is_better", "entropy", "uniform_entropy", "log_auc", "normalised",
           "pixel_flipping", "auc", "linear_auc", "localization", "localization_null", "box_mask", "outside_rf",
           "group", "superpixel_sums", "pointing_game", "insertion_deletion"]
