"""`report.html`: one self-contained page (images embedded as data URIs) of a run, read from what
eval.compare stored (tables.json, the records, heatmaps, figures): the new faithfulness results
first, with the differences the paired intervals support stated in words, then the operator
fidelity, the sanity checks and the Clever-Hans test where the folder holds them, the paper's
tables 1–4 as the reproduction, the figures, and a gallery of every sample.

Numbers are rounded for reading; every cell carries its exact value as JSON in `data-value`, and the
whole of tables.json is embedded in a `<script type="application/json" id="tables-json">` block.

`python -m eval.report OUT` redraws the figures (eval.figures) and report.html of a finished run.
"""
import argparse
import base64
import html
import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
from skimage.transform import downscale_local_mean

from eval import render
from eval.figures import FIGURES, write_figures
from eval.store import StoredSample, open_run, read_json
from eval.tables import PAPER_TABLES, claims, fmt_cell, metric_name

GALLERY_SIZE = 256      # gallery pictures are shrunk (area mean) to at most this many pixels a side
SECTIONS = ("sanity", "hans")   # modules whose report_section(out_dir) adds a section when present

STYLE = """
body{font-family:sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee} td:first-child,th:first-child{text-align:left}
figure{margin:1em 0} figcaption{font-size:.9em;color:#444;max-width:60em}
img{max-width:100%} .sample{border-top:1px solid #ccc;padding-top:.5em} li{margin:.2em 0}
"""


def data_uri(png_path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")


def fmt(value) -> str:
    """A value for reading: a cell {"mean", "ci95", "n", …} as 'mean [lo, hi] (n=…)', floats to 4
    significant digits, None as '–'."""
    if isinstance(value, dict) and ("mean" in value or "mean_diff" in value):
        return html.escape(fmt_cell(value, decimals=3))
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return html.escape(json.dumps(value, ensure_ascii=False))
    return html.escape(str(value))


def cell(value, tag: str = "td", text: str | None = None) -> str:
    """A table cell showing fmt(value) (or `text`), with the exact value as JSON in data-value."""
    exact = html.escape(json.dumps(value, ensure_ascii=False), quote=True)
    return f'<{tag} data-value="{exact}">{fmt(value) if text is None else text}</{tag}>'


def _table(head: list[str], rows: list[list[str]], name: str = "") -> str:
    attribute = f' data-table="{html.escape(name, quote=True)}"' if name else ""
    return (f"<table{attribute}><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(r) + "</tr>" for r in rows) + "</table>")


def faithfulness_html(data: dict) -> str:
    parts = []
    for op, by_unit in (data.get("faithfulness") or {}).items():
        for unit, rows in by_unit.items():
            parts.append(f"<h3>Removal by <code>{html.escape(op)}</code>, {html.escape(unit)}</h3>")
            parts.append(_table(["method", "MoRF AUC ↓", "LeRF AUC ↑", "gap = LeRF − MoRF ↑"],
                                [[f'<td data-method="{html.escape(m, quote=True)}">{html.escape(m)}</td>']
                                 + [cell(c[k]) for k in ("morf", "lerf", "gap")] for m, c in rows.items()],
                                f"faithfulness-{op}-{unit}"))
    return "\n".join(parts)


def claims_html(data: dict) -> str:
    found = claims(data.get("paired") or [])
    if not found:
        return "<p>No paired difference has an interval that excludes 0: on these samples no method can be " \
               "said to beat another on any headline metric.</p>"
    return "<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in found) + "</ul>"


def paired_html(data: dict) -> str:
    rows = [[f"<td>{html.escape(metric_name(e))}</td>", f"<td>{html.escape(e['a'])}</td>",
             f"<td>{html.escape(e['b'])}</td>", cell(e), f"<td>{html.escape(e['better'] or 'no')}</td>"]
            for e in data.get("paired") or []]
    return ("<details><summary>All paired differences a − b (mean, 95 % interval over images, n)</summary>"
            + _table(["metric", "a", "b", "mean difference", "interval excludes 0: better"], rows, "paired")
            + "</details>")


def fidelity_html(data: dict) -> str:
    fidelity = data.get("operator_fidelity") or {}
    if not fidelity:
        return "<p>No operator fidelity (it needs the synthetic data's true removal).</p>"
    return _table(["operator", "mean |p − p_true| ↓", "… own object ↓", "rank correlation with true removal ↑"],
                  [[f"<td>{html.escape(op)}</td>", cell(c["mean_abs_diff"]), cell(c["mean_abs_diff_own"]),
                    cell(c["rank_corr"])] for op, c in fidelity.items()], "operator_fidelity")


def outside_html(data: dict) -> str:
    rows = [[f"<td>{html.escape(m)}</td>", cell(c)] for m, c in (data.get("outside_rf") or {}).items()]
    return _table(["method", "share of |R| outside the receptive field ↓ (0 is correct)"], rows, "outside_rf")


def layers_html(data: dict) -> str:
    parts = []
    for op, by_unit in (data.get("by_layer") or {}).items():
        for unit, layers in by_unit.items():
            methods = list(next(iter(layers.values())))
            parts.append(f"<h4>Gap by source layer ({html.escape(op)}, {html.escape(unit)})</h4>")
            parts.append(_table(["layer"] + [html.escape(m) for m in methods],
                                [[f"<td>{html.escape(layer)}</td>"] + [cell(cells.get(m)) for m in methods]
                                 for layer, cells in layers.items()], f"by_layer-{op}-{unit}"))
    return "\n".join(parts)


def paper_tables_html(data: dict) -> str:
    parts = []
    for name, table in (data.get("tables") or {}).items():
        cols, paper = table["columns"], table.get("paper") or {}
        _, _, _, decimals, unit = PAPER_TABLES.get(name, (None, None, 1, 3, ""))
        head = ["method"] + [html.escape(c) for c in cols] + ([f"paper: {html.escape(c)}" for c in cols] if paper else [])
        rows = []
        for m, row in table["rows"].items():
            r = [f'<td data-method="{html.escape(m, quote=True)}">{html.escape(m)}</td>']
            r += [cell(row.get(c), text=html.escape(fmt_cell(row.get(c), decimals, 1.0, unit))) for c in cols]
            r += [f"<td>{html.escape(str(paper.get(m, {}).get(c) or '–'))}</td>" for c in cols] if paper else []
            rows.append(r)
        parts.append(f"<h3>{html.escape(table['title'])}</h3>" + _table(head, rows, name))
    return "\n".join(parts)


def meta_html(data: dict) -> str:
    keep = ("samples", "n_images", "data", "weights", "device_name", "methods", "passes_run", "passes_skipped",
            "settings_hash")
    items = [f"<li><b>{html.escape(k)}</b>: {fmt(data[k])}</li>" for k in keep if k in data]
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


def sample_metrics_html(records) -> str:
    """One sample's headline numbers per method: gap per operator/unit, outside-RF share, localization."""
    rows = [r for r in records if r.get("kind") == "explanation"]
    if not rows:
        return ""
    faith = [(op, unit) for r in rows for op, units in (r.get("faithfulness") or {}).items() for unit in units]
    faith = list(dict.fromkeys(faith))
    head = ["method"] + [f"gap ({html.escape(op)}, {html.escape(unit)})" for op, unit in faith] + \
        ["outside RF", "in mask (superpixels)", "ms"]
    body = []
    for r in rows:
        metrics = r.get("metrics") or {}
        body.append([f"<td>{html.escape(r['method'])}</td>"]
                    + [cell(((r.get("faithfulness") or {}).get(op) or {}).get(unit, {}).get("gap")) for op, unit in faith]
                    + [cell(metrics.get("outside_rf")), cell((metrics.get("localization_mask") or {}).get("superpixels")),
                       cell(None if r.get("seconds") is None else 1000 * r["seconds"])])
    return _table(head, body)


def gallery_html(out_dir: Path, samples: list[StoredSample]) -> str:
    out = []
    gallery_dir = out_dir / "gallery"
    for s in samples:
        explained = [r["method"] for r in s.records if r.get("kind") == "explanation" and r["method"] in s.heatmaps]
        methods = [m for m in ("lrp", "deeplift", "shap", "lime") if m in explained]
        methods += [m for m in explained if m not in methods]
        labels = {r["method"]: r.get("label") or r["method"] for r in s.records if r.get("kind") == "explanation"}
        path = render.write_png(gallery_dir / f"{s.id}.png", gallery_picture(s, methods))
        caption = " · ".join(["image"] + [labels.get(m, m) for m in methods])
        out.append(f'<div class="sample" id="sample-{html.escape(s.id, quote=True)}">'
                   f"<h3>{html.escape(s.id)}: {html.escape(s.title())} ({html.escape(str(s.field('layer')))})</h3>"
                   f'<img src="{data_uri(path)}" alt="{html.escape(caption, quote=True)}">'
                   f"<p>{html.escape(caption)}</p>{sample_metrics_html(s.records)}</div>")
    return "\n".join(out)


def figure_html(out_dir: Path, name: str) -> str:
    path = out_dir / "figures" / f"{name}.png"
    if not path.is_file():
        return f"<p><b>{name}</b>: not drawn (see the log of the run: no matplotlib, or no data).</p>"
    return (f'<figure id="{name}"><img src="{data_uri(path)}" alt="{name}">'
            f"<figcaption><b>{name}</b>: {html.escape(FIGURES[name])}</figcaption></figure>")


def extra_sections(out_dir: Path) -> list[str]:
    """The sections of an eval.sanity and an eval.hans run lying in this folder or in its subfolder
    sanity/ or hans/ (each module's report_section(folder) returns "" when the folder holds none)."""
    parts = []
    for name in SECTIONS:
        module = importlib.import_module(f"eval.{name}")
        for folder in (out_dir, out_dir / name):
            section = module.report_section(folder)
            if section:
                parts.append(section)
                break
    return parts


def write_report(out_dir) -> str:
    """Write `out_dir/report.html` from what eval.compare left in `out_dir`; returns its path."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"no such output folder: {out_dir}")
    data = read_json(out_dir / "tables.json")
    store = open_run(out_dir)
    samples = store.samples() if store else []
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>XAI for SSD: comparison report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>LRP, DeepLIFT, LIME and SHAP on SSD512: comparison report</h1>"]
    if not data:
        parts.append("<p>No tables.json in this folder: the run is not complete (rerun the same command to "
                     "finish it).</p>")
    else:
        parts += ["<h2>Run</h2>", meta_html(data),
                  "<h2>Faithfulness</h2>",
                  "<p>Removal curves: the target's probability, normalised to 1 unremoved and 0 fully removed, "
                  "while its most (MoRF) or least (LeRF) relevant superpixels are removed; areas over a log "
                  "axis of the removed fraction (0.1 %–100 %). Cells: mean [95 % interval, bootstrap over "
                  "images] (n samples, images).</p>",
                  "<h3>What the paired intervals support</h3>", claims_html(data), faithfulness_html(data),
                  figure_html(out_dir, "faithfulness"), paired_html(data), layers_html(data),
                  "<h2>How to remove pixels: operator fidelity</h2>",
                  "<p>Every object of the sampled images removed with each operator, against its true "
                  "removal (the image rendered without it).</p>", fidelity_html(data),
                  figure_html(out_dir, "operator_fidelity"),
                  "<h2>Relevance outside the receptive field</h2>", outside_html(data)]
    parts += extra_sections(out_dir)
    if data:
        parts += ["<h2>The paper's tables (reproduction)</h2>", paper_tables_html(data),
                  '<script type="application/json" id="tables-json">'
                  + json.dumps(data, ensure_ascii=False).replace("</", "<\\/") + "</script>"]
    parts += ["<h2>The paper's figures</h2>"] + [figure_html(out_dir, n) for n in FIGURES
                                                 if n not in ("faithfulness", "operator_fidelity")]
    parts += ["<h2>Samples</h2>", f"<p>{len(samples)} samples. Heatmaps: red positive, blue negative, white zero, "
              "each normalised by its own max |R|; predicted box yellow, ground truth red.</p>",
              gallery_html(out_dir, samples), "</body></html>"]
    path = out_dir / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return str(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.report",
                                description="Redraw the figures and report.html of an eval.compare output folder.")
    p.add_argument("out", help="the --out folder of python -m eval.compare")
    args = p.parse_args(argv)
    if not Path(args.out).is_dir():
        print(f"eval.report: error: no such output folder: {args.out}", file=sys.stderr)
        return 2
    skipped = write_figures(args.out)
    print(f"eval.report: wrote {write_report(args.out)}" + (f" (skipped: {', '.join(skipped)})" if skipped else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
