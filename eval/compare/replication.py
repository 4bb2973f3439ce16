"""Several models, one conclusion: `eval.compare --weights a,b,c --out OUT`.

The comparison runs once per model, each in OUT/<model>/ (a complete, resumable eval.compare folder:
its own records, tables, figures and report section; the same data and settings, each model's own
detections), then the models are pooled in OUT:

    tables.json  "models": the names; "replication": {model: its tables.json (settings, cells, claims)};
                 "pooled": {"faithfulness": {operator: {unit: {row: {"morf", "lerf", "gap",
                 "oracle_share"}}}}}, cells over every model's samples with a hierarchical bootstrap
                 (model → image → detection, eval.stats.hierarchical_bootstrap);
                 "replicated": per comparison of the primary family, each model's verdict and
                 whether the conclusion is *replicated*: supported with the same winner on every
                 model, or equivalent on every model;
                 "conclusions": what the models show together, in words
    tables.md, sections/compare.html (the page shows it first, then each model's section)
"""
import argparse
import html
import os
from pathlib import Path

from eval import stats
from eval.report.page import section_path, write_page
from eval.report.table import Column, Table
from eval.store.files import lock_folder, manifest, read_json, update_manifest, write_json, write_text
from eval.run.runner import launch
from eval.store import opened

from . import summary

KEYS = ("morf", "lerf", "gap", "oracle_share")


def model_names(weights: str) -> list[str]:
    """The --weights list, each an embedded model's name or a checkpoint path."""
    return [w.strip() for w in weights.split(",") if w.strip()]


def folder_name(weights: str) -> str:
    """A model's subfolder: an embedded name as it is, a checkpoint by its file's stem."""
    return Path(weights).stem if ("/" in weights or weights.endswith(".pt")) else weights


def run_models(experiment, args) -> list[str]:
    """Run the comparison for every model of --weights, then pool them (module docstring); returns the
    files written in OUT."""
    names = model_names(args.weights)
    folders = [folder_name(w) for w in names]
    if len(set(folders)) != len(folders):
        raise ValueError(f"--weights {args.weights}: two models would share a folder ({', '.join(folders)})")
    for weights, folder in zip(names, folders):
        sub = argparse.Namespace(**{**vars(args), "weights": weights, "out": str(Path(args.out) / folder)})
        print(f"eval.compare: model {weights} -> {sub.out}", flush=True)
        code = launch(experiment, sub)
        if code:
            raise SystemExit(code)
    if int(os.environ.get("RANK", "0")) != 0:      # under torchrun rank 0 pools
        return []
    out = Path(args.out)
    entries = {f: manifest(out / f)["compare"] for f in folders}
    with lock_folder(out, f"python -m eval.compare --weights {args.weights} --out {args.out} (pooling)"):
        written = pool(out, folders, experiment.layout)
        update_manifest(out, "compare", settings_hash="+".join(e["settings_hash"] for e in entries.values()),
                        settings={"models": {f: e["settings"] for f, e in entries.items()}}, outputs=written)
        write_page(out)
    return written


def _rec(folder: Path, layout):
    """A finished model folder's tables.json and the records behind it."""
    data = read_json(folder / "tables.json")
    rec = summary.Records(opened(folder, "compare", layout).records(), data["sample_ids"], data["methods"])
    rec.operators, rec.units = data["settings"]["operators"], data["settings"]["units"]
    return rec, data


def _per_sample(rec, op: str, unit: str, row: str, key: str) -> dict:
    """{sample id: value} of one row's `key` on one model (the oracle share needs the oracle's row)."""
    if key != "oracle_share":
        return rec.values(row, "faithfulness", op, unit, key)
    return summary.oracle_shares(rec, op, unit, row) if "oracle" in rec.rows else {}


def _pooled_cell(recs: dict, op: str, unit: str, row: str, key: str):
    """The hierarchical cell of one row's `key` over every model's samples, or None without values."""
    values, models, images = [], [], []
    for model, rec in recs.items():
        for s, v in _per_sample(rec, op, unit, row, key).items():
            values.append(v)
            models.append(model)
            images.append(rec.image_of[s])
    return stats.hierarchical_bootstrap(values, models, images) if any(v is not None for v in values) else None


def pooled_cells(recs: dict) -> dict:
    """{operator: {unit: {row: {key: hierarchical cell}}}} over the models' samples."""
    out = {}
    first = next(iter(recs.values()))
    for op in first.operators:
        for unit in first.units:
            for row in first.all_rows:
                cells = {key: cell for key in KEYS if (cell := _pooled_cell(recs, op, unit, row, key)) is not None}
                if cells:
                    out.setdefault(op, {}).setdefault(unit, {})[row] = cells
    return out


def replicated(per_model: dict) -> list[dict]:
    """Per comparison of the primary family: {"a", "b", "metric", "verdicts": {model: winner |
    "equivalent" | "undecided"}, "replicated": winner | "equivalent" | None}."""
    keyed = {}
    for model, data in per_model.items():
        for e in data.get("claims") or []:
            verdict = e["better"] if e["supported"] else "equivalent" if e["equivalent"] else "undecided"
            keyed.setdefault((e["a"], e["b"], e["metric"]), {})[model] = {
                "verdict": verdict, "mean_diff": e["mean_diff"], "ci95": e["ci95"], "p_holm": e["p_holm"]}
    out = []
    for (a, b, metric), verdicts in keyed.items():
        seen = {v["verdict"] for v in verdicts.values()}
        same = len(verdicts) == len(per_model) and len(seen) == 1 and "undecided" not in seen
        out.append({"a": a, "b": b, "metric": metric, "verdicts": verdicts, "replicated": seen.pop() if same else None})
    return out


def conclusions(data: dict) -> list[str]:
    models = data["models"]
    per = data["replication"]
    out = [f"{len(models)} models ({', '.join(models)}): "
           + "; ".join(f"{m} {per[m]['n_samples']} detections from {per[m]['n_images']} images" for m in models) + "."]
    rep = data["replicated"]
    methods = set(next(iter(per.values())).get("methods") or [])
    yes = [e for e in rep if e["replicated"] and e["replicated"] != "equivalent"]
    same = [e for e in rep if e["replicated"] == "equivalent"]
    no = [e for e in rep if not e["replicated"] and e["a"] in methods and e["b"] in methods]
    if yes:
        out.append("Replicated on every model: " + "; ".join(
            f"{e['replicated']} beats {e['b'] if e['replicated'] == e['a'] else e['a']} on the {e['metric']}" for e in yes) + ".")
    if same:
        out.append("Equivalent on every model: " + "; ".join(f"{e['a']} and {e['b']}" for e in same) + ".")
    if no:
        def verdicts(e):
            return ", ".join(f"{m}: {v['verdict']}" for m, v in e["verdicts"].items())
        out.append("Not replicated (the models disagree, or some are undecided): "
                   + "; ".join(f"{e['a']} vs {e['b']} ({verdicts(e)})" for e in no) + ".")
    return out


def tables(data: dict) -> list[Table]:
    models = data["models"]
    out = []
    for op, by_unit in data["pooled"]["faithfulness"].items():
        for unit, rows in by_unit.items():
            out.append(Table(f"pooled-{op}-{unit}", f"Pooled over the models: removal by `{op}`, {unit}",
                             ["row", Column("MoRF AUC", "morf"), Column("LeRF AUC", "lerf"), Column("gap", "gap"),
                              Column("share of the oracle's gap", "oracle_share")],
                             [[r, c.get("morf"), c.get("lerf"), c.get("gap"), c.get("oracle_share")] for r, c in rows.items()],
                             note="Cells: mean [95 % interval, hierarchical bootstrap model → image → detection] (n)."))
    out.append(Table("replication", "Replication: the primary family's verdict on each model",
                     ["comparison"] + models + ["replicated"],
                     [[f"{e['a']} vs {e['b']} ({e['metric']})"] + [e["verdicts"].get(m, {}).get("verdict", "—") for m in models]
                      + [e["replicated"] or "no"] for e in data["replicated"]]))
    return out


def pool(out: Path, folders: list[str], layout) -> list[str]:
    """tables.json, tables.md and the section of the pooled models, from what each model's folder
    holds; returns the files written."""
    recs, per_model = {}, {}
    for folder in folders:
        recs[folder], per_model[folder] = _rec(out / folder, layout)
    data = {"models": folders, "replication": per_model, "pooled": {"faithfulness": pooled_cells(recs)},
            "replicated": replicated(per_model)}
    data["conclusions"] = conclusions(data)
    write_json(out / "tables.json", data)
    parts = [f"# Comparison of LRP, DeepLIFT, LIME and SHAP on {len(folders)} models",
             "## What these models show together\n\n" + "\n".join(f"- {c}" for c in data["conclusions"])]
    drawn = tables(data)
    parts += [t.markdown() for t in drawn]
    parts.append("Each model's own tables: " + ", ".join(f"[{f}]({f}/tables.md)" for f in folders) + ".")
    write_text(out / "tables.md", "\n\n".join(parts) + "\n")
    shows = "".join(f"<li>{html.escape(c)}</li>" for c in data["conclusions"])
    write_text(section_path(out, "compare"), '<section id="compare-models"><h2>Several models, one conclusion</h2>'
               f"<ul>{shows}</ul>" + "".join(t.html(3) for t in drawn) + "</section>")
    return ["tables.json", "tables.md", str(section_path(out, "compare").relative_to(out))]
