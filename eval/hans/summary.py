"""The summary of an eval.hans run, from its records only: cells of the shares per method and group,
the rank correlation of the tag share with the causal drop, the paired tag shares; hans.json,
hans.md, the figure of a few Clever-Hans detections, its section of report.html and hans.html."""
import html
import sys
from pathlib import Path

import numpy as np

from eval import stats
from eval.report import render
from eval.report.page import data_uri, page, section_path
from eval.report.table import Column, Table, claims, fmt_cell
from eval.run.store import atomic_write, write_json, write_text

from .cues import REGIONS

FIGURE = "figures/hans_examples.png"


def summarize(records: list[dict], sample_ids, methods, counts: dict) -> dict:
    """hans.json: per method and group ("clever_hans", "control") the cells of every share; the rank
    correlation of the tag share with the causal drop over all cue detections; paired tag shares."""
    wanted = set(sample_ids)
    rows = [r for r in records if r.get("kind") == "hans" and r["sample_id"] in wanted]
    groups = {"clever_hans": lambda r: r["clever_hans"], "control": lambda r: r["variant"] == "hans",
              "cue": lambda r: r["variant"] == "hans-other"}
    cells = {}
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        for g, member in groups.items():
            chosen = [r for r in mine if member(r)]
            cells.setdefault(m, {})[g] = {k: stats.cluster_bootstrap([r[k] for r in chosen], [r["image_id"] for r in chosen])
                                          for k in REGIONS + tuple(f"{k}_per_area" for k in REGIONS)}
        cue = [r for r in mine if r["variant"] == "hans-other"]
        data = np.array([[r["tag"], r["drop"]] for r in cue], dtype=np.float64).reshape(-1, 2)
        cells[m]["rank_corr_tag_drop"] = stats.cluster_bootstrap_statistic(
            lambda d: stats.spearman(d[:, 0], d[:, 1]), data, [r["image_id"] for r in cue])
    ch = [r for r in rows if r["clever_hans"]]
    image_of = {r["sample_id"]: r["image_id"] for r in ch}
    paired = []
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            va = {r["sample_id"]: r["tag"] for r in ch if r["method"] == a}
            vb = {r["sample_id"]: r["tag"] for r in ch if r["method"] == b}
            d = stats.paired_difference(va, vb, image_of)
            paired.append({"metric": "tag share (Clever-Hans detections)", "a": a, "b": b, **d,
                           "better": (a if d["mean_diff"] > 0 else b) if d["excludes_zero"] else None})
    return {"counts": counts, "methods": methods, "cells": cells, "paired": paired,
            "n_samples": len(wanted), "n_images": len({r["image_id"] for r in rows})}


def tables(data: dict) -> list[Table]:
    """The shares on the Clever-Hans detections (with the rank correlation), and on the controls."""
    shares = Table("hans", "Share of positive relevance on the tag, the object and elsewhere (Clever-Hans detections)",
                   ["method", Column("tag", "tag"), "object", "elsewhere", Column("tag per area", decimals=1),
                    Column("rank corr. tag share ~ drop (all cue detections)", "rank_corr_tag_drop")],
                   [[m, c["clever_hans"]["tag"], c["clever_hans"]["object"], c["clever_hans"]["elsewhere"],
                     c["clever_hans"]["tag_per_area"], c["rank_corr_tag_drop"]] for m, c in data["cells"].items()])
    controls = Table("hans-controls", "Controls (cue-class objects with their tag: the shape is there)",
                     ["method"] + list(REGIONS), [[m] + [c["control"][k] for k in REGIONS]
                                                  for m, c in data["cells"].items()])
    return [shares, controls]


def counts_text(c: dict) -> str:
    return (f"Cue detections on other classes' tagged objects: {c['cue_detections']} "
            f"({c['images_searched']['hans-other']} images searched); Clever-Hans (vanish when the tag is truly "
            f"removed): {c['clever_hans']}, mean drop {fmt_cell(c['mean_drop_clever_hans'])}; all cue detections: "
            f"mean drop {fmt_cell(c['mean_drop_cue'])}. Controls (cue class with its tag): {c['controls']}, "
            f"{c['controls_surviving']} survive the tag's removal, mean drop {fmt_cell(c['mean_drop_control'])}.")


def supported(data: dict) -> list[str]:
    return claims(data["paired"])


def markdown(data: dict) -> str:
    parts = ["# Clever-Hans check", counts_text(data["counts"])] + [t.markdown(level=2) for t in tables(data)]
    parts.append("## Differences the paired intervals support\n\n" + "\n".join(f"- {s}" for s in supported(data) or ["none"]))
    return "\n\n".join(parts) + "\n"


def figure(out_dir: Path, samples: list, data: dict, rows: int = 4) -> str | None:
    """figures/hans_examples.png: a few Clever-Hans detections (tag outlined in grey, box yellow) and
    every method's heatmap, from the stored arrays of the run's samples (eval.run.store.StoredSample)."""
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
            + "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in supported(data)) + "</ul>"
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
