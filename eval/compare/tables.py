"""The tables of an eval.compare run, laid out once (eval.report.table) from tables.json's values:
`markdown(data, header)` is tables.md, and eval.compare.section renders the same tables to HTML.

Order: "What this run shows" (eval.compare.claims.conclusions), the faithfulness tables (methods, the
references, the negative controls, the ablations), the claims of the declared family, the
metric-sanity table, the operator fidelity, the relevance outside the receptive field, the gap by
source layer, the exploratory paired table (every pair, below the claims), then the paper's tables
1–4 with the paper's values beside them.
"""
from eval.metrics import arrow
from eval.report.table import Column, Table, claims, metric_name

from .summary import PAPER, PAPER_SETTING, PAPER_TABLES

INTRO = ("{n_samples} samples from {n_images} images; removal passes run {passes_run} (of them the oracle's "
         "{oracle_passes}), skipped (input already evaluated) {passes_skipped}. Cells: mean [95 % interval, "
         "cluster-t over images] (n).")


def faithfulness(data: dict) -> list[Table]:
    out = []
    for op, by_unit in data["faithfulness"].items():
        for unit, rows in by_unit.items():
            share = any("oracle_share" in c for c in rows.values())
            out.append(Table(f"faithfulness-{op}-{unit}",
                             f"Faithfulness: removal by `{op}`, {unit} (MoRF {arrow('morf')}, LeRF {arrow('lerf')}, "
                             f"gap = LeRF − MoRF {arrow('gap')})",
                             ["method", Column("MoRF AUC", "morf"), Column("LeRF AUC", "lerf"), Column("gap", "gap")]
                             + ([Column("share of the oracle's gap", "oracle_share")] if share else []),
                             [[m, c["morf"], c["lerf"], c["gap"]] + ([c.get("oracle_share")] if share else [])
                              for m, c in rows.items()],
                             note="Rows: the methods; the references (oracle: greedy from the score, random order, "
                                  "ground-truth mask); the negative controls every method must beat (edge map, "
                                  "Gaussian on the box, LRP of a randomised model, each map negated)."))
    return out


def claims_table(data: dict) -> Table:
    rows = [[f"{e['a']} vs {e['b']}", e["metric"], e, e["p"], e["p_holm"],
             ("beats: " + e["better"]) if e["supported"] else ("equivalent (±{:g})".format(e["margin"]) if e["equivalent"]
                                                              else "undecided")]
            for e in data.get("claims") or []]
    return Table("claims", "Claims: the declared family (each method against each other, against random and "
                 "against every negative control), Holm-adjusted",
                 ["comparison a vs b", "metric", "difference a − b [95 %] (n)", Column("p", decimals=4),
                  Column("p (Holm)", decimals=4), "claim"], rows,
                 note="A claim needs Holm-adjusted p < 0.05 from at least 8 images; 'equivalent' a passed TOST at the "
                      "declared margin; the rest is undecided.")


def metric_sanity(data: dict) -> Table | None:
    sanity = data.get("metric_sanity") or {}
    if not sanity:
        return None
    methods = list(data.get("methods") or [])
    rows = []
    for metric, by_control in sanity.items():
        for control, by_method in by_control.items():
            rows.append([f"{metric} / {control}"] + [_sanity_text(by_method.get(m)) for m in methods])
    return Table("metric_sanity", "Metric sanity: does the metric rank the control below the method?",
                 ["metric / control"] + methods, rows,
                 note="✓: the method is better than the control (Holm-adjusted within the metric, p < 0.05); "
                      "method − control shown. A metric with a ✗ does not separate faithful maps from controls.")


def _sanity_text(e: dict | None) -> str:
    """'✓ +0.123 (p Holm 0.001)' of a metric-sanity entry ('—' without one)."""
    if not e or e["mean_diff"] is None:
        return "—"
    p = "—" if e["p_holm"] is None else f"{e['p_holm']:.2g}"
    return f"{'✓' if e['ranks_below'] else '✗'} {e['mean_diff']:+.3f} (p Holm {p})"


def paired(data: dict) -> Table:
    return Table("paired", "Every paired difference a − b (exploratory: claims come from the family above)",
                 ["metric", "a", "b", "mean difference [95 %] (n)", Column("p (Holm over this table)", decimals=4),
                  "interval excludes 0"],
                 [[metric_name(e), e["a"], e["b"], e, e.get("p_holm_table"), "yes: " + e["better"] if e["better"] else "no"]
                  for e in data["paired"]])


def mde_text(data: dict) -> str:
    mde = {k: v for k, v in (data.get("mde") or {}).items() if v is not None}
    if not mde:
        return ""
    return ("Minimum detectable effect on the gap (two-sided α 0.05, power 0.8, per pair): "
            + ", ".join(f"{k} {v:.3f}" for k, v in mde.items()) + ".")


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


def pointing_game(data: dict) -> Table | None:
    if not data.get("pointing_game"):
        return None
    return Table("pointing_game", f"Pointing game ({arrow('pointing')}): the map's maximum on the object "
                 "(its mask dilated by 15 px; Zhang et al.)", ["method", Column("hit rate", "pointing")],
                 [[m, c] for m, c in data["pointing_game"].items()])


def insertion_deletion(data: dict) -> list[Table]:
    return [Table(f"insertion_deletion-{op}", f"Insertion and deletion (the field's measures; removal by `{op}`, "
                  "superpixels, area over the fraction 0…1 of the target's probability)",
                  ["method", Column("insertion", "insertion"), Column("deletion", "deletion"),
                   Column("OA = insertion − deletion", "insertion_deletion")],
                  [[m, c["insertion"], c["deletion"], c["oa"]] for m, c in by_method.items()])
            for op, by_method in (data.get("insertion_deletion") or {}).items()]


def matched_vs_fixed(data: dict) -> Table | None:
    m = data.get("matched_vs_fixed")
    if not m:
        return None
    return Table("matched_vs_fixed", "LIME with the fixed score (the paper's) against D-RISE's matched score",
                 ["quantity", "value"], [["Spearman ρ of the two maps' superpixel values", m["spearman"]],
                                         ["share of perturbed inputs whose best match left the target's prior",
                                          m["moved_share"]]],
                 note="The fixed score reads the target at its own prior; the matched one follows the detection "
                      "to the prior that finds it best (IoU × cosine of the class probabilities).")


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
    """tables.md: `header`, what the run shows, then every table of the run."""
    parts = [header] if header else []
    parts.append("## What this run shows\n\n" + "\n".join(f"- {c}" for c in data.get("conclusions") or []))
    parts.append(INTRO.format(**{"oracle_passes": 0, **data}))
    parts += [t.markdown() for t in faithfulness(data)]
    parts.append(claims_table(data).markdown() + ("\n\n" + mde_text(data) if mde_text(data) else ""))
    sanity = metric_sanity(data)
    parts += [sanity.markdown()] if sanity else []
    pointing = pointing_game(data)
    parts += [pointing.markdown()] if pointing else []
    parts += [t.markdown() for t in insertion_deletion(data)]
    matched = matched_vs_fixed(data)
    parts += [matched.markdown()] if matched else []
    fidelity = operator_fidelity(data)
    parts += [fidelity.markdown()] if fidelity else []
    parts.append(outside_rf(data).markdown())
    parts += [t.markdown() for t in by_layer(data)]
    parts.append("### Differences the intervals support (exploratory, per sample)\n\n"
                 + "\n".join(f"- {c}" for c in claims_text(data)))
    parts.append(paired(data).markdown())
    parts.append("## The paper's tables (reproduction)")
    parts += [t.markdown() for t in paper_tables(data)]
    return "\n\n".join(parts) + "\n"
