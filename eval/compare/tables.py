"""The tables of an eval.compare run, laid out once (eval.report.table) from tables.json's values:
`markdown(data, header)` is tables.md, and eval.compare.section renders the same tables to HTML.

Order: the faithfulness tables, the claims the paired intervals support, the paired table, the
operator fidelity, the relevance outside the receptive field, the gap by source layer, then the
paper's tables 1–4 with the paper's values beside them.
"""
from eval.metrics import arrow
from eval.report.table import Column, Table, claims, metric_name

from .summary import PAPER, PAPER_SETTING, PAPER_TABLES

INTRO = ("{n_samples} samples from {n_images} images; removal passes run {passes_run}, skipped (input already "
         "evaluated) {passes_skipped}. Cells: mean [95 % interval, bootstrap over images] (n).")


def faithfulness(data: dict) -> list[Table]:
    out = []
    for op, by_unit in data["faithfulness"].items():
        for unit, rows in by_unit.items():
            out.append(Table(f"faithfulness-{op}-{unit}",
                             f"Faithfulness: removal by `{op}`, {unit} (MoRF {arrow('morf')}, LeRF {arrow('lerf')}, "
                             f"gap = LeRF − MoRF {arrow('gap')})",
                             ["method", Column("MoRF AUC", "morf"), Column("LeRF AUC", "lerf"), Column("gap", "gap")],
                             [[m, c["morf"], c["lerf"], c["gap"]] for m, c in rows.items()]))
    return out


def paired(data: dict) -> Table:
    return Table("paired", "Paired differences a − b",
                 ["metric", "a", "b", "mean difference [95 %] (n)", "excludes 0"],
                 [[metric_name(e), e["a"], e["b"], e, "yes: " + e["better"] if e["better"] else "no"]
                  for e in data["paired"]])


def operator_fidelity(data: dict) -> Table | None:
    if not data["operator_fidelity"]:
        return None
    return Table("operator_fidelity",
                 "Operator fidelity: the target's probability after removing one object, against true removal",
                 ["operator", Column("mean abs. difference", "mean_abs_diff"),
                  Column("… for the detection's own object", "mean_abs_diff_own"),
                  Column("rank correlation", "rank_corr")],
                 [[op, c["mean_abs_diff"], c["mean_abs_diff_own"], c["rank_corr"]]
                  for op, c in data["operator_fidelity"].items()])


def outside_rf(data: dict) -> Table:
    return Table("outside_rf", f"Share of |relevance| outside the receptive field ({arrow('outside_rf')}; 0 is correct)",
                 ["method", "share"], [[m, c] for m, c in data["outside_rf"].items()])


def by_layer(data: dict) -> list[Table]:
    out = []
    for op, by_unit in data["by_layer"].items():
        for unit, layers in by_unit.items():
            methods = list(next(iter(layers.values())))
            out.append(Table(f"by_layer-{op}-{unit}", f"Gap by source layer (`{op}`, {unit})", ["layer"] + methods,
                             [[layer] + [cells.get(m) for m in methods] for layer, cells in layers.items()]))
    return out


def paper_tables(data: dict) -> list[Table]:
    out = []
    for name, t in data["tables"].items():
        _, _, _, decimals, unit = PAPER_TABLES[name]
        cols = t["columns"]
        paper_cols = [f"{PAPER_SETTING}: {c}" for c in cols] if name in PAPER else []
        rows = []
        for m, row in t["rows"].items():
            paper = t["paper"].get(m, {})
            rows.append([m] + [row.get(c) for c in cols] + ([paper.get(c) or "—" for c in cols] if paper_cols else []))
        out.append(Table(name, t["title"], ["method"] + [Column(c, decimals=decimals, unit=unit) for c in cols]
                         + paper_cols, rows))
    return out


def claims_text(data: dict) -> list[str]:
    return claims(data["paired"]) or ["none: no paired interval excludes 0"]


def markdown(data: dict, header: str = "") -> str:
    """tables.md: `header`, then every table of the run."""
    parts = [header] if header else []
    parts.append(INTRO.format(**data))
    parts += [t.markdown() for t in faithfulness(data)]
    parts.append("### Differences the intervals support (paired, per sample)\n\n"
                 + "\n".join(f"- {c}" for c in claims_text(data)))
    parts.append(paired(data).markdown())
    fidelity = operator_fidelity(data)
    parts += [fidelity.markdown()] if fidelity else []
    parts.append(outside_rf(data).markdown())
    parts += [t.markdown() for t in by_layer(data)]
    parts.append("## The paper's tables (reproduction)")
    parts += [t.markdown() for t in paper_tables(data)]
    return "\n\n".join(parts) + "\n"
