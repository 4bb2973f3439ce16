"""Figures 4–11 of the paper from the output folder of `python -m eval.compare`.

Needs matplotlib (the optional extra `plots`); without it `write_figures` writes nothing and returns
the names of all figures, saying so on stderr. Heatmap colours come from `eval.render` (red positive,
blue negative, white zero, each map normalised by its own max |R|), so they look the same in figures,
in the report and in `eval.explain`. Figures 4, 5 and 7 compute new explanations with the model;
the others only read the folder (see `eval.results` for its layout).

Figure 7 on the paper's settings (10 samples, 250 superpixels, up to 2,000 passes, several seeds)
costs tens of thousands of forward passes; the default `FIG7_QUICK` shrinks it to fit the main job's
budget, and the figure's title and `figures/notes.json` say so.

`python -m eval.figures OUT [--fig7 paper]` redraws the figures and report.html of a finished run.
"""
import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import ssd
from eval import render
from eval.results import METHOD_LABELS, Sample, flipping_curves, read_samples, read_tables

FIGURES = {
    "fig4_lrp_rules": "LRP with the ε, γ(0.1) and z⁺ rules, each with the ♭ rule on the first layer, for one "
                      "detection (predicted box yellow, ground truth red).",
    "fig5_deeplift": "DeepLIFT vanilla, with γ(0.1), and with γ(0.1) and ♭ for the same detection.",
    "fig6_superpixels": "SLIC superpixels used by LIME and SHAP.",
    "fig7_perturbation_std": "Standard deviation of the superpixel values over repeated seeds vs the number of "
                             "forward passes, for LIME and SHAP (mean over samples, standard-error bars).",
    "fig8_grid": "Detections (top row, class name and score) explained by LRP-γ(0.1), DeepLIFT-γ(0.1), SHAP and "
                 "LIME.",
    "fig9_entropy_noise": "Entropy (eq. 4.1) of a heatmap without and with uniform noise U(0, 1e-3).",
    "fig10_flipping_pixels": "Pixel flipping, LRP and DeepLIFT pixel-wise: probability of the detection vs "
                             "share of pixels set to grey; mean with standard-error band.",
    "fig11_flipping_superpixels": "Pixel flipping with LRP and DeepLIFT grouped into the SLIC superpixels.",
}
GRID_ORDER = ("lrp", "deeplift", "shap", "lime")        # rows of figure 8, as in the paper


@dataclass(frozen=True)
class Fig7Settings:
    """Figure 7's experiment: `samples` detections, `seeds` repetitions per point, LIME with n_samples = p
    and SHAP with round(p / S) permutations (≈ p passes) for every p in `passes`, S ≈ `superpixels`."""

    samples: int
    seeds: int
    passes: tuple
    superpixels: int
    name: str


FIG7_PAPER = Fig7Settings(samples=10, seeds=5, passes=(250, 500, 1000, 2000), superpixels=250, name="paper")
FIG7_QUICK = Fig7Settings(samples=2, seeds=3, passes=(8, 16, 32), superpixels=8, name="quick (scaled down)")


def write_figures(out_dir, model=None, device=None, fig7: Fig7Settings = None) -> list[str]:
    """Write figures 4–11 as PNG into `out_dir/figures/`; returns the names of the figures skipped
    (all of them without matplotlib; 4, 5 and 7 without a model; any whose data the folder lacks),
    each skip explained on stderr. Notes on how a figure was made go to `figures/notes.json`.
    fig7: the settings of figure 7, by default FIG7_QUICK (FIG7_PAPER for the paper's)."""
    fig7 = FIG7_QUICK if fig7 is None else fig7
    try:
        from matplotlib.figure import Figure  # noqa: F401  (only checks that matplotlib is there)
    except ImportError:
        print("matplotlib is not installed (install the extra `plots`): skipped figures "
              + ", ".join(FIGURES), file=sys.stderr)
        for name in FIGURES:                     # a figure of an earlier run must not pass for this one's
            (Path(out_dir) / "figures" / f"{name}.png").unlink(missing_ok=True)
        return list(FIGURES)
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    samples = read_samples(out_dir)
    device = torch.device("cpu") if device is None else torch.device(device)
    notes, skipped = {}, []
    makers = {
        "fig4_lrp_rules": lambda: figure_lrp_rules(samples, model, device),
        "fig5_deeplift": lambda: figure_deeplift(samples, model, device),
        "fig6_superpixels": lambda: figure_superpixels(samples),
        "fig7_perturbation_std": lambda: figure_perturbation_std(samples, model, device, fig7, notes),
        "fig8_grid": lambda: figure_grid(samples),
        "fig9_entropy_noise": lambda: figure_entropy_noise(samples, notes),
        "fig10_flipping_pixels": lambda: figure_flipping(out_dir, "pixels"),
        "fig11_flipping_superpixels": lambda: figure_flipping(out_dir, "superpixels"),
    }
    for name, make in makers.items():
        fig = make()
        if isinstance(fig, str):
            skipped.append(name)
            print(f"figure {name} skipped: {fig}", file=sys.stderr)
            (fig_dir / f"{name}.png").unlink(missing_ok=True)
            continue
        fig.savefig(fig_dir / f"{name}.png", dpi=100)
    (fig_dir / "notes.json").write_text(json.dumps(notes, indent=1, ensure_ascii=False))
    return skipped


# ---------------------------------------------------------------- panels and helpers

def _figure(rows: int, cols: int, size: float = 2.6):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(cols * size, rows * size + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    return fig, axes


def _show(ax, rgb, title: str = "") -> None:
    ax.imshow(rgb, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def image_with_boxes(sample: Sample) -> np.ndarray:
    """The sample's image at heatmap resolution, ground truth in red and prediction in yellow."""
    img = sample.image
    thickness = max(2, round(max(img.shape[:2]) / 170))      # 3 px on 512: visible in a small panel
    if sample.gt_box is not None:
        img = render.draw_box(img, sample.gt_box, render.RED, thickness)
    if sample.box is not None:
        img = render.draw_box(img, sample.box, render.YELLOW, thickness)
    return img


def model_input(model, sample: Sample, device) -> torch.Tensor:
    """x [1,3,S,S] of the sample's image (stored as the model saw it)."""
    return ssd.preprocess(sample.image, model.config, device=device)


def sample_target(sample: Sample) -> "ssd.Target":
    """The sample's target (prior, label), as its records in samples.jsonl store it."""
    if sample.prior is None or sample.label is None:
        raise ValueError(f"sample {sample.id}: samples.jsonl holds no prior and label for it")
    return ssd.Target(int(sample.prior), int(sample.label))


def first_explainable(samples: list[Sample]):
    """The first sample with a target (the one figures 4 and 5 explain), or None."""
    return next((s for s in samples if s.prior is not None), None)


# ---------------------------------------------------------------- figures 4 and 5

def _variants(samples, model, device, title, variants):
    """One detection (the first sample with a target) explained by each (label, explain) variant,
    where explain(x, target) -> [1,H,W]; a reason string instead when it cannot be drawn."""
    if model is None:
        return "needs the model"
    sample = first_explainable(samples)
    if sample is None:
        return "no sample with a target in heatmaps/ and samples.jsonl"
    x = model_input(model, sample, device)
    target = sample_target(sample)
    panels = [(image_with_boxes(sample), f"{sample.title()}")]
    for label, explain in variants:
        panels.append((render.colorize(explain(x, target)[0]), label))
    return _row(panels, title)


def figure_lrp_rules(samples, model, device):
    """Figure 4: LRP ε, γ(0.1), z⁺ (each with ♭ on the first layer) for one detection."""
    import lrp
    variants = [(f"LRP {label}", lambda x, t, rule=rule: lrp.explain(model, x, [t], rule=rule, gamma=0.1, first="flat"))
                for rule, label in (("epsilon", "ε + ♭"), ("gamma", "γ(0.1) + ♭"), ("zplus", "z⁺ + ♭"))]
    return _variants(samples, model, device, "LRP rules (figure 4)", variants)


def figure_deeplift(samples, model, device):
    """Figure 5: DeepLIFT vanilla, γ(0.1), γ(0.1) + ♭ for the detection of figure 4."""
    import deeplift
    variants = [(f"DeepLIFT {label}", lambda x, t, g=gamma, f=first: deeplift.explain(model, x, [t], gamma=g, first=f))
                for gamma, first, label in ((0.0, None, "vanilla"), (0.1, None, "γ(0.1)"), (0.1, "flat", "γ(0.1) + ♭"))]
    return _variants(samples, model, device, "DeepLIFT variants (figure 5)", variants)


def _row(panels, title):
    fig, axes = _figure(1, len(panels))
    for ax, (rgb, t) in zip(axes[0], panels):
        _show(ax, rgb, t)
    fig.suptitle(title, fontsize=10)
    return fig


# ---------------------------------------------------------------- figures 6, 8, 9

def figure_superpixels(samples):
    """Figure 6: an image with the boundaries of its SLIC superpixels."""
    from skimage.segmentation import mark_boundaries
    sample = next((s for s in samples if s.segments is not None), None)
    if sample is None:
        return "no sample with superpixel segments"
    n = int(np.unique(sample.segments).size)
    marked = mark_boundaries(sample.image, sample.segments, color=(1, 1, 0))
    fig, axes = _figure(1, 2, size=3.5)
    _show(axes[0, 0], sample.image, sample.title())
    _show(axes[0, 1], (marked * 255).round().astype(np.uint8), f"SLIC, {n} superpixels")
    return fig


def figure_grid(samples, columns: int = 8):
    """Figure 8: up to 8 detections (top row) × LRP, DeepLIFT, SHAP, LIME."""
    chosen = [s for s in samples if s.heatmaps][:columns]
    if not chosen:
        return "no heatmaps in heatmaps/"
    methods = [m for m in GRID_ORDER if any(m in s.heatmaps for s in chosen)]
    if not methods:
        return f"none of the methods {GRID_ORDER} in the heatmaps"
    fig, axes = _figure(1 + len(methods), len(chosen), size=2.0)
    for j, s in enumerate(chosen):
        _show(axes[0, j], image_with_boxes(s), s.title())
        for i, m in enumerate(methods, start=1):
            if m in s.heatmaps:
                _show(axes[i, j], render.colorize(s.heatmaps[m]))
            else:
                axes[i, j].set_axis_off()
            if j == 0:
                axes[i, j].set_ylabel(METHOD_LABELS.get(m, m), fontsize=9)
    return fig


def figure_entropy_noise(samples, notes: dict, noise: float = 1e-3, seed: int = 0):
    """Figure 9: entropy (eq. 4.1) of a heatmap normalised to max |R| = 1, and of the same map plus
    noise drawn from U(0, `noise`); both values are printed in the titles and kept in notes."""
    from eval.metrics import entropy
    sample, method = next(((s, m) for s in samples for m in ("shap", "lime", "lrp", "deeplift")
                           if m in s.heatmaps), (None, None))
    if sample is None:
        return "no heatmaps in heatmaps/"
    h = torch.as_tensor(render.normalise(sample.heatmaps[method]))
    generator = torch.Generator().manual_seed(seed)
    noisy = h + noise * torch.rand(h.shape, generator=generator, dtype=h.dtype)
    e_clean, e_noisy = entropy(h), entropy(noisy)
    notes["fig9_entropy_noise"] = {"sample": sample.id, "method": method, "entropy": e_clean,
                                   "entropy_with_noise": e_noisy, "noise": f"U(0, {noise:g})"}
    fig, axes = _figure(1, 2, size=3.5)
    _show(axes[0, 0], render.colorize(h), f"{METHOD_LABELS.get(method, method)}: e = {e_clean:.2f}")
    _show(axes[0, 1], render.colorize(noisy), f"+ U(0, {noise:g}) noise: e = {e_noisy:.2f}")
    return fig


# ---------------------------------------------------------------- figures 10 and 11

def figure_flipping(out_dir: Path, mode: str):
    """Figures 10/11: mean pixel-flipping curve of every method and of random flipping, with a band of
    ± one standard error, from curves.json."""
    curves = flipping_curves(out_dir, mode)
    if not curves:
        return f"no '{mode}' curves in curves.json"
    fig, axes = _figure(1, 1, size=4.5)
    ax = axes[0, 0]
    for label, (fraction, mean, se) in curves.items():
        line, = ax.plot(fraction, mean, label=label, linestyle="--" if label == "random" else "-")
        ax.fill_between(fraction, mean - se, mean + se, color="lightgray", alpha=0.5, linewidth=0)
    ax.set_xlabel("share of pixels set to grey")
    ax.set_ylabel("score of the detection")
    ax.set_title("pixel flipping, " + ("pixel-wise" if mode == "pixels" else "grouped into superpixels"),
                 fontsize=10)
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- figure 7

def superpixel_values(heatmap: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """The value of each superpixel of a map painted from superpixel values: [H,W], [H,W] -> [S]."""
    count = int(segments.max()) + 1
    return torch.zeros(count, dtype=heatmap.dtype, device=heatmap.device).scatter_(
        0, segments.flatten(), heatmap.flatten())


def seed_std(model, x, target, segments, method: str, passes: int, seeds: int) -> float:
    """Mean over superpixels of the standard deviation over `seeds` runs of the superpixel values,
    each run normalised by its max |value| (LIME's own normalisation, applied to SHAP too)."""
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


def figure_perturbation_std(samples, model, device, settings: Fig7Settings, notes: dict):
    """Figure 7: variability of LIME and SHAP over seeds against the number of forward passes."""
    if model is None:
        return "needs the model"
    chosen = [s for s in samples if s.prior is not None][:settings.samples]
    if not chosen:
        return "no sample with a target in heatmaps/ and samples.jsonl"
    if settings.seeds < 2:
        return "needs at least 2 seeds"
    import perturb
    stds = {m: np.zeros((len(chosen), len(settings.passes))) for m in ("lime", "shap")}
    for i, sample in enumerate(chosen):
        x = model_input(model, sample, device)
        target = sample_target(sample)
        segments = perturb.segments_of(x, model.config, n=settings.superpixels)
        for j, p in enumerate(settings.passes):
            for m in stds:
                stds[m][i, j] = seed_std(model, x, target, segments, m, p, settings.seeds)
    fig, axes = _figure(1, 1, size=4.5)
    ax = axes[0, 0]
    summary = {}
    for m, values in stds.items():
        mean = values.mean(0)
        se = values.std(0, ddof=1) / np.sqrt(len(chosen)) if len(chosen) > 1 else np.zeros_like(mean)
        ax.errorbar(settings.passes, mean, yerr=se, marker="o", capsize=3, label=m.upper())
        summary[m] = {"mean": mean.tolist(), "standard_error": se.tolist()}
    ax.set_xscale("log")
    ax.set_xticks(settings.passes, [str(p) for p in settings.passes])
    ax.minorticks_off()
    ax.set_xlabel("forward passes per explanation")
    ax.set_ylabel("std of superpixel values over seeds")
    ax.set_title(f"{settings.name}: {len(chosen)} samples, {settings.seeds} seeds, ~{settings.superpixels} "
                 f"superpixels\n(SHAP: round(passes / superpixels) permutations)", fontsize=9)
    ax.legend(fontsize=8)
    notes["fig7_perturbation_std"] = {"settings": asdict(settings), "samples_used": len(chosen),
                                      "passes": list(settings.passes), **summary}
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.figures",
                                description="Redraw figures 4–11 and report.html of an eval.compare output folder.")
    p.add_argument("out", help="the --out folder of python -m eval.compare")
    p.add_argument("--weights", help="model of the run (default: the one named in tables.json, else 'shapes')")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--fig7", choices=("quick", "paper"), default="quick",
                   help="figure 7 scaled down (default) or on the paper's settings (slow: ~10⁵ passes)")
    args = p.parse_args(argv)
    from eval.report import write_report
    try:
        if not Path(args.out).is_dir():
            raise FileNotFoundError(f"no such output folder: {args.out}")
        weights = args.weights or read_tables(args.out).get("weights") or "shapes"
        model = ssd.load(weights, device=torch.device(args.device))
        for param in model.parameters():
            param.requires_grad_(False)
    except (FileNotFoundError, ValueError) as e:
        print(f"eval.figures: error: {e}", file=sys.stderr)
        return 2
    skipped = write_figures(args.out, model, args.device, FIG7_PAPER if args.fig7 == "paper" else FIG7_QUICK)
    print(f"eval.figures: wrote {write_report(args.out)}" + (f" (skipped: {', '.join(skipped)})" if skipped else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
