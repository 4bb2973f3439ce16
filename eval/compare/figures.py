"""The figures of an eval.compare run (the paper's 4–11 and the new faithfulness figures), drawn from
what the run stored: its samples' arrays, curves.json, variability.json and the records. Nothing is
recomputed here (figure 9 adds its stated noise to a stored heatmap).

Needs matplotlib (the optional extra `plots`); without it `write_figures` writes nothing and returns
the names of all figures, saying so on stderr. Heatmap colours come from `eval.report.render` (red
positive, blue negative, white zero, each map normalised by its own max |R|), as in the report and
eval.explain. Rerunning the command of a finished run redraws them.
"""
import sys
from pathlib import Path

import numpy as np
import torch

from eval.metrics.maps import normalise
from eval.report import render
from eval.store.files import atomic_write, read_json
from eval.store import StoredSample

FIGURES = {
    "faithfulness": "Removal curves of every method and of the references (random order, ground-truth mask): the "
                    "target's normalised probability while its most (MoRF, left) or least (LeRF, right) relevant "
                    "superpixels are truly removed, over the removed fraction on a log axis; mean with 95 % band "
                    "(cluster-t over images).",
    "operator_fidelity": "The target's probability after removing one object of its image with each operator "
                         "(y) against true removal (x); on the diagonal an operator removes like the truth.",
    "fig4_lrp_rules": "LRP with the ε, γ(0.1) and z⁺ rules, each with the ♭ rule on the first layer, for one "
                      "detection (predicted box yellow, ground truth red).",
    "fig5_deeplift": "DeepLIFT vanilla, with γ(0.1), and with γ(0.1) and ♭ for the same detection.",
    "fig6_superpixels": "SLIC superpixels used by LIME and SHAP.",
    "fig7_perturbation_std": "Standard deviation of the superpixel values over repeated seeds vs the number of "
                             "forward passes, for LIME and SHAP (mean over samples, standard-error bars).",
    "fig8_grid": "Detections (top row, class name and score) explained by LRP-γ(0.1), DeepLIFT-γ(0.1), SHAP and "
                 "LIME.",
    "fig9_entropy_noise": "Entropy (eq. 4.1) of a heatmap without and with uniform noise U(0, 1e-3).",
    "fig10_flipping_pixels": "The paper's pixel flipping (grey), LRP and DeepLIFT pixel-wise: probability of the "
                             "detection vs share of pixels set to grey; mean with 95 % band.",
    "fig11_flipping_superpixels": "The paper's pixel flipping with LRP and DeepLIFT grouped into the SLIC superpixels.",
}
GRID_ORDER = ("lrp", "deeplift", "shap", "lime")        # rows of figure 8, as in the paper


def write_figures(out_dir, samples: list[StoredSample], records: list[dict]) -> tuple[list[str], list[str]]:
    """Write the figures as PNG into `out_dir/figures/` from the run's samples and records (and its
    curves.json, variability.json); returns (files written, relative to out_dir; names skipped: all
    without matplotlib, any whose data the run lacks), each skip explained on stderr."""
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    try:
        from matplotlib.figure import Figure  # noqa: F401  (only checks that matplotlib is there)
    except ImportError:
        print("matplotlib is not installed (install the extra `plots`): skipped figures " + ", ".join(FIGURES),
              file=sys.stderr)
        return [], list(FIGURES)
    bands = read_json(out_dir / "curves.json")
    labels = {r["method"]: r.get("label") or r["method"] for r in records if r.get("kind") == "explanation"}
    fig_dir.mkdir(parents=True, exist_ok=True)
    makers = {
        "faithfulness": lambda: figure_faithfulness(bands, labels),
        "operator_fidelity": lambda: figure_operator_fidelity(records),
        "fig4_lrp_rules": lambda: figure_variants(samples, "LRP rules (figure 4)",
                                                  {"lrp-epsilon": "LRP ε + ♭", "lrp-gamma": "LRP γ(0.1) + ♭",
                                                   "lrp-zplus": "LRP z⁺ + ♭"}),
        "fig5_deeplift": lambda: figure_variants(samples, "DeepLIFT variants (figure 5)",
                                                 {"deeplift-vanilla": "DeepLIFT vanilla",
                                                  "deeplift-gamma": "DeepLIFT γ(0.1)", "deeplift": "DeepLIFT γ(0.1) + ♭"}),
        "fig6_superpixels": lambda: figure_superpixels(samples),
        "fig7_perturbation_std": lambda: figure_perturbation_std(read_json(out_dir / "variability.json")),
        "fig8_grid": lambda: figure_grid(samples, labels),
        "fig9_entropy_noise": lambda: figure_entropy_noise(samples, labels),
        "fig10_flipping_pixels": lambda: figure_flipping(bands, "pixels", labels),
        "fig11_flipping_superpixels": lambda: figure_flipping(bands, "superpixels", labels),
    }
    written, skipped = [], []
    for name, make in makers.items():
        fig = make()
        if isinstance(fig, str):
            skipped.append(name)
            print(f"figure {name} skipped: {fig}", file=sys.stderr)
            continue
        save(fig, fig_dir / f"{name}.png")
        written.append(f"figures/{name}.png")
    return written, skipped


def save(fig, path, dpi: int = 100) -> None:
    """A matplotlib figure as PNG, written whole (eval.store.files.atomic_write)."""
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=dpi)


# ---------------------------------------------------------------- panels and helpers

def _figure(rows: int, cols: int, size: float = 2.6, height: float | None = None):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(cols * size, rows * (height or size) + 0.4), layout="constrained")
    return fig, np.asarray(fig.subplots(rows, cols, squeeze=False))


def _show(ax, rgb, title: str = "") -> None:
    ax.imshow(rgb, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def image_with_boxes(sample: StoredSample) -> np.ndarray:
    """The sample's image, ground truth in red and prediction in yellow."""
    img = sample.image
    thickness = max(2, round(max(img.shape[:2]) / 170))      # 3 px on 512: visible in a small panel
    if sample.gt_box is not None:
        img = render.draw_box(img, sample.gt_box, render.RED, thickness)
    if sample.box is not None:
        img = render.draw_box(img, sample.box, render.YELLOW, thickness)
    return img


def _band(ax, x, band, label, dashed=False):
    mean = np.array([np.nan if v is None else v for v in band["mean"]], dtype=float)
    ax.plot(x, mean, label=f"{label} (n={band['n']})", linestyle="--" if dashed else "-")
    lo = np.array([np.nan if v is None else v for v in band["lo"]], dtype=float)
    hi = np.array([np.nan if v is None else v for v in band["hi"]], dtype=float)
    ax.fill_between(x, lo, hi, alpha=0.15, linewidth=0)


# ---------------------------------------------------------------- new figures

def figure_faithfulness(bands: dict, labels: dict):
    """MoRF and LeRF curves per operator and unit, a row each."""
    faith = bands.get("faithfulness") or {}
    rows = [(op, unit, methods) for op, units in faith.items() for unit, methods in units.items()]
    if not rows:
        return "no removal curves in curves.json"
    grid = np.asarray(bands["grid"][1:], dtype=float)
    fig, axes = _figure(len(rows), 2, size=4.6, height=3.4)
    for i, (op, unit, methods) in enumerate(rows):
        for j, direction in enumerate(("morf", "lerf")):
            ax = axes[i, j]
            for m, by_dir in methods.items():
                b = by_dir.get(direction)
                if b:
                    band = {k: (v[1:] if isinstance(v, list) else v) for k, v in b.items()}
                    _band(ax, grid, band, labels.get(m, m), dashed=m in ("random", "mask"))
            ax.set_xscale("log")
            ax.set_xlabel("removed fraction of the image")
            ax.set_ylabel("normalised probability")
            ax.set_title(f"{direction.upper()}, removal by {op}, {unit}", fontsize=10)
            ax.legend(fontsize=7)
    return fig


def figure_operator_fidelity(records):
    pairs = [row for r in records if r.get("kind") == "sample" for row in r.get("fidelity") or []]
    if not pairs:
        return "no operator-fidelity records (synthetic data only)"
    operators = sorted({k for row in pairs for k in row if k not in ("object", "own", "true")})
    fig, axes = _figure(1, len(operators), size=3.4)
    for ax, op in zip(axes[0], operators):
        own = [row for row in pairs if row["own"] and row.get(op) is not None]
        other = [row for row in pairs if not row["own"] and row.get(op) is not None]
        ax.scatter([r["true"] for r in other], [r[op] for r in other], s=8, alpha=0.5, label="other objects")
        ax.scatter([r["true"] for r in own], [r[op] for r in own], s=12, alpha=0.8, label="its own object")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("probability after true removal")
        ax.set_ylabel(f"probability after {op}")
        ax.set_title(op, fontsize=10)
        ax.legend(fontsize=7)
    return fig


# ---------------------------------------------------------------- the paper's figures

def _first_with(samples, names):
    return next((s for s in samples if all(n in s.heatmaps for n in names)), None)


def figure_variants(samples, title: str, variants: dict):
    """Figures 4 and 5: one detection explained by each variant (stored by eval.compare)."""
    sample = _first_with(samples, variants)
    if sample is None:
        return f"no sample holds the heatmaps {', '.join(variants)}"
    panels = [(image_with_boxes(sample), sample.title())]
    panels += [(render.colorize(sample.heatmaps[name]), label) for name, label in variants.items()]
    fig, axes = _figure(1, len(panels))
    for ax, (rgb, t) in zip(axes[0], panels):
        _show(ax, rgb, t)
    fig.suptitle(title, fontsize=10)
    return fig


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


def figure_grid(samples, labels: dict, columns: int = 8):
    """Figure 8: up to 8 detections (top row) × LRP, DeepLIFT, SHAP, LIME."""
    chosen = [s for s in samples if any(m in s.heatmaps for m in GRID_ORDER)][:columns]
    if not chosen:
        return "no heatmaps of " + ", ".join(GRID_ORDER)
    methods = [m for m in GRID_ORDER if any(m in s.heatmaps for s in chosen)]
    fig, axes = _figure(1 + len(methods), len(chosen), size=2.0)
    for j, s in enumerate(chosen):
        _show(axes[0, j], image_with_boxes(s), s.title())
        for i, m in enumerate(methods, start=1):
            if m in s.heatmaps:
                _show(axes[i, j], render.colorize(s.heatmaps[m]))
            else:
                axes[i, j].set_axis_off()
            if j == 0:
                axes[i, j].set_ylabel(labels.get(m, m), fontsize=8)
    return fig


def figure_entropy_noise(samples, labels: dict, noise: float = 1e-3, seed: int = 0):
    """Figure 9: entropy (eq. 4.1) of a stored heatmap normalised to max |R| = 1, and of the same map
    plus noise drawn from U(0, `noise`); both values in the titles."""
    from eval.metrics.entropy import entropy
    sample, method = next(((s, m) for s in samples for m in ("shap", "lime", "lrp", "deeplift") if m in s.heatmaps),
                          (None, None))
    if sample is None:
        return "no heatmaps"
    h = torch.as_tensor(normalise(sample.heatmaps[method]))
    noisy = h + noise * torch.rand(h.shape, generator=torch.Generator().manual_seed(seed), dtype=h.dtype)
    e_clean, e_noisy = entropy(h), entropy(noisy)
    fig, axes = _figure(1, 2, size=3.5)
    _show(axes[0, 0], render.colorize(h), f"{labels.get(method, method)}: e = {e_clean:.2f}")
    _show(axes[0, 1], render.colorize(noisy), f"+ U(0, {noise:g}) noise: e = {e_noisy:.2f}")
    return fig


def figure_flipping(bands: dict, unit: str, labels: dict):
    """Figures 10/11: the paper's grey flipping curves with 95 % bands (LIME and SHAP in both)."""
    flipping = bands.get("flipping") or {}
    curves = dict(flipping.get(unit) or {})
    if unit == "pixels":
        curves.update({m: b for m, b in (flipping.get("superpixels") or {}).items() if m in ("lime", "shap")})
    if not curves:
        return f"no '{unit}' flipping curves in curves.json"
    x = np.asarray(bands["flip_fractions"], dtype=float)
    fig, axes = _figure(1, 1, size=4.5)
    ax = axes[0, 0]
    for m, band in curves.items():
        _band(ax, x, band, labels.get(m, m), dashed=m == "random")
    ax.set_xlabel("share of pixels set to grey")
    ax.set_ylabel("probability of the detection")
    ax.set_title("pixel flipping, " + ("pixel-wise" if unit == "pixels" else "grouped into superpixels"), fontsize=10)
    ax.legend(fontsize=8)
    return fig


def figure_perturbation_std(data: dict):
    """Figure 7 from variability.json."""
    if not data:
        return "no variability.json (run eval.compare with LIME or SHAP and --fig7 quick|paper)"
    s, passes = data["settings"], data["passes"]
    fig, axes = _figure(1, 1, size=4.5)
    ax = axes[0, 0]
    for m in ("lime", "shap"):
        se = np.nan_to_num(np.array([np.nan if v is None else v for v in data[m]["standard_error"]], dtype=float))
        ax.errorbar(passes, data[m]["mean"], yerr=se, marker="o", capsize=3, label=m.upper())
    ax.set_xscale("log")
    ax.set_xticks(passes, [str(p) for p in passes])
    ax.minorticks_off()
    ax.set_xlabel("forward passes per explanation")
    ax.set_ylabel("std of superpixel values over seeds")
    ax.set_title(f"{s['name']}: {data['samples_used']} samples, {s['seeds']} seeds, ~{s['superpixels']} "
                 f"superpixels\n(SHAP: round(passes / superpixels) permutations)", fontsize=9)
    ax.legend(fontsize=8)
    return fig

