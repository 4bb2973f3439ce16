"""The summary of an eval.hans run, from its records only; hans.json, hans.md, the figure of a few
Clever-Hans detections, its section of report.html and hans.html.

hans.json (cells: eval.stats, mean with a 95 % interval clustered by image; "the detections": the
Clever-Hans detections unless said otherwise):

    counts        the causal check (eval.hans.cues.select)
    cells         {method: {"clever_hans" | "control" | "cue": {share: cell}, "rank_corr_tag_drop": cell}}
    paired        [paired difference of the tag shares of two methods] ("better": the higher)
    granularity   {"superpixels": {method: cell of the tag share after grouping into superpixels},
                   "rank": {method: cell of the rank of the tag's superpixel, 1 = most relevant},
                   "rank_fraction": {method: cell of that rank / number of superpixels},
                   "ceiling": cell of the grouped tag share of a map with all positive relevance on
                   the tag's superpixel, "paired": {"superpixels" | "rank": [paired differences of
                   the grouped tag share | of the rank]}}                    (eval.hans.granularity)
    causal_split  {"causal_tag_share": cell, "undefined": detections with φ_tag + φ_object ≤ 0,
                   "p": {rendering: cell of p}, "relative_tag_share": {method: cell},
                   "distance": {method: cell of |relative − causal|}, "paired": [paired differences
                   of the distance]}                                          (eval.hans.causal)
    controls      {"shapes": cell, "random-model": cell: LRP-γ's tag share under each control model
                   (n: detections with a target; undefined: those without, i.e. no own detection of
                   the plain model), "paired": {control: paired difference of LRP-γ's tag share on
                   shapes-hans minus under the control}}                        (eval.hans.controls)
"""
import html
import sys
from pathlib import Path

import numpy as np

from eval import stats
from eval.metrics import higher_is_better
from eval.report import render
from eval.report.page import data_uri, page, section_path
from eval.report.table import Column, Table, claims, fmt_cell
from eval.store.files import atomic_write, write_json, write_text

from .causal import RENDERINGS
from .controls import CONTROLS
from .controls import LABELS as CONTROL_LABELS
from .controls import METHOD as CONTROL_METHOD
from .cues import REGIONS, SHARES
from .findings import findings

FIGURE = "figures/hans_examples.png"
# record key -> (what the paired lists call it, the metric whose direction says which is better)
PAIRED = {"tag": ("tag share (Clever-Hans detections)", "tag"),
          "tag_grouped": ("tag share after grouping into superpixels", "tag"),
          "tag_rank": ("rank of the tag's superpixel", "tag_superpixel_rank"),
          "causal_distance": ("distance to the causal split", "causal_split_distance")}


def cell(records: list[dict], key: str) -> dict:
    """The cell of `key` over `records` (None and NaN counted as undefined), clustered by image."""
    return stats.cluster_bootstrap([r.get(key) for r in records], [r["image_id"] for r in records])


def paired(rows: list[dict], methods, key: str) -> list[dict]:
    """Paired differences of `key` (PAIRED) between every two methods over the samples of `rows`."""
    name, metric = PAIRED[key]
    image_of = {r["sample_id"]: r["image_id"] for r in rows}
    value = {m: {r["sample_id"]: r.get(key) for r in rows if r["method"] == m} for m in methods}
    higher = higher_is_better(metric)
    out = []
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            d = stats.paired_difference(value[a], value[b], image_of)
            a_better = d["mean_diff"] is not None and (d["mean_diff"] > 0) == higher
            out.append({"metric": name, "a": a, "b": b, **d,
                        "better": (a if a_better else b) if d["excludes_zero"] else None})
    return out


def summarize(records: list[dict], sample_ids, methods, counts: dict) -> dict:
    """hans.json (module docstring) from the run's records of the samples `sample_ids`."""
    wanted = set(sample_ids)
    mine = [r for r in records if r["sample_id"] in wanted]
    rows = [r for r in mine if r.get("kind") == "hans"]
    groups = {"clever_hans": lambda r: r["clever_hans"], "control": lambda r: r["variant"] == "hans",
              "cue": lambda r: r["variant"] == "hans-other"}
    cells = {}
    for m in methods:
        of_m = [r for r in rows if r["method"] == m]
        for g, member in groups.items():
            cells.setdefault(m, {})[g] = {k: cell([r for r in of_m if member(r)], k) for k in SHARES}
        cue = [r for r in of_m if r["variant"] == "hans-other"]
        data = np.array([[r["tag"], r["drop"]] for r in cue], dtype=np.float64).reshape(-1, 2)
        cells[m]["rank_corr_tag_drop"] = stats.cluster_bootstrap_statistic(
            lambda d: stats.spearman(d[:, 0], d[:, 1]), data, [r["image_id"] for r in cue])
    ch = [r for r in rows if r["clever_hans"]]
    of = {m: [r for r in ch if r["method"] == m] for m in methods}
    ch_samples = [r for r in mine if r.get("kind") == "hans-sample" and r["clever_hans"]]
    granularity = {"superpixels": {m: cell(of[m], "tag_grouped") for m in methods},
                   "rank": {m: cell(of[m], "tag_rank") for m in methods},
                   "rank_fraction": {m: cell(of[m], "tag_rank_fraction") for m in methods},
                   "ceiling": cell(ch_samples, "ceiling"),
                   "paired": {"superpixels": paired(ch, methods, "tag_grouped"),
                              "rank": paired(ch, methods, "tag_rank")}}
    causal = {"causal_tag_share": cell(ch_samples, "causal_tag_share"),
              "undefined": sum(r.get("causal_tag_share") is None for r in ch_samples),
              "p": {k: cell(ch_samples, f"p_{k}") for k in RENDERINGS},
              "relative_tag_share": {m: cell(of[m], "relative_tag_share") for m in methods},
              "distance": {m: cell(of[m], "causal_distance") for m in methods},
              "paired": paired(ch, methods, "causal_distance")}
    control_rows = {c: [r for r in mine if r.get("kind") == "hans-control" and r["clever_hans"] and r["method"] == c]
                    for c in CONTROLS}
    controls = {c: cell(control_rows[c], "tag") for c in CONTROLS}
    explained = {r["sample_id"]: r["tag"] for r in of.get(CONTROL_METHOD, [])}
    controls["paired"] = {c: stats.paired_difference(explained, {r["sample_id"]: r["tag"] for r in control_rows[c]},
                                                     {r["sample_id"]: r["image_id"] for r in control_rows[c]})
                          for c in CONTROLS} if explained else {}
    return {"counts": counts, "methods": methods, "cells": cells,
            "paired": paired(ch, methods, "tag"),
            "granularity": granularity, "causal_split": causal, "controls": controls,
            "n_samples": len(wanted), "n_images": len({r["image_id"] for r in rows})}


def tables(data: dict) -> list[Table]:
    """The shares on the Clever-Hans detections (with the rank correlation and the control rows), on
    the controls, at equal granularity, and the causal split."""
    controls = data.get("controls", {})
    shares = Table("hans", "Share of positive relevance on the tag, the object and elsewhere (Clever-Hans detections)",
                   ["method", Column("tag", "tag"), "object", "elsewhere", Column("tag per area", decimals=1),
                    Column("rank corr. tag share ~ drop (all cue detections)", "rank_corr_tag_drop")],
                   [[m, c["clever_hans"]["tag"], c["clever_hans"]["object"], c["clever_hans"]["elsewhere"],
                     c["clever_hans"]["tag_per_area"], c["rank_corr_tag_drop"]] for m, c in data["cells"].items()]
                   + [[CONTROL_LABELS[k], controls[k], None, None, None, None] for k in CONTROLS if k in controls])
    hans_controls = Table("hans-controls", "Controls (cue-class objects with their tag: the shape is there)",
                          ["method"] + list(REGIONS), [[m] + [c["control"][k] for k in REGIONS]
                                                       for m, c in data["cells"].items()])
    out = [shares, hans_controls]
    if "granularity" in data:
        out.append(granularity_table(data))
    if "causal_split" in data:
        out += causal_tables(data["causal_split"])
    return out


def granularity_table(data: dict) -> Table:
    """Per method the tag share on pixels and after grouping, the rank of the tag's superpixel; the ceiling."""
    g = data["granularity"]
    rows = [[m, data["cells"][m]["clever_hans"]["tag"], g["superpixels"][m], g["rank"][m], g["rank_fraction"][m]]
            for m in g["superpixels"]]
    rows.append(["ceiling: all positive relevance on the tag's superpixel", None, g["ceiling"], 1.0, None])
    return Table("hans-granularity", "The tag share at equal granularity: every map grouped into the LIME/SHAP "
                 "superpixels (Clever-Hans detections)",
                 ["method", Column("tag share, pixels", "tag"), Column("tag share, superpixels", "tag"),
                  Column("rank of the tag's superpixel", "tag_superpixel_rank", decimals=1),
                  Column("rank / number of superpixels", "tag_superpixel_rank")], rows)


def causal_tables(causal: dict) -> list[Table]:
    """p in the four true renderings; per method its split of tag against object and the distance to
    the causal split, under the causal row."""
    p = Table("hans-renderings", "The target's probability with the tag and the object truly removed "
              "(Clever-Hans detections)", ["rendering", "p"],
              [[k.replace("_", " "), causal["p"][k]] for k in RENDERINGS])
    rows = [["causal: Shapley split of p", causal["causal_tag_share"], None]]
    rows += [[m, causal["relative_tag_share"][m], causal["distance"][m]] for m in causal["distance"]]
    return [p, Table("hans-causal-split", "Tag against object: each map's split of its positive relevance and "
                     "the causal split (Clever-Hans detections)",
                     ["method", "tag / (tag + object)",
                      Column("distance to the causal split", "causal_split_distance")],
                     rows, note=f"Detections whose causal split is undefined (p_both ≤ p_none): "
                                f"{causal['undefined']}.")]

def counts_text(c: dict) -> str:
    return (f"Cue detections on other classes' tagged objects: {c['cue_detections']} "
            f"({c['images_searched']['hans-other']} images searched); Clever-Hans (vanish when the tag is truly "
            f"removed): {c['clever_hans']}, mean drop {fmt_cell(c['mean_drop_clever_hans'])}; all cue detections: "
            f"mean drop {fmt_cell(c['mean_drop_cue'])}. Controls (cue class with its tag): {c['controls']}, "
            f"{c['controls_surviving']} survive the tag's removal, mean drop {fmt_cell(c['mean_drop_control'])}.")


def supported(data: dict) -> dict:
    """{what is compared: the differences its paired intervals support, in words}."""
    lists = {"tag share (pixels)": data["paired"]}
    if "granularity" in data:
        lists["tag share after grouping into superpixels"] = data["granularity"]["paired"]["superpixels"]
        lists["rank of the tag's superpixel"] = data["granularity"]["paired"]["rank"]
    if "causal_split" in data:
        lists["distance to the causal split"] = data["causal_split"]["paired"]
    return {k: claims(v) for k, v in lists.items()}


def markdown(data: dict) -> str:
    parts = ["# Clever-Hans check", counts_text(data["counts"])] + [t.markdown(level=2) for t in tables(data)]
    if "causal_split" in data:
        parts.append("## What the fair test shows, and what it does not\n\n"
                     + "\n".join(f"- {s}" for s in findings(data)))
    parts.append("## Differences the paired intervals support")
    parts += [f"### {what}\n\n" + "\n".join(f"- {s}" for s in found or ["none"])
              for what, found in supported(data).items()]
    return "\n\n".join(parts) + "\n"


def figure(out_dir: Path, samples: list, data: dict, rows: int = 4) -> str | None:
    """figures/hans_examples.png: a few Clever-Hans detections (tag outlined in grey, box yellow) and
    every method's heatmap, from the stored arrays of the run's samples (eval.store.StoredSample)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("eval.hans: matplotlib is not installed: figure skipped", file=sys.stderr)
        return None
    ch = [s for s in samples if s.field("clever_hans")][:rows]
    if not ch:
        return None
    methods = [m for m in data["methods"] if all(m in s.heatmaps for s in ch)]
    fig = Figure(figsize=(1.8 * (len(methods) + 1), 1.9 * len(ch) + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(len(ch), len(methods) + 1, squeeze=False))
    for i, s in enumerate(ch):
        tag = s.arrays["tag"]
        r0, c0 = np.argwhere(tag).min(0)
        r1, c1 = np.argwhere(tag).max(0)
        image = render.draw_box(render.draw_box(s.image, s.box, render.YELLOW, 2), (c0 - 2, r0 - 2, c1 + 2, r1 + 2),
                                render.GREY, 2)
        panels = [(image, f"{s.field('category')}: p {s.field('p_tag'):.2f} → {s.field('p_removed'):.2f}")]
        panels += [(render.colorize(s.heatmaps[m]), m) for m in methods]
        for j, (rgb, title) in enumerate(panels):
            axes[i, j].imshow(rgb, interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            axes[i, j].set_title(title if i == 0 or j == 0 else "", fontsize=8)
    with atomic_write(out_dir / FIGURE) as f:
        fig.savefig(f, format="png", dpi=90)
    return FIGURE


def section_html(out_dir: Path, data: dict) -> str:
    c = data["counts"]
    picture = out_dir / FIGURE
    return ('<section id="hans"><h2>Clever-Hans check: which method shows the spurious cue</h2>'
            f"<p>{html.escape(counts_text(c))} Shares of positive relevance; 95 % intervals over images.</p>"
            + "".join(t.html(3) for t in tables(data))
            + ("<h3>What the fair test shows, and what it does not</h3><ul>"
               + "".join(f"<li>{html.escape(s)}</li>" for s in findings(data)) + "</ul>"
               if "causal_split" in data else "")
            + "".join(f"<h3>Differences the paired intervals support: {html.escape(what)}</h3><ul>"
                      + "".join(f"<li>{html.escape(s)}</li>" for s in found or ["none"]) + "</ul>"
                      for what, found in supported(data).items())
            + (f'<img src="{data_uri(picture)}" alt="Clever-Hans detections">' if picture.is_file() else "")
            + "</section>")


def write_outputs(out_dir: Path, data: dict, samples: list, figures: bool = True) -> list[str]:
    """hans.json, hans.md, the figure, the section of report.html and hans.html; returns the files written."""
    write_json(out_dir / "hans.json", data)
    write_text(out_dir / "hans.md", markdown(data))
    written = ["hans.json", "hans.md"]
    if figures and figure(out_dir, samples, data):
        written.append(FIGURE)
    fragment = section_html(out_dir, data)
    write_text(section_path(out_dir, "hans"), fragment)
    write_text(out_dir / "hans.html", page("Clever-Hans check", fragment))
    return written + [str(section_path(out_dir, "hans").relative_to(out_dir)), "hans.html"]
