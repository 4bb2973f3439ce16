"""The summary of a sanity-check run (eval.sanity): cells, verdicts, sanity.json / sanity.md, the two
figures, its section of report.html (and sanity.html, the section alone). Reads only the store.

Cell: the mean over samples of one similarity measure for one (method, variant, level), with a 95 %
cluster-bootstrap interval over images (eval.stats) and n. Beside the levels, each method's floor:
the similarity of its original map to the same map with its pixels shuffled inside the receptive
field (the method's own values without their places). The floor of the two rank correlations is 0
and of the top-10 % intersection 0.1 for any map; that of SSIM depends on the map (two sparse maps
share many all-zero windows, which SSIM scores 1), which is why the verdict uses the method's own
floor and not the i.i.d. random heatmap (the "random" row, shown as the common reference).

Verdict of a method, from the cascading variant's last level (every parameter re-drawn). For each
of the four measures, d = similarity(last level) − similarity(floor), paired per sample, with its
95 % cluster-bootstrap interval [lo, hi]; f is the floor's mean.

    at the floor   hi < MARGIN             no more than MARGIN = 0.1 above the floor, with 95 %
                                            confidence (below it counts as at it: a sign flip
                                            that keeps the structure shows in ρ of |R|)
    kept           lo > KEPT · (1 − f)     more than KEPT = ½ of the way from the floor to
                                            identical maps survives, with 95 % confidence
    passes   every measure at the floor
    fails    some measure kept
    partly   neither: the similarity falls, but not (provably) to the floor
    undecided  no interval (fewer than 2 images) or no values

The first cascading level at which a method is at the floor on every measure is reported beside it.
For "fails" and "partly" the text also says whether the residual similarity is explained by the
architecture and the input: on every measure not at the floor, the paired difference (last level −
two random models) has its upper end below MARGIN, i.e. the trained model's map resembles a random
model's map no more than two random models' maps resemble each other.
"""
import html
import math
from pathlib import Path

import numpy as np

from eval.methods import label as method_label
from eval.metrics.similarity import LABELS as MEASURE_LABELS
from eval.metrics.similarity import MEASURES
from eval.report import render
from eval.report.page import data_uri, page, section_path
from eval.report.table import Column, Table
from eval.store.files import atomic_write, write_json, write_text
from eval.store import HEATMAP
from eval.stats import cluster_bootstrap, paired_difference

MARGIN = 0.1
KEPT = 0.5
RANDOM = "random"
FLOOR, SHUFFLED, MODELS = "floor", "shuffled", "random-models"   # the reference records (eval.sanity)
REFERENCES = {SHUFFLED: "floor (shuffled)", MODELS: "two random models"}
LEGEND = ("Similarity of the randomised model's heatmap to the original one, inside the target's receptive "
          "field; cells: mean [95 % interval, cluster-t over images]; 1 = unchanged. floor (shuffled): the "
          "original map against itself with its pixels shuffled inside the receptive field; two random models: "
          "the maps of two fully randomised copies against each other (what the architecture and the input "
          "alone share); random row: an i.i.d. uniform heatmap redrawn at every level.")
RULE = (f"Verdict (cascading, every level re-drawn): passes when on every measure the 95 % interval of the "
        f"paired difference to the method's floor ends below +{MARGIN:g}; fails when on some measure the interval's "
        f"lower end keeps more than {KEPT:g} of the way from the floor to 1; partly otherwise.")
FIGURES = {"sanity_cascading": "figures/sanity_cascading.png", "sanity_curves": "figures/sanity_curves.png"}
CAPTIONS = {
    "sanity_cascading": "Cascading randomisation of one detection: rows methods, columns the original model "
                        "and the model with the levels up to each column's re-drawn (red positive, blue "
                        "negative, each map normalised by its own max |R|; the receptive field in grey).",
    "sanity_curves": "Similarity of the randomised model's heatmap to the original one, per level (mean "
                     "over samples, band: 95 % interval over images); at the right each method's floor (–, its "
                     "original map shuffled) and what two random models share (×); grey dashed: an i.i.d. "
                     "random heatmap.",
}


def _label(name: str, settings: dict) -> str:
    return "random heatmap (i.i.d.)" if name == RANDOM else method_label(name, settings)


def summarize(records: list[dict], meta: dict) -> dict:
    """{"cells": {method: {variant: {level: {measure: cell}}}}, "verdicts": {method: {...}}} of the
    run's records (module docstring)."""
    names = meta["methods"] + [RANDOM]
    by = {}
    for r in records:
        by.setdefault((r["explainer"], r["variant"], r["level"]), []).append(r)
    def cell(m, v, lv, ms):
        rs = by.get((m, v, lv), [])
        return cluster_bootstrap([r["similarity"][ms] for r in rs], [r["image_id"] for r in rs])
    cells = {m: {v: {lv: {ms: cell(m, v, lv, ms) for ms in MEASURES}
                     for lv in (meta["levels"] if v != FLOOR else list(REFERENCES))}
                 for v in meta["variants"] + [FLOOR]} for m in names}
    verdicts = {m: verdict(by, m, meta["levels"]) for m in meta["methods"]} if "cascading" in meta["variants"] else {}
    return {"cells": cells, "verdicts": verdicts}


def _floor_test(by: dict, method: str, level: str) -> dict:
    """{measure: {"difference": paired cell (level − floor), "floor": mean, "similarity": cell,
    "random_models": cell of the two-random-models reference, "above_random_models": paired cell
    (level − two random models), "at_floor", "kept", "decided", "architectural": the level's similarity
    is provably less than MARGIN above what two random models share}} at one cascading level."""
    mine = {r["sample_id"]: r for r in by.get((method, "cascading", level), [])}
    floor = {r["sample_id"]: r for r in by.get((method, FLOOR, SHUFFLED), [])}
    models = {r["sample_id"]: r for r in by.get((method, FLOOR, MODELS), [])}
    cluster_of = {s: r["image_id"] for s, r in {**floor, **models, **mine}.items()}
    out = {}
    for ms in MEASURES:
        a = {s: r["similarity"][ms] for s, r in mine.items()}
        b = {s: r["similarity"][ms] for s, r in floor.items()}
        c = {s: r["similarity"][ms] for s, r in models.items()}
        d, d2 = paired_difference(a, b, cluster_of), paired_difference(a, c, cluster_of)
        f = cluster_bootstrap(list(b.values()), [cluster_of[s] for s in b])["mean"]
        ci, ci2 = d["ci95"], d2["ci95"]
        out[ms] = {"difference": d, "floor": f,
                   "similarity": cluster_bootstrap(list(a.values()), [cluster_of[s] for s in a]),
                   "random_models": cluster_bootstrap(list(c.values()), [cluster_of[s] for s in c]),
                   "above_random_models": d2,
                   "at_floor": bool(ci is not None and ci[1] < MARGIN),
                   "kept": bool(ci is not None and f is not None and ci[0] > KEPT * (1 - f)),
                   "decided": ci is not None and f is not None,
                   "architectural": bool(ci2 is not None and ci2[1] < MARGIN)}
    return out


def verdict(by: dict, method: str, levels: list[str]) -> dict:
    """{"verdict": passes | partly | fails | undecided, "text": the reason in words, "first_floor":
    the first cascading level at the floor on every measure (or None), "tests": per measure}."""
    tests = _floor_test(by, method, levels[-1])
    first = next((lv for lv in levels if all(t["at_floor"] for t in _floor_test(by, method, lv).values())), None)
    where = f"with every level re-drawn ({levels[-1]})"

    def show(ms):
        t = tests[ms]
        d = t["difference"]
        rm, d2 = t["random_models"], t["above_random_models"]
        return (f"{MEASURE_LABELS[ms]} {_num(t['similarity']['mean'])}, {_num(d['mean_diff'])} "
                f"{_interval(d['ci95'])} above its floor {_num(t['floor'])} (two random models: "
                f"{_num(rm['mean'])} {_interval(rm['ci95'])}, difference {_num(d2['mean_diff'])} "
                f"{_interval(d2['ci95'])})")
    if not all(t["decided"] for t in tests.values()):
        word, text = "undecided", "undecided: no 95 % interval (fewer than 2 images or no values)"
    elif all(t["at_floor"] for t in tests.values()):
        word = "passes"
        text = (f"passes: {where}, all four similarities are less than {MARGIN:g} above the method's floor "
                f"(95 % intervals of the paired difference); first at the floor at {first}")
    elif any(t["kept"] for t in tests.values()):
        word = "fails"
        kept = [ms for ms in MEASURES if tests[ms]["kept"]]
        text = (f"fails: {where}, more than half of the similarity above the floor survives: "
                + "; ".join(show(ms) for ms in kept))
    else:
        word = "partly"
        above = [ms for ms in MEASURES if not tests[ms]["at_floor"]]
        text = (f"partly: {where}, the similarity falls but not provably to the floor: "
                + "; ".join(show(ms) for ms in above))
    residual = [ms for ms in MEASURES if not tests[ms]["at_floor"]]
    architectural = bool(residual) and all(tests[ms]["architectural"] for ms in residual)
    if word in ("fails", "partly") and architectural:
        text += ("; what remains, two independently randomised models share as well: it is set by the "
                 "architecture and the input, not by the trained parameters")
    return {"verdict": word, "text": text, "first_floor": first, "residual_architectural": architectural,
            "tests": tests}


# ---------------------------------------------------------------- text

def _num(v) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.2f}"


def _interval(ci) -> str:
    return "[–]" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def budget_text(meta: dict) -> str:
    b = meta["budget"]
    return (f"LIME {b['lime_samples']} samples, SHAP {b['shap_permutations']} permutation(s), "
            f"{b['superpixels']} SLIC superpixels (paper: 1000, 4, 250)")


def verdict_table(summary: dict, meta: dict) -> Table:
    return Table("sanity-verdicts", "Verdicts", ["method", "verdict", "reason"],
                 [[_label(m, meta["settings"]), f"**{v['verdict']}**", v["text"]] for m, v in summary["verdicts"].items()],
                 note=RULE)


def measure_table(summary: dict, meta: dict, variant: str, measure: str) -> Table:
    """One measure of one variant: rows methods, columns the levels and the two references; cells
    give n only where it differs from the row's (a column of its own)."""
    rows, row_n = [], []
    for m in meta["methods"] + [RANDOM]:
        cells = [summary["cells"][m][variant][lv][measure] for lv in meta["levels"]]
        cells += [summary["cells"][m][FLOOR][ref][measure] for ref in REFERENCES]
        n, g = max(c["n"] for c in cells), max(c["n_images"] for c in cells)
        rows.append([_label(m, meta["settings"]), f"{n} ({g})"] + cells)
        row_n.append(n)
    columns = ["method", "n (images)"] + [Column(h, decimals=2, compact=True)
                                          for h in meta["levels"] + list(REFERENCES.values())]
    return Table(f"sanity-{measure}-{variant}", f"{MEASURE_LABELS[measure]}, {variant}", columns, rows, row_n=row_n)


def tables(summary: dict, meta: dict) -> list[Table]:
    out = [verdict_table(summary, meta)] if summary["verdicts"] else []
    return out + [measure_table(summary, meta, v, ms) for v in meta["variants"] for ms in MEASURES]


def markdown(summary: dict, meta: dict) -> str:
    head = (f"# Sanity checks: model-parameter randomisation ({meta['samples']} samples in {meta['images']} "
            f"images, {meta['data']}, weights {meta['weights']}, {meta['device_name']})\n\n"
            f"Budget: {budget_text(meta)}. {LEGEND}")
    return "\n\n".join([head] + [t.markdown(level=2) for t in tables(summary, meta)]) + "\n"


def section_html(out_dir: Path, summary: dict, meta: dict) -> str:
    """The section of report.html: verdicts, figures (as data URIs) and tables."""
    parts = ['<section id="sanity"><h2>Sanity checks: model-parameter randomisation</h2>',
             f"<p>{meta['samples']} samples in {meta['images']} images ({html.escape(meta['data'])}, weights "
             f"{html.escape(meta['weights'])}, {html.escape(meta['device_name'])}). Budget: "
             f"{html.escape(budget_text(meta))}. {html.escape(LEGEND)}</p>"]
    found = tables(summary, meta)
    if summary["verdicts"]:
        parts.append(found.pop(0).html(3))
    for name, rel in FIGURES.items():
        if (out_dir / rel).is_file():
            parts.append(f'<figure><img src="{data_uri(out_dir / rel)}" alt="{name}"><figcaption>'
                         f"{html.escape(CAPTIONS[name])}</figcaption></figure>")
    parts += [t.html(4) for t in found] + ["</section>"]
    return "\n".join(parts)


# ---------------------------------------------------------------- figures

def figure_cascading(out_dir: Path, meta: dict, arrays: dict) -> str:
    """The classic figure from the stored maps of the figure's sample; returns the path."""
    from matplotlib.figure import Figure
    levels, methods = meta["levels"], [m for m in meta["methods"] if f"{HEATMAP}{m}" in arrays]
    cols = ["original"] + levels
    fig = Figure(figsize=(1.5 * (len(cols) + 1), 1.5 * len(methods) + 0.5), layout="constrained")
    axes = np.asarray(fig.subplots(len(methods), len(cols) + 1, squeeze=False))
    y0, y1, x0, x1 = (int(v) for v in arrays["region"])
    line = max(2, arrays["image"].shape[0] // 96)       # a line that survives the panels' downscaling
    image = render.draw_box(arrays["image"].astype(np.uint8), arrays["box"], thickness=line)
    blank = np.full_like(image, 255)
    for i, m in enumerate(methods):
        keys = [f"{HEATMAP}{m}"] + [f"{HEATMAP}{m}/cascading/{lv}" for lv in levels]
        panels = [image] + [render.draw_box(render.colorize(arrays[k]), (x0, y0, x1 - 1, y1 - 1), render.GREY, line)
                            if k in arrays else blank for k in keys]
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("input" if j == 0 else cols[j - 1], fontsize=8)
        axes[i, 0].set_ylabel(_label(m, meta["settings"]), fontsize=7)
    fig.suptitle(f"cascading randomisation, sample {meta['figure_sample']}", fontsize=9)
    return _save(fig, out_dir / FIGURES["sanity_cascading"])


def figure_curves(out_dir: Path, summary: dict, meta: dict) -> str:
    """Similarity vs level per method with 95 % bands: rows variants, columns measures."""
    from matplotlib.figure import Figure
    variants, levels = meta["variants"], meta["levels"]
    fig = Figure(figsize=(3.4 * len(MEASURES), 2.8 * len(variants) + 0.8), layout="constrained")
    axes = np.asarray(fig.subplots(len(variants), len(MEASURES), squeeze=False))
    x = np.arange(len(levels) + 1)
    ticks = ["original"] + levels + ["floor", "2 random"]
    for i, v in enumerate(variants):
        for j, ms in enumerate(MEASURES):
            ax = axes[i, j]
            for m in meta["methods"] + [RANDOM]:
                cells = [summary["cells"][m][v][lv][ms] for lv in levels]
                mean = np.array([1.0] + [c["mean"] if c["mean"] is not None else np.nan for c in cells])
                lo = np.array([1.0] + [c["ci95"][0] if c["ci95"] else np.nan for c in cells])
                hi = np.array([1.0] + [c["ci95"][1] if c["ci95"] else np.nan for c in cells])
                if m == RANDOM:
                    mean[0] = lo[0] = hi[0] = np.nan        # the floor has no "original" point
                style = dict(color="grey", linestyle="--") if m == RANDOM else {}
                line, = ax.plot(x, mean, marker="o", markersize=2.5, linewidth=1,
                                label=_label(m, meta["settings"]), **style)
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
                for k, (ref, marker) in enumerate(((SHUFFLED, "_"), (MODELS, "x"))):
                    mean = summary["cells"][m][FLOOR][ref][ms]["mean"]
                    if mean is not None:
                        ax.plot([len(levels) + 1 + k], [mean], marker=marker, markersize=7, color=line.get_color())
            ax.set_xticks(np.arange(len(ticks)), ticks, rotation=60, fontsize=7)
            ax.set_title(f"{MEASURE_LABELS[ms]} ({v})", fontsize=9)
            ax.set_ylim({"spearman": -1.05, "ssim": -0.3}.get(ms, -0.05), 1.05)
            ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=7)
    return _save(fig, out_dir / FIGURES["sanity_curves"])


def _save(fig, path: Path) -> str:
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=90)
    return str(path)


def write_outputs(out_dir, records: list[dict], meta: dict, arrays: dict, figures: bool = True) -> tuple[list, list]:
    """sanity.json, sanity.md, the figures (if matplotlib is installed and `figures`), the section of
    report.html and sanity.html (the section alone); `arrays`: the stored maps of the figure's sample.
    Returns (files written relative to out_dir, lines for the log)."""
    out_dir = Path(out_dir)
    summary = summarize(records, meta)
    write_json(out_dir / "sanity.json", {"meta": meta, "summary": summary})
    write_text(out_dir / "sanity.md", markdown(summary, meta))
    written, lines = ["sanity.json", "sanity.md"], [f"wrote {out_dir / 'sanity.json'} and {out_dir / 'sanity.md'}"]
    if not figures:
        lines.append(f"figures skipped (--no-figures): {', '.join(FIGURES)}")
    else:
        try:
            import matplotlib  # noqa: F401
        except ModuleNotFoundError:
            lines.append(f"figures skipped (matplotlib not installed, extra `plots`): {', '.join(FIGURES)}")
        else:
            if "image" in arrays:
                lines.append(f"wrote {figure_cascading(out_dir, meta, arrays)}")
                written.append(FIGURES["sanity_cascading"])
            else:
                lines.append("figure sanity_cascading skipped: no stored maps of the figure's sample")
            lines.append(f"wrote {figure_curves(out_dir, summary, meta)}")
            written.append(FIGURES["sanity_curves"])
    fragment = section_html(out_dir, summary, meta)
    write_text(section_path(out_dir, "sanity"), fragment)
    write_text(out_dir / "sanity.html", page("Sanity checks", fragment))
    written += [str(section_path(out_dir, "sanity").relative_to(out_dir)), "sanity.html"]
    lines.append(f"wrote {out_dir / 'sanity.html'}")
    for m, v in summary["verdicts"].items():
        lines.append(f"{m}: {v['text']}")
    return written, lines
