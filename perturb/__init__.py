"""LIME and SHAP over SLIC superpixels (paper sections 2.3, 2.4, 3.2.3, 3.2.4), and D-RISE over random masks.

Any score function f(x [B,C,H,W]) -> [B,T] can be explained; all T targets come from the same
batched forward passes. `explain` and `explain_drise` wrap an SSD: targets' values at their priors
(the fixed score) or D-RISE's matched similarity of the best-matching detection, receptive fields
derived from the module tree for exact SHAP pruning, and incremental passes that recompute only the
rectangle where an input differs from the one before (perturb.incremental). The core (lime, shap,
drise, masking, receptive fields, incremental passes, ridge, superpixels) works on any score function
and knows nothing of the detector: from `ssd` it imports only `ssd.checks`; explain, ssd_adapter,
ssd_windowed and ssd_matched are the detection layer.
"""
from .drise import draw_masks, drise, masks_of
from .explain import explain, explain_drise, score_function, segments_of
from .lime import cosine_distance, kernel_weights, lime, sample_states
from .masking import count_passes, default_batch_size, evaluate, perturbed_inputs
from .receptive_field import POINTWISE, receptive_field, receptive_field_mask
from .ridge import weighted_ridge
from .shap import inside_receptive_field, sample_permutations, shap
from .ssd_adapter import ssd_layers, ssd_receptive_fields
from .ssd_matched import MatchedScore, matched_score
from .ssd_windowed import WindowedScore, ssd_score
from .superpixels import DEFAULT_COMPACTNESS, superpixels

__all__ = ["explain", "segments_of", "lime", "shap", "superpixels", "DEFAULT_COMPACTNESS", "cosine_distance",
           "kernel_weights", "sample_states", "sample_permutations", "weighted_ridge", "perturbed_inputs", "evaluate",
           "default_batch_size", "count_passes", "POINTWISE",
           "receptive_field", "receptive_field_mask", "inside_receptive_field", "ssd_score",
           "ssd_layers", "ssd_receptive_fields", "WindowedScore", "drise", "draw_masks", "masks_of", "explain_drise",
           "score_function", "MatchedScore", "matched_score"]
