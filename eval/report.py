"""`report.html`: one self-contained page (images embedded as data URIs) with the tables, the
figures and a gallery of every sample's heatmaps with its metrics, readable without a server.

Table cells show rounded numbers; each cell also carries the exact value from tables.json as JSON in
its `data-value` attribute, and the whole of tables.json is embedded in a
`<script type="application/json" id="tables-json">` block.
"""
import base64
import html
import json
import math
from pathlib import Path

import numpy as np
from skimage.transform import downscale_local_mean

from eval import render
from eval.results import METHOD_LABELS, Sample, read_records, read_samples, read_tables, record_sample_id

GALLERY_SIZE = 256      # gallery pictures are shrunk (area mean) to at most this many pixels a side

STYLE = """
body{font-family:sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee} td:first-child,th:first-child{text-align:left}
figure{margin:1em 0} figcaption{font-size:.9em;color:#444;max-width:60em}
img{max-width:100%} .sample{border-top:1px solid #ccc;padding-top:.5em}
"""


def data_uri(png_path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")


def fmt(value) -> str:
    """A cell for reading: {"mean", "se", "n"} as 'mean ± se (n=…)', floats to 4 significant digits,
    None as '–'."""
    if isinstance(value, dict) and "mean" in value:
        if value["mean"] is None:
            return "–"
        text = fmt(value["mean"]) + (f" ± {fmt(value['se'])}" if value.get("se") is not None else "")
        text += f" (n={value['n']})" if "n" in value else ""
        return text + (f", {value['undefined']} undefined" if value.get("undefined") else "")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return html.escape(json.dumps(value, ensure_ascii=False))
    return html.escape(str(value))


def cell(value, tag: str = "td") -> str:
    """A table cell showing fmt(value), with the exact value as JSON in data-value."""
    exact = html.escape(json.dumps(value, ensure_ascii=False), quote=True)
    return f'<{tag} data-value="{exact}">{fmt(value)}</{tag}>'


def table_html(name: str, table) -> str:
    """One table of tables.json, {"title", "columns": [c], "rows": {method: {c: cell}}, "paper": {method:
    {c: text}}}, as HTML: a row per method, our columns, then the paper's values (plain text cells).
    Anything else is shown as JSON."""
    if not (isinstance(table, dict) and isinstance(table.get("rows"), dict) and "columns" in table):
        return f"<h3>{html.escape(name)}</h3><pre>{html.escape(json.dumps(table, indent=1))}</pre>"
    cols, paper = list(table["columns"]), table.get("paper") or {}
    head = "<tr><th>method</th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    head += "".join(f"<th>paper: {html.escape(str(c))}</th>" for c in cols) if paper else ""
    rows = []
    for method, row in table["rows"].items():
        cells = "".join(cell(row.get(c)) for c in cols)
        cells += "".join(f"<td>{html.escape(str(paper.get(method, {}).get(c) or '–'))}</td>" for c in cols) \
            if paper else ""
        rows.append(f'<tr data-method="{html.escape(method, quote=True)}"><td>{html.escape(method)}</td>{cells}</tr>')
    return (f"<h3>{html.escape(str(table.get('title', name)))}</h3>"
            f'<table data-table="{html.escape(name, quote=True)}">{head}</tr>' + "".join(rows) + "</table>")


def meta_html(data: dict) -> str:
    """The run's settings (every top-level entry of tables.json but the tables) as a list."""
    items = [f"<li><b>{html.escape(str(k))}</b>: {fmt(v)}</li>" for k, v in data.items() if k != "tables"]
    return "<ul>" + "".join(items) + "</ul>" if items else ""


def shrink(a: np.ndarray, factor: int) -> np.ndarray:
    """Area mean over factor×factor blocks ([H,W] or [H,W,3]); uint8 stays uint8."""
    if factor <= 1:
        return a
    f = (factor, factor) + (1,) * (a.ndim - 2)
    out = downscale_local_mean(a.astype(np.float64), f)
    return np.round(out).astype(np.uint8) if a.dtype == np.uint8 else out


def gallery_picture(sample: Sample, methods) -> np.ndarray:
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


def metrics_html(records) -> str:
    """One sample's records as a table: a row per method, a column per metric and mode
    (records hold {"metrics": {metric: {mode: value}}, "seconds": …})."""
    rows = [r for r in records if isinstance(r.get("metrics"), dict)]
    if not rows:
        return ""
    cols = list(dict.fromkeys((metric, mode) for r in rows for metric, by_mode in r["metrics"].items()
                              for mode in (by_mode if isinstance(by_mode, dict) else [None])))
    head = "<tr><th>method</th>" + "".join(
        f"<th>{html.escape(metric)}{f' ({html.escape(mode)})' if mode else ''}</th>" for metric, mode in cols)
    head += "<th>seconds</th></tr>"

    def value(r, metric, mode):
        v = r["metrics"].get(metric)
        return v.get(mode) if isinstance(v, dict) else (v if mode is None else None)

    body = [f"<tr><td>{html.escape(str(r.get('method', '')))}</td>"
            + "".join(cell(value(r, metric, mode)) for metric, mode in cols) + cell(r.get("seconds")) + "</tr>"
            for r in rows]
    return "<table>" + head + "".join(body) + "</table>"


def gallery_html(out_dir: Path, samples: list[Sample]) -> str:
    out = []
    gallery_dir = out_dir / "gallery"
    for s in samples:
        methods = [m for m in ("lrp", "deeplift", "shap", "lime") if m in s.heatmaps]
        methods += sorted(m for m in s.heatmaps if m not in methods)
        path = render.write_png(gallery_dir / f"{s.id}.png", gallery_picture(s, methods))
        labels = " · ".join(["image"] + [METHOD_LABELS.get(m, m) for m in methods])
        out.append(f'<div class="sample" id="sample-{html.escape(s.id, quote=True)}">'
                   f"<h3>{html.escape(s.id)}: {html.escape(s.title())}</h3>"
                   f'<img src="{data_uri(path)}" alt="{html.escape(labels, quote=True)}">'
                   f"<p>{html.escape(labels)}</p>{metrics_html(s.records)}</div>")
    return "\n".join(out)


def figures_html(out_dir: Path) -> str:
    from eval.figures import FIGURES
    fig_dir = out_dir / "figures"
    notes_path = fig_dir / "notes.json"
    notes = json.loads(notes_path.read_text()) if notes_path.is_file() else {}
    out = []
    for name, caption in FIGURES.items():
        path = fig_dir / f"{name}.png"
        if not path.is_file():
            out.append(f"<p><b>{name}</b>: not made (see the log of the run: no matplotlib, no model or "
                       f"no data).</p>")
            continue
        note = notes.get(name)
        note_text = f" <code>{html.escape(json.dumps(note, ensure_ascii=False))}</code>" if note else ""
        out.append(f'<figure id="{name}"><img src="{data_uri(path)}" alt="{name}">'
                   f"<figcaption><b>{name}</b>: {html.escape(caption)}{note_text}</figcaption></figure>")
    return "\n".join(out)


def write_report(out_dir) -> str:
    """Write `out_dir/report.html` from what eval.compare left in `out_dir`; returns its path."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"no such output folder: {out_dir}")
    data = read_tables(out_dir)
    tables = data.get("tables", {})
    samples = read_samples(out_dir)
    orphans = sorted({record_sample_id(r) for r in read_records(out_dir)} - {s.id for s in samples})
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>XAI for SSD: comparison report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>LRP, DeepLIFT, LIME and SHAP on SSD512: comparison report</h1>",
             f"<p>{len(samples)} samples with heatmaps. Heatmaps: red positive, blue negative, white zero, each "
             "normalised by its own max |R|; predicted box yellow, ground truth red.</p>",
             "<h2>Run</h2>", meta_html(data), "<h2>Tables</h2>"]
    parts += [table_html(name, t) for name, t in tables.items()] or ["<p>no tables.json</p>"]
    parts.append('<script type="application/json" id="tables-json">'
                 + json.dumps(data, ensure_ascii=False).replace("</", "<\\/") + "</script>")
    parts += ["<h2>Figures</h2>", figures_html(out_dir), "<h2>Samples</h2>", gallery_html(out_dir, samples)]
    if orphans:
        parts.append(f"<p>Records without heatmaps: {html.escape(', '.join(orphans))}</p>")
    parts.append("</body></html>")
    path = out_dir / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return str(path)
