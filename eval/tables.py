"""Tables 1–4 of the paper (and the curves of figures 10–11) from the per-sample records.

Every cell is mean ± standard error over the samples (se = sample standard deviation / √n), with n.
LRP and DeepLIFT are measured pixel-wise and grouped into the SLIC superpixels of LIME and SHAP;
LIME and SHAP heatmaps are superpixel maps, so they appear in the "superpixels" column only.
The paper's values (COCO, full SSD512, NVIDIA Titan V) are printed beside ours for reference.
"""
import json
import math
from pathlib import Path

MODES = ("pixels", "superpixels")
PAPER_SETTING = "paper: COCO / SSD512 / Titan V"

# name: (metric key in the records, title, scale, decimals, unit)
TABLES = {
    "table1": ("entropy", "Table 1: Shannon entropy of the heatmaps (eq. 4.1, bits)", 1.0, 2, ""),
    "table1b": ("entropy_binned", "Table 1b: entropy of the heatmaps in 256 bins of R/max|R| (noise-robust)",
                1.0, 2, ""),
    "table2": ("auc", "Table 2: area under the pixel-flipping curve (probability over flipped fraction 0…1; "
               "lower is better; the paper's values exceed 1, so its axis differs: compare orders, not values)",
               1.0, 3, ""),
    "table3": ("localization_box", "Table 3: share of positive relevance inside the predicted box", 100.0, 1, " %"),
    "table3b": ("localization_mask", "Table 3b: share of positive relevance inside the ground-truth object mask",
                100.0, 1, " %"),
    "table4": ("milliseconds", "Table 4: run time per explanation (ms, wall clock after warm-up)", 1.0, 1, ""),
}

PAPER = {
    "table1": {"lrp": ("11.2 ± 0.5", "6.67 ± 0.25"), "deeplift": ("12.4 ± 0.5", "6.28 ± 0.21"),
               "lime": ("", "7.81 ± 0.03"), "shap": ("", "6.30 ± 0.21")},
    "table2": {"lrp": ("1.06", "1.83"), "deeplift": ("0.79", "1.80"), "lime": ("", "1.06"), "shap": ("", "1.06"),
               "random": ("", "5.41")},
    "table3": {"lrp": ("67.2 ± 2.2 %", "62.3 ± 2.5 %"), "deeplift": ("63.8 ± 2.5 %", "59.9 ± 2.5 %"),
               "lime": ("", "57.3 ± 2.5 %"), "shap": ("", "66.9 ± 2.5 %")},
    "table4": {"lrp": ("110.5 ± 1.2",), "deeplift": ("96.7 ± 0.9",), "lime": ("(38.8 ± 0.8)·10³",),
               "shap": ("(25.2 ± 1.0)·10³",)},
}


def mean_se(values) -> dict:
    """{"mean", "se", "n"} of the finite values (se None for n < 2; mean None for n = 0)."""
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    n = len(v)
    if n == 0:
        return {"mean": None, "se": None, "n": 0}
    mean = sum(v) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1) / n) if n > 1 else None
    return {"mean": mean, "se": se, "n": n}


def build(records: list[dict], methods, samples: list[str]) -> dict:
    """Tables {name: {"title", "columns", "rows": {method: {column: mean_se}}, "paper": …}} from the
    records of `samples` (ids) for `methods` (+ "random" in table 2)."""
    wanted = set(samples)
    by_method = {}
    for r in records:
        if r["sample_id"] in wanted:
            by_method.setdefault(r["method"], []).append(r)
    tables = {}
    for name, (metric, title, scale, _, _) in TABLES.items():
        rows_of = list(methods) + (["random"] if name == "table2" else [])
        columns = ("time",) if name == "table4" else MODES
        rows = {}
        for m in rows_of:
            rs = by_method.get(m, [])
            if name == "table4":
                rows[m] = {"time": mean_se([1000.0 * r["seconds"] for r in rs])}
                continue
            rows[m] = {}
            for mode in MODES:
                vals = [r["metrics"].get(metric, {}).get(mode) for r in rs]
                if any(v is not None for v in vals) or any(mode in r["metrics"].get(metric, {}) for r in rs):
                    cell = mean_se([v * scale if v is not None else None for v in vals])
                    cell["undefined"] = sum(1 for v in vals if v is None)
                    rows[m][mode] = cell
        tables[name] = {"title": title, "columns": list(columns), "rows": rows,
                        "paper": {m: dict(zip(columns, PAPER.get(name, {}).get(m, ()))) for m in rows_of
                                  if m in PAPER.get(name, {})}}
    return tables


def curves(records: list[dict], methods, samples: list[str]) -> dict:
    """Mean and standard error of the flipping curves per method and mode (figures 10–11)."""
    wanted = set(samples)
    out = {}
    for m in list(methods) + ["random"]:
        for mode in MODES:
            cs = [r["curves"][mode] for r in records
                  if r["method"] == m and r["sample_id"] in wanted and mode in r.get("curves", {})]
            if not cs:
                continue
            points = [mean_se(column) for column in zip(*cs)]
            out.setdefault(m, {})[mode] = {"mean": [p["mean"] for p in points], "se": [p["se"] for p in points],
                                           "n": len(cs)}
    steps = max((len(c["mean"]) for modes in out.values() for c in modes.values()), default=1) - 1
    return {"fractions": [k / steps for k in range(steps + 1)] if steps > 0 else [0.0], "curves": out}


def _cell(cell: dict | None, decimals: int, unit: str) -> str:
    if not cell or cell["mean"] is None:
        return "—"
    text = f"{cell['mean']:.{decimals}f}"
    if cell["se"] is not None:
        text += f" ± {cell['se']:.{decimals}f}"
    text += f"{unit} (n={cell['n']})"
    return text + (f", {cell['undefined']} undefined" if cell.get("undefined") else "")


def markdown(tables: dict, header: str = "") -> str:
    """The tables in the paper's layout as Markdown, the paper's values in side columns."""
    lines = [header] if header else []
    for name, (_, title, _, decimals, unit) in TABLES.items():
        t = tables[name]
        cols = t["columns"]
        paper_cols = [f"{PAPER_SETTING}: {c}" for c in cols] if name in PAPER else []
        lines += ["", f"### {t['title']}", "", "| method | " + " | ".join(cols + paper_cols) + " |",
                  "|---" * (1 + len(cols) + len(paper_cols)) + "|"]
        for m, row in t["rows"].items():
            paper = t["paper"].get(m, {})
            cells = [_cell(row.get(c), decimals, unit) for c in cols] + [paper.get(c) or "—" for c in cols if paper_cols]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(out_dir, tables: dict, curve_data: dict, meta: dict) -> None:
    """tables.json (meta + tables), tables.md and curves.json in out_dir."""
    out_dir = Path(out_dir)
    (out_dir / "curves.json").write_text(json.dumps(curve_data, indent=1))
    header = (f"# Comparison of LRP, DeepLIFT, LIME and SHAP\n\n"
              f"{meta['samples']} samples; data: {meta['data']}; model: {meta['weights']}; "
              f"device: {meta['device_name']}; settings hash {meta['settings_hash']}.")
    (out_dir / "tables.md").write_text(markdown(tables, header))
    (out_dir / "tables.json").write_text(json.dumps({**meta, "tables": tables}, indent=1))
