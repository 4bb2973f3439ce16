"""The summary of an eval.compare run, from its records only: the values of its tables (tables.json)
and the bands of its curves (curves.json). eval.compare.tables lays them out as tables.

Every cell is a mean with a 95 % interval clustered by image and its n (eval.stats: cluster-t):
{"mean", "ci95": [lo, hi], "n", "n_images", "undefined", …}. Claims come from the declared family
of eval.compare.claims (Holm-adjusted); the paired table of every pair is exploratory.

tables.json holds, beside the run's settings and "stage_seconds":
- "conclusions": "What this run shows", in words; "claims": the primary family's entries; "mde";
  "metric_sanity": {metric: {control: {method: {"mean_diff", "ci95", "p_holm", "ranks_below"}}}};
- "faithfulness": {operator: {unit: {row: {"morf": C, "lerf": C, "gap": C, "oracle_share": C}}}}
  over every row (methods, references "oracle", "random", "mask", controls "edge", "box-gaussian",
  "lrp-random-model", "<method>-negated", ablations); "rows": which rows are which;
  "by_layer": the gap per source layer;
- "paired": [{"metric", "operator", "unit", "a", "b", "mean_diff", "ci95", "p", "p_holm_table", "n",
  "n_images", "excludes_zero", "better"}] (exploratory);
- "pointing_game": {method: C}; "insertion_deletion": {operator: {method: {"insertion", "deletion",
  "oa"}}}; "matched_vs_fixed": {"spearman": C, "moved_share": C} (LIME, --matched-images);
- "operator_fidelity": {operator: {"mean_abs_diff": C, "rank_corr": C, "mean_abs_diff_own": C}};
- "outside_rf": {method: C}; "n_samples", "n_images", "passes_run", "passes_skipped", "oracle_passes",
  "superpixels" (the count used per image);
- "tables": the paper's tables 1, 1b, 2, 3, 3b (+ gains over the receptive-field null) and 4.
"""
import itertools

import numpy as np

from eval import stats
from eval.metrics import higher_is_better
from eval.removal.curves import LOG_GRID
from eval.run.samples import SOURCE_GROUPS

from .claims import claims, conclusions

MODES = ("pixels", "superpixels")
PAPER_SETTING = "paper: COCO / SSD512 / Titan V"

# name: (metric key in the records, title, scale, decimals, unit)
PAPER_TABLES = {
    "table1": ("entropy", "Table 1: Shannon entropy of the heatmaps (eq. 4.1, bits) — it counts distinct values, "
               "so it mostly measures how many pixels (superpixels) the receptive field covers", 1.0, 2, ""),
    "table1b": ("entropy_binned", "Table 1b: entropy in 256 bins of R/max|R| (noise-robust)", 1.0, 2, ""),
    "table2": ("flipping", "Table 2: area under the grey pixel-flipping curve (probability over the flipped "
               "fraction 0…1; lower is better; the paper's values exceed 1, so its axis differs)", 1.0, 3, ""),
    "table3": ("localization_box", "Table 3: share of positive relevance inside the predicted box", 100.0, 1, " %"),
    "table3_gain": ("localization_box_gain", "Table 3, gain: the share in the box minus that of a heatmap "
                    "uniform over the receptive field (higher is better)", 100.0, 1, " pp"),
    "table3b": ("localization_mask", "Table 3b: share of positive relevance inside the ground-truth object mask",
                100.0, 1, " %"),
    "table3b_gain": ("localization_mask_gain", "Table 3b, gain: the share in the mask minus that of a heatmap "
                     "uniform over the receptive field (higher is better)", 100.0, 1, " pp"),
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


def _get(record, *path):
    for p in path:
        if not isinstance(record, dict) or record.get(p) is None:
            return None
        record = record[p]
    return record


class Records:
    """The records of the chosen samples, by kind and method, with each sample's image for clustering."""

    def __init__(self, records: list[dict], sample_ids, methods):
        wanted = set(sample_ids)
        self.ids = list(sample_ids)
        self.methods = list(methods)
        self.rows = {}
        self.samples = {}
        self.matched = {}
        self.image_of = {}
        for r in records:
            if r["sample_id"] not in wanted:
                continue
            self.image_of[r["sample_id"]] = r["image_id"]
            if r.get("kind") == "explanation":
                self.rows.setdefault(r["method"], {})[r["sample_id"]] = r
            elif r.get("kind") == "sample":
                self.samples[r["sample_id"]] = r
            elif r.get("kind") == "matched":
                self.matched[r["sample_id"]] = r
        self.references = [m for m in ("oracle", "random", "mask") if m in self.rows]
        kinds = {m: next(iter(rows.values())).get("row_kind") for m, rows in self.rows.items()}
        self.controls = [m for m, k in kinds.items() if k == "control"]
        self.ablations = [m for m, k in kinds.items() if k == "ablation"]
        self.all_rows = self.methods + self.references + self.controls + self.ablations
        self.headline = None               # (operator, unit) of the claims: the run's first

    def values(self, method: str, *path) -> dict:
        """{sample_id: value} of one method (None where missing)."""
        return {sid: _get(r, *path) for sid, r in self.rows.get(method, {}).items()}

    def cell(self, values: dict, scale: float = 1.0) -> dict:
        ids = list(values)
        return stats.cluster_bootstrap([None if values[s] is None else scale * values[s] for s in ids],
                                       [self.image_of[s] for s in ids])


def oracle_shares(rec: Records, op: str, unit: str, row: str) -> dict:
    """{sample: (gap − gap_random) / (gap_oracle − gap_random)}: the row's gap as a share of the
    oracle's (random 0, oracle 1); None where the oracle is not at least 0.05 above random."""
    gap = lambda m: rec.values(m, "faithfulness", op, unit, "gap")     # noqa: E731
    mine, random, oracle = gap(row), gap("random"), gap("oracle")
    out = {}
    for s, v in mine.items():
        if None in (v, random.get(s), oracle.get(s)) or oracle[s] - random[s] < 0.05:
            out[s] = None
        else:
            out[s] = (v - random[s]) / (oracle[s] - random[s])
    return out


def faithfulness(rec: Records, operators, units) -> dict:
    """{operator: {unit: {row: {"morf", "lerf", "gap", "oracle_share"}}}} over every row of the run."""
    out = {}
    for op in operators:
        for unit in units:
            for m in rec.all_rows:
                cells = {key: rec.cell(rec.values(m, "faithfulness", op, unit, key)) for key in ("morf", "lerf", "gap")}
                if cells["gap"]["n"] == 0:
                    continue                          # a row without curves of this operator and unit
                if "oracle" in rec.rows and m not in ("oracle", "random"):
                    cells["oracle_share"] = rec.cell(oracle_shares(rec, op, unit, m))
                out.setdefault(op, {}).setdefault(unit, {})[m] = cells
    return out


def by_layer(rec: Records, operators, units) -> dict:
    out = {}
    for op in operators:
        for unit in units:
            for layer in SOURCE_GROUPS:
                ids = [s for s in rec.ids if rec.samples.get(s, {}).get("layer") == layer]
                if not ids:
                    continue
                for m in rec.methods + rec.references:
                    values = rec.values(m, "faithfulness", op, unit, "gap")
                    out.setdefault(op, {}).setdefault(unit, {}).setdefault(layer, {})[m] = rec.cell(
                        {s: values.get(s) for s in ids})
    return out


def paired(rec: Records, operators, units) -> list[dict]:
    """Every pair of rows (methods and references) on every headline metric: the exploratory table,
    its p-values Holm-adjusted over the whole table (`p_holm_table`). Claims come from `claims`."""
    rows = rec.methods + rec.references
    metrics = [(key, op, unit, ("faithfulness", op, unit, key)) for op in operators for unit in units
               for key in ("gap", "morf", "lerf")]
    metrics += [("outside_rf", None, None, ("metrics", "outside_rf")),
                ("localization_mask_gain", None, "superpixels", ("metrics", "localization_mask_gain", "superpixels"))]
    out = []
    for metric, op, unit, path in metrics:
        for a, b in itertools.combinations(rows, 2):
            va, vb = rec.values(a, *path), rec.values(b, *path)
            if not any(v is not None for v in va.values()) or not any(v is not None for v in vb.values()):
                continue
            d = stats.paired_difference(va, vb, rec.image_of)
            better = None
            if d["excludes_zero"]:
                a_higher = d["mean_diff"] > 0
                better = a if a_higher == higher_is_better(metric) else b
            out.append({"metric": metric, "operator": op, "unit": unit, "a": a, "b": b, **d, "better": better})
    for entry, p in zip(out, stats.holm([e["p"] for e in out])):
        entry["p_holm_table"] = p
    return out


def operator_fidelity(rec: Records) -> dict:
    """Per operator: |p_op − p_true| over (sample, object) pairs, its mean for the sample's own object,
    and the rank correlation of p_op with p_true, all clustered by image."""
    pairs = [(sid, row) for sid, r in rec.samples.items() for row in r.get("fidelity") or []]
    if not pairs:
        return {}
    operators = sorted({k for _, row in pairs for k in row if k not in ("object", "own", "true")})
    out = {}
    for op in operators:
        rows = [(sid, row) for sid, row in pairs if row.get(op) is not None and row.get("true") is not None]
        clusters = [rec.image_of[sid] for sid, _ in rows]
        diffs = [abs(row[op] - row["true"]) for _, row in rows]
        own = [(abs(row[op] - row["true"]), rec.image_of[sid]) for sid, row in rows if row["own"]]
        data = np.array([[row[op], row["true"]] for _, row in rows], dtype=np.float64).reshape(-1, 2)
        out[op] = {"mean_abs_diff": stats.cluster_bootstrap(diffs, clusters),
                   "mean_abs_diff_own": stats.cluster_bootstrap([d for d, _ in own], [c for _, c in own]),
                   "rank_corr": stats.cluster_bootstrap_statistic(lambda d: stats.spearman(d[:, 0], d[:, 1]),
                                                                  data, clusters)}
    return out


def insertion_deletion(rec: Records) -> dict:
    """{operator: {method: {"insertion", "deletion", "oa"}}} cells (eval.compare.measure: true, grey)."""
    out = {}
    for m in rec.methods:
        for op in sorted({op for v in rec.values(m, "insertion_deletion").values() if v for op in v}):
            out.setdefault(op, {})[m] = {k: rec.cell(rec.values(m, "insertion_deletion", op, k))
                                         for k in ("insertion", "deletion", "oa")}
    return out


def paper_tables(rec: Records) -> dict:
    tables = {}
    for name, (metric, title, scale, _, _) in PAPER_TABLES.items():
        rows_of = rec.methods + (["random"] if name == "table2" and "random" in rec.rows else [])
        columns = ("time",) if name == "table4" else MODES
        rows = {}
        for m in rows_of:
            if name == "table4":
                rows[m] = {"time": rec.cell(rec.values(m, "seconds"), 1000.0)}
                continue
            rows[m] = {}
            for mode in MODES:
                path = ("flipping", mode, "auc") if metric == "flipping" else ("metrics", metric, mode)
                values = rec.values(m, *path)
                if any(v is not None for v in values.values()):
                    rows[m][mode] = rec.cell(values, scale)
        if any(rows.values()):
            tables[name] = {"title": title, "columns": list(columns), "rows": rows,
                            "paper": {m: dict(zip(columns, PAPER[name][m])) for m in rows_of if m in PAPER.get(name, {})}}
    return tables


def curve_bands(rec: Records, operators, units, fractions) -> dict:
    """Mean and 95 % interval per grid point of the normalised MoRF/LeRF curves and of the paper's
    flipping curves: {"grid", "flip_fractions", "faithfulness": {op: {unit: {method: {dir: band}}}},
    "flipping": {unit: {method: band}}}, band = {"mean": [F], "lo": [F], "hi": [F], "n"}."""
    def band(values: dict) -> dict | None:
        ids = [s for s, v in values.items() if v is not None]
        if not ids:
            return None
        columns = np.array([values[s] for s in ids], dtype=np.float64)
        cells = [stats.cluster_bootstrap(columns[:, k], [rec.image_of[s] for s in ids], n_boot=500)
                 for k in range(columns.shape[1])]
        return {"mean": [c["mean"] for c in cells], "lo": [(c["ci95"] or [None, None])[0] for c in cells],
                "hi": [(c["ci95"] or [None, None])[1] for c in cells], "n": len(ids)}
    out = {"grid": [0.0] + list(LOG_GRID), "flip_fractions": list(fractions), "faithfulness": {}, "flipping": {}}
    for op in operators:
        for unit in units:
            for m in rec.methods + rec.references:
                for d in ("morf", "lerf"):
                    b = band(rec.values(m, "faithfulness", op, unit, f"{d}_curve"))
                    if b:
                        out["faithfulness"].setdefault(op, {}).setdefault(unit, {}).setdefault(m, {})[d] = b
    for unit in MODES:
        for m in rec.methods + (["random"] if "random" in rec.rows else []):
            b = band(rec.values(m, "flipping", unit, "curve"))
            if b:
                out["flipping"].setdefault(unit, {})[m] = b
    return out


def build(records: list[dict], sample_ids, methods, settings: dict) -> tuple[dict, dict]:
    """(tables.json content without the run's meta, curves.json content)."""
    rec = Records(records, sample_ids, methods)
    operators, units = settings["operators"], settings["units"]
    rec.operators, rec.units = list(operators), list(units)
    samples = list(rec.samples.values())
    data = {"n_samples": len(rec.ids), "n_images": len(set(rec.image_of.values())), "methods": list(methods),
            "rows": {"methods": rec.methods, "references": rec.references, "controls": rec.controls,
                     "ablations": rec.ablations},
            "passes_run": sum(r.get("passes_run", 0) for r in samples),
            "passes_skipped": sum(r.get("passes_skipped", 0) for r in samples),
            "oracle_passes": sum(r.get("oracle_passes", 0) for r in samples),
            "superpixels": stats.cluster_bootstrap([r.get("superpixels") for r in samples],
                                                   [r["image_id"] for r in samples]),
            "faithfulness": faithfulness(rec, operators, units), "by_layer": by_layer(rec, operators, units),
            "paired": paired(rec, operators, units), "operator_fidelity": operator_fidelity(rec),
            "outside_rf": {m: rec.cell(rec.values(m, "metrics", "outside_rf")) for m in rec.methods},
            "pointing_game": {m: rec.cell(rec.values(m, "pointing")) for m in rec.methods},
            "insertion_deletion": insertion_deletion(rec),
            "matched_vs_fixed": {k: rec.cell({s: r.get(k) for s, r in rec.matched.items()})
                                 for k in ("spearman", "moved_share")} if rec.matched else {},
            "tables": paper_tables(rec),
            **claims(rec, lambda op, unit, row: oracle_shares(rec, op, unit, row))}
    data["conclusions"] = conclusions(data)
    return data, curve_bands(rec, operators, units, settings["flip_fractions"])
