"""Figure 7: how much LIME and SHAP heatmaps vary over random seeds, against their forward passes
(lower is better; the paper: "slowly converging for a number of steps larger than 500").

For each of `samples` detections and each budget p: LIME with n_samples = p and SHAP with
round(p / S) permutations (≈ p passes, S superpixels) are run with `seeds` seeds; each run's
superpixel values are divided by their largest magnitude (LIME's own normalisation, applied to SHAP
too); the figure's value is the mean over superpixels of the standard deviation over seeds, then
mean and standard error over the samples. The main job runs a scaled-down version (`QUICK`, said so
in the figure); `--fig7 paper` runs the paper's (about 4·10⁵ passes: use a GPU). Written to
variability.json, which the figure draws.
"""
import sys
from dataclasses import asdict, dataclass

import numpy as np
import torch

from eval.store.files import write_json


@dataclass(frozen=True)
class Settings:
    samples: int
    seeds: int
    passes: tuple
    superpixels: int
    name: str


PAPER = Settings(samples=10, seeds=5, passes=(250, 500, 1000, 2000), superpixels=250, name="paper")
QUICK = Settings(samples=2, seeds=3, passes=(8, 16, 32), superpixels=8, name="quick (scaled down)")


def superpixel_values(heatmap: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """The value of each superpixel of a map painted from superpixel values: [H,W], [H,W] -> [S]."""
    count = int(segments.max()) + 1
    return torch.zeros(count, dtype=heatmap.dtype, device=heatmap.device).scatter_(
        0, segments.flatten(), heatmap.flatten())


def seed_std(model, x, target, segments, method: str, passes: int, seeds: int) -> float:
    """Mean over superpixels of the standard deviation over `seeds` runs of the normalised values."""
    import perturb
    count = int(segments.max()) + 1
    kw = {"n_samples": passes} if method == "lime" else {"n_permutations": max(1, round(passes / count))}
    runs = []
    for seed in range(seeds):
        h = perturb.explain(model, x, [target], method=method, segments=segments, seed=seed, **kw)[0]
        v = superpixel_values(h.double(), segments)
        peak = v.abs().max()
        runs.append(v / peak if peak > 0 else v)
    return float(torch.stack(runs).std(dim=0).mean())


def measure(model, selected, settings: Settings) -> dict:
    """{"settings", "samples_used", "passes", "lime"/"shap": {"mean", "standard_error"}} of figure 7."""
    import perturb
    chosen = [(item, s) for item in selected for s in item.samples][:settings.samples]
    stds = {m: np.zeros((len(chosen), len(settings.passes))) for m in ("lime", "shap")}
    for i, (item, sample) in enumerate(chosen):
        segments = perturb.segments_of(item.x, model.config, n=settings.superpixels)
        for j, p in enumerate(settings.passes):
            for m in stds:
                stds[m][i, j] = seed_std(model, item.x, sample.target, segments, m, p, settings.seeds)
    out = {"settings": asdict(settings), "samples_used": len(chosen), "passes": list(settings.passes)}
    for m, values in stds.items():
        se = values.std(0, ddof=1) / np.sqrt(len(chosen)) if len(chosen) > 1 else np.full(values.shape[1], np.nan)
        out[m] = {"mean": values.mean(0).tolist(), "standard_error": se.tolist()}
    return out


def write(out_dir, model, selected, which: str = "quick", device=None) -> None:
    """Measure figure 7 with QUICK or PAPER settings and write out_dir/variability.json."""
    settings = PAPER if which == "paper" else QUICK
    print(f"eval.compare: figure 7 ({settings.name}): {settings.samples} samples × {settings.seeds} seeds × "
          f"{len(settings.passes)} budgets", file=sys.stderr, flush=True)
    write_json(f"{out_dir}/variability.json", measure(model, selected, settings))
