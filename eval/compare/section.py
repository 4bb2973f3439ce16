"""eval.compare's section of report.html, from what the run stored (tables.json, the records, the
arrays, the figures): the faithfulness results first with the claims the paired intervals support,
then the operator fidelity, the relevance outside the receptive field, the paper's tables 1–4 as
the reproduction, the figures, and a gallery of every sample of this run.

The tables are those of tables.md (eval.compare.tables) rendered to HTML; every cell carries its
exact value as JSON in `data-value`, and the whole of tables.json is embedded in a
`<script type="application/json" id="tables-json">` block.
"""
import html
import json
import math
from pathlib import Path

import numpy as np
from skimage.transform import downscale_local_mean

from eval.report import render
from eval.report.page import data_uri, section_path
from eval.report.table import Table, claims, fmt_value
from eval.store.files import write_text
from eval.store import HEATMAP, StoredSample

from . import tables
from .figures import FIGURES

GALLERY_SIZE = 256      # gallery pictures are shrunk (area mean) to at most this many pixels a side
GALLERY = "gallery"


def meta_html(data: dict) -> str:
    keep = ("samples", "n_images", "data", "weights", "device_name", "methods", "passes_run", "passes_skipped",
            "settings_hash")
    items = [f"<li><b>{html.escape(k)}</b>: {html.escape(fmt_value(data[k], 4))}</li>" for k in keep if k in data]
    settings = data.get("settings")
    if settings:
        items.append(f"<li><b>settings</b>: <code>{html.escape(json.dumps(settings, ensure_ascii=False))}</code></li>")
    return "<ul>" + "".join(items) + "</ul>"


def shrink(a: np.ndarray, factor: int) -> np.ndarray:
    """Area mean over factor×factor blocks ([H,W] or [H,W,3]); uint8 stays uint8."""
    if factor <= 1:
        return a
    f = (factor, factor) + (1,) * (a.ndim - 2)
    out = downscale_local_mean(a.astype(np.float64), f)
    return np.round(out).astype(np.uint8) if a.dtype == np.uint8 else out


def gallery_picture(sample: StoredSample, methods) -> np.ndarray:
    """Image with boxes followed by the heatmap of each method, shrunk to GALLERY_SIZE."""
    factor = max(1, math.ceil(max(sample.image.shape[:2]) / GALLERY_SIZE))
    img = shrink(sample.image, factor)
    if sample.gt_box is not None:
        img = render.draw_box(img, np.asarray(sample.gt_box) / factor, render.RED, 1)
    if sample.box is not None:
        img = render.draw_box(img, np.asarray(sample.box) / factor, render.YELLOW, 1)
    panels = [img] + [render.framed(render.colorize(shrink(sample.heatmaps[m], factor))) for m in methods]
    h = min(p.shape[0] for p in panels)
    return render.side_by_side([p[:h] for p in panels])


def sample_table(sample: StoredSample) -> Table | None:
    """One sample's headline numbers per method: gap per operator/unit, outside-RF share, localization, time."""
    rows = [r for r in sample.records if r.get("kind") == "explanation"]
    if not rows:
        return None
    faith = list(dict.fromkeys((op, unit) for r in rows for op, units in (r.get("faithfulness") or {}).items()
                               for unit in units))
    body = []
    for r in rows:
        metrics = r.get("metrics") or {}
        body.append([r["method"]] + [((r.get("faithfulness") or {}).get(op) or {}).get(unit, {}).get("gap")
                                     for op, unit in faith]
                    + [metrics.get("outside_rf"), (metrics.get("localization_mask") or {}).get("superpixels"),
                       None if r.get("seconds") is None else 1000 * r["seconds"]])
    return Table(f"sample-{sample.id}", "", ["method"] + [f"gap ({op}, {unit})" for op, unit in faith]
                 + ["outside RF", "in mask (superpixels)", "ms"], body)


def gallery(out_dir: Path, samples: list[StoredSample]) -> tuple[str, list[str]]:
    """The gallery's HTML and the pictures written (relative to out_dir)."""
    out, written = [], []
    for s in samples:
        explained = [r["method"] for r in s.records if r.get("kind") == "explanation" and r["method"] in s.heatmaps]
        methods = [m for m in ("lrp", "deeplift", "shap", "lime") if m in explained]
        methods += [m for m in explained if m not in methods]
        labels = {r["method"]: r.get("label") or r["method"] for r in s.records if r.get("kind") == "explanation"}
        path = Path(render.write_png(out_dir / GALLERY / f"{s.id}.png", gallery_picture(s, methods)))
        written.append(str(path.relative_to(out_dir)))
        caption = " · ".join(["image"] + [labels.get(m, m) for m in methods])
        table = sample_table(s)
        out.append(f'<div class="sample" id="sample-{html.escape(s.id, quote=True)}">'
                   f"<h3>{html.escape(s.id)}: {html.escape(s.title())} ({html.escape(str(s.field('layer')))})</h3>"
                   f'<img src="{data_uri(path)}" alt="{html.escape(caption, quote=True)}">'
                   f"<p>{html.escape(caption)}</p>{table.html(4) if table else ''}</div>")
    return "\n".join(out), written


def strip(image: np.ndarray, box, colour, maps) -> np.ndarray:
    """The image with a box, then each map [H,W], shrunk to GALLERY_SIZE."""
    factor = max(1, math.ceil(max(image.shape[:2]) / GALLERY_SIZE))
    panels = [render.draw_box(shrink(image, factor), np.asarray(box) / factor, colour, 1)]
    panels += [render.framed(render.colorize(shrink(m, factor))) for m in maps]
    return render.side_by_side(panels)


def outputs_html(out_dir: Path, samples: list[StoredSample]) -> tuple[str, list[str]]:
    """Why the box is where it is (the class map beside the four box-coordinate maps, LRP-γ + ♭) and
    what the detector saw where it missed an object, from the stored arrays; and the pictures written."""
    parts, written = [], []

    def picture(name: str, rgb: np.ndarray, alt: str) -> str:
        path = Path(render.write_png(out_dir / GALLERY / name, rgb))
        written.append(str(path.relative_to(out_dir)))
        return f'<img src="{data_uri(path)}" alt="{html.escape(alt, quote=True)}">'
    for s in samples:
        if f"{HEATMAP}lrp-box-cx" in s.arrays and "lrp" in s.heatmaps:
            maps = [s.heatmaps[n] for n in ["lrp"] + [f"lrp-box-{c}" for c in ("cx", "cy", "w", "h")]]
            parts.append(f"<p>{html.escape(s.title())}: the class logit, then cx, cy, w, h of its box (LRP-γ + ♭)</p>"
                         + picture(f"{s.id}-box.png", strip(s.image, s.box, render.YELLOW, maps), "box maps"))
        for k, box in enumerate(s.arrays.get("missed_boxes", ())):
            parts.append(picture(f"{s.id}-missed-{k}.png", strip(s.image, box, render.RED, [s.heatmaps[f"missed-{k}"]]),
                                 f"missed object {k} of {s.id}"))
    if not parts:
        return "", written
    return ("<h3>Beyond the class: the box and the objects it missed</h3><p>Missed objects (red): no detection "
            "of their class matches them; the map explains the class at the prior that overlaps them most.</p>"
            + "".join(parts), written)


def figure_html(out_dir: Path, name: str) -> str:
    path = out_dir / "figures" / f"{name}.png"
    if not path.is_file():
        return f"<p><b>{name}</b>: not drawn (see the log of the run: no matplotlib, --no-figures, or no data).</p>"
    return (f'<figure id="{name}"><img src="{data_uri(path)}" alt="{name}">'
            f"<figcaption><b>{name}</b>: {html.escape(FIGURES[name])}</figcaption></figure>")


def write_section(out_dir, data: dict, samples: list[StoredSample]) -> list[str]:
    """Write sections/compare.html (and the gallery pictures); returns the files written."""
    out_dir = Path(out_dir)
    supported = claims(data.get("paired") or [])
    claims_html = ("<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in supported) + "</ul>" if supported else
                   "<p>No paired difference has an interval that excludes 0: on these samples no method can be "
                   "said to beat another on any headline metric.</p>")
    fidelity = tables.operator_fidelity(data)
    pictures, written = gallery(out_dir, samples)
    shows = "".join(f"<li>{html.escape(c)}</li>" for c in data.get("conclusions") or [])
    sanity = tables.metric_sanity(data)
    mde = tables.mde_text(data)
    parts = ['<section id="compare"><h2>Comparison of the methods (eval.compare)</h2>',
             f"<h3>What this run shows</h3><ul>{shows}</ul>", "<h3>Run</h3>", meta_html(data),
             "<h3>Faithfulness</h3>",
             "<p>Removal curves: the target's probability, normalised to 1 unremoved and 0 fully removed, while its "
             "most (MoRF) or least (LeRF) relevant superpixels are removed; areas over a log axis of the removed "
             "fraction (0.1 %–100 %). Cells: mean [95 % interval, cluster-t over images] (n samples, images).</p>",
             ]
    parts += [t.html(4) for t in tables.faithfulness(data)]
    parts += [figure_html(out_dir, "faithfulness"), tables.claims_table(data).html(4),
              f"<p>{html.escape(mde)}</p>" if mde else "", sanity.html(4) if sanity else ""]
    pointing = tables.pointing_game(data)
    parts += ["<h3>The field's measures</h3>", pointing.html(4) if pointing else ""]
    parts += [t.html(4) for t in tables.insertion_deletion(data)]
    matched = tables.matched_vs_fixed(data)
    beyond, pictures_beyond = outputs_html(out_dir, samples)
    parts += [matched.html(4) if matched else "", beyond]
    parts += [t.html(4) for t in tables.by_layer(data)]
    parts += ["<details><summary>Every paired difference a − b (exploratory; mean, 95 % interval over images, n)"
              "</summary><h4>The differences whose interval excludes 0</h4>", claims_html,
              tables.paired(data).html(4) + "</details>"]
    parts += ["<h3>How to remove pixels: operator fidelity</h3>",
              "<p>Every object of the sampled images removed with each operator, against its true removal (the "
              "image rendered without it).</p>",
              fidelity.html(4) if fidelity else "<p>No operator fidelity (it needs the synthetic data's true removal).</p>",
              figure_html(out_dir, "operator_fidelity"),
              "<h3>Relevance outside the receptive field</h3>", tables.outside_rf(data).html(4),
              "<h3>The paper's tables (reproduction)</h3>"] + [t.html(4) for t in tables.paper_tables(data)]
    parts += ['<script type="application/json" id="tables-json">'
              + json.dumps(data, ensure_ascii=False).replace("</", "<\\/") + "</script>",
              "<h3>The paper's figures</h3>"]
    parts += [figure_html(out_dir, n) for n in FIGURES if n not in ("faithfulness", "operator_fidelity")]
    parts += ["<h3>Samples</h3>", f"<p>{len(samples)} samples. Heatmaps: red positive, blue negative, white zero, "
              "each normalised by its own max |R|; predicted box yellow, ground truth red.</p>", pictures, "</section>"]
    path = section_path(out_dir, "compare")
    write_text(path, "\n".join(parts))
    return written + pictures_beyond + [str(path.relative_to(out_dir))]
