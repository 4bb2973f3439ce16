"""LIME, SHAP and D-RISE heatmaps of an SSD's detections: one set of forward passes for all targets."""
from typing import Sequence

import numpy as np
import torch

import ssd
from ssd.checks import check_integer, check_maps
from ssd.targets import check_kind

from .drise import check_settings as check_drise_settings
from .drise import drise
from .lime import check_settings as check_lime_settings
from .lime import lime
from .masking import check_baseline, check_inputs
from .shap import check_settings as check_shap_settings
from .shap import shap
from .ssd_adapter import ssd_receptive_fields
from .ssd_matched import MatchedScore
from .ssd_windowed import WindowedScore, ssd_score
from .superpixels import DEFAULT_COMPACTNESS, superpixels


def segments_of(x: torch.Tensor, config: "ssd.SSDConfig", n: int = 250, image=None,
                compactness: float = DEFAULT_COMPACTNESS) -> torch.Tensor:
    """The superpixels `explain` uses for model input x [1,3,H,W]: SLIC on `image` (uint8 [H,W,3]),
    by default the input shown as an image (ssd.to_image). -> int64 [H,W] on x's device."""
    if image is None:
        image = ssd.to_image(x[0] if x.dim() == 4 else x, config)
    return superpixels(np.asarray(image), n, compactness, device=x.device)


def explain(model: "ssd.SSD", x: torch.Tensor, targets: Sequence["ssd.Target"], method: str = "lime",
            n: int = 250, n_samples: int = 1000, n_permutations: int = 4, image=None, segments=None,
            batch_size: int | None = None, seed: int = 0, kind: str = "logit", kernel_width: float = 1.0,
            alpha: float = 1.0, antithetic: bool = False, prune: bool = True, baseline=0.0,
            return_segments: bool = False, score="fixed"):
    """Heatmaps [K,H,W] of the K targets (any kind, `ssd.targets`) of one image x [1,3,H,W], painted
    from superpixel values.

    method "lime": `perturb.lime` with n_samples (values normalised to [−1, 1] per target);
    method "shap": `perturb.shap` with n_permutations (1,000 passes for 4 × 250 superpixels), with
    receptive-field pruning (exact, see perturb.shap) unless `prune=False`.
    Superpixels: `segments` if given, else SLIC with about n segments on `image` (default: x as
    an image), see `segments_of`. kind: "logit" or "probability" score of each target (`ssd.score`).
    score: "fixed" (the paper's: each target's value at its own prior, from windowed passes) or
    "matched" (D-RISE's similarity of the perturbed input's best-matching detection to the original
    one, `perturb.matched_score`, from full passes; no pruning; `kind` does not enter), or a
    `perturb.MatchedScore` of these targets built beforehand, to read its `moved_share()` afterwards.
    return_segments: also return the int64 [H,W] segments used, as (heatmaps, segments), so that
    other methods' relevance can be grouped into the same superpixels.
    Everything is checked before the superpixels and the first pass: x (`ssd.check_input`), the
    targets and kind, the settings of the method, the baseline, n (an integer ≥ 1) and the segments;
    every score after its pass (`perturb.masking.evaluate`), and the maps once at the end
    (`ssd.checks.check_maps`: a NaN or ±inf value is a ValueError naming the settings and the target).
    """
    if method not in ("lime", "shap"):
        raise ValueError(f"unknown method {method!r}: use 'lime' or 'shap'")
    ssd.check_input(model, x)
    if x.shape[0] != 1:
        raise ValueError(f"explain takes one image x [1,3,H,W], got shape {tuple(x.shape)}")
    if method == "lime":
        check_lime_settings(n_samples, kernel_width, alpha, seed)
    else:
        check_shap_settings(n_permutations, seed, antithetic)
    check_baseline(baseline, x)
    f = score_function(model, x, targets, score, kind)
    if segments is None:
        segments = segments_of(x, model.config, check_integer(n, "n (superpixels)"), image)
    x, segments, _ = check_inputs(x, segments)
    if method == "lime":
        values = lime(f, x, segments, n_samples, kernel_width, alpha, seed, batch_size, baseline)
    else:
        fixed = isinstance(f, WindowedScore)                 # the matched score reads the whole image
        rf = ssd_receptive_fields(model, f.targets, x.shape[2:], x.device) if prune and fixed else None
        values = shap(f, x, segments, n_permutations, seed, batch_size, antithetic, rf, baseline)
    heatmaps = values.to(x.dtype)[:, segments]                                         # [K,H,W]
    settings = {"method": method, "n_samples": n_samples, "kernel_width": kernel_width, "alpha": alpha} \
        if method == "lime" else {"method": method, "n_permutations": n_permutations, "antithetic": antithetic}
    settings.update(seed=seed, kind=kind, baseline=baseline if isinstance(baseline, (int, float)) else "tensor")
    check_maps(heatmaps, "perturb", settings, f.targets)
    return (heatmaps, segments) if return_segments else heatmaps


def score_function(model: "ssd.SSD", x: torch.Tensor, targets: Sequence, score="fixed", kind: str = "logit"):
    """The score function f(x̃ [B,3,S,S]) -> [B,T] of `explain`'s `score` ("fixed", "matched" or a
    MatchedScore, checked to hold these targets)."""
    check_kind(kind)
    if isinstance(score, MatchedScore):
        if score.targets != [ssd.as_target(t) for t in targets]:
            raise ValueError("score: the MatchedScore was built for other targets")
        return score
    if score == "fixed":
        return ssd_score(model, list(targets), kind)
    if score == "matched":
        return MatchedScore(model, x, targets)
    raise ValueError(f"unknown score {score!r}: use 'fixed', 'matched' or a perturb.MatchedScore")


def explain_drise(model: "ssd.SSD", x: torch.Tensor, targets: Sequence, n_masks: int = 1000, grid: int = 16,
                  p: float = 0.5, seed: int = 0, batch_size: int | None = None, baseline=0.0, score="matched",
                  kind: str = "logit") -> torch.Tensor:
    """D-RISE heatmaps [K,H,W] of the K targets (any kind) of one image x [1,3,H,W], all from one set of
    n_masks random masks (`perturb.drise`: g × g grid with g = `grid`, cells kept with probability p;
    masked pixels show `baseline`, 0 = grey). score: "matched" (D-RISE's similarity, the default) or
    "fixed" (RISE's weighting by each target's own value at its prior, `kind` as in `explain`), or a
    MatchedScore (`score_function`). Everything is checked before the first pass."""
    ssd.check_input(model, x)
    if x.shape[0] != 1:
        raise ValueError(f"explain_drise takes one image x [1,3,H,W], got shape {tuple(x.shape)}")
    check_drise_settings(n_masks, grid, p, seed)
    check_baseline(baseline, x)
    f = score_function(model, x, targets, score, kind)
    maps = drise(f, x, n_masks, grid, p, seed, batch_size, baseline)
    settings = {"n_masks": n_masks, "grid": grid, "p": p, "seed": seed, "score": score if isinstance(score, str) else "given"}
    return check_maps(maps, "drise", settings, list(targets))
