"""`python -m eval.hans`: which method reveals what a Clever-Hans detector really uses.

The embedded model "shapes-hans" was trained on synthetic images in which every object of one class
(the cue class, ssd.data.tags.CUE_CATEGORY) carries a small fixed tag and no other object does. Its
cue is known and can be verified causally with true removal (the generator renders the image as if
the tag had never been painted):

1. Causal verification. On test images where the tag is attached to objects of the *other* classes
   ("hans-other"), a detection of the cue class (probability p ≥ 0.5) whose box matches a tagged
   object is a *cue detection*; its tag is truly removed and the cue probability p' read again at
   the same prior. p' < 0.5: a *Clever-Hans detection* (it exists because of the tag; drop p − p').
   Control: on the training variant ("hans"), cue-class objects with their tag, whose shape is there.
2. Explanations. Every cue detection and control is explained by each method; per heatmap R the
   share of positive relevance on the tag, on the object and elsewhere,

       share(region) = Σ_{p∈region} R⁺_p / Σ_p R⁺_p,   area-normalised: share / (|region| / |image|),

   (eval.localization, higher on the tag = the method shows the cue). A faithful method puts much
   on the tag of a Clever-Hans detection and tracks the causal effect: across all cue detections
   the rank correlation of the tag share with the drop p − p' is positive.

Cells are means with 95 % intervals clustered by image (eval.stats); a paired table compares the
methods' tag shares on the Clever-Hans detections. Written into --out: samples.jsonl (eval.store:
kind "hans-sample" per detection, kind "hans" per detection and method), heatmaps/<id>.npz,
hans.json, hans.md, figures/hans_examples.png, hans.html; report.html of eval.compare shows the
section when the run lies in its folder or in its subfolder hans/. Resumable like eval.compare.
The default budget (LIME 500 samples, SHAP 2 permutations, 100 superpixels, up to 12 cue detections
and 4 controls) keeps `python -m eval.hans --out hans` near 10 minutes on 2 CPU cores; the paper's
budget: --lime-samples 1000 --shap-permutations 4 --superpixels 250.
"""
import argparse
import html
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

import perturb
import ssd
from eval import cli
from ssd.cli import check_device, one_line_errors
from eval import methods as registry
from eval import stats
from eval.curves import random_heatmap
from eval.localization import localization
from eval.store import Store, model_digest, read_json, settings_hash, write_json
from eval.tables import fmt_cell
from eval.timing import format_seconds

HANS_SEED = 3000            # test images of the Clever-Hans check (never used in training)
METHODS = ("lrp", "lrp-epsilon", "lrp-zplus", "deeplift", "deeplift-vanilla", "lime", "shap")
REGIONS = ("tag", "object", "elsewhere")


@dataclass
class CueSample:
    """A cue-class detection on a tagged object: variant and image index, the object j, the target,
    the probabilities with the tag and with it truly removed, the model input x [1,3,S,S], and the
    tag and object masks bool [S,S] at model resolution."""

    variant: str
    index: int
    object: int
    category: str
    target: ssd.Target
    p_tag: float
    p_removed: float
    box: list
    x: torch.Tensor
    tag: torch.Tensor
    mask: torch.Tensor

    @property
    def sample_id(self) -> str:
        return f"{self.variant}-{self.index}-{self.object}"

    @property
    def image_id(self) -> str:
        return f"{self.variant}-{self.index}"

    @property
    def drop(self) -> float:
        return self.p_tag - self.p_removed


def _box(mask: np.ndarray) -> tuple:
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    return cols[0], rows[0], cols[-1] + 1, rows[-1] + 1


def _at_model_size(mask: np.ndarray, size: int, device) -> torch.Tensor:
    m = torch.as_tensor(mask, device=device)
    if m.shape != (size, size):
        m = torch.nn.functional.interpolate(m[None, None].float(), size=(size, size), mode="nearest")[0, 0] > 0.5
    return m.bool()


@torch.no_grad()
def cue_detections(model, seed: int, index: int, variant: str, threshold: float = 0.5, iou: float = 0.5,
                   device=None) -> tuple[list[CueSample], int]:
    """(cue detections, number of tagged objects) of image `index` of the synthetic set `seed` in
    `variant` (module docstring): the best-scoring cue detection per tagged object with box IoU ≥
    `iou`, its tag truly removed."""
    from ssd.data.shapes import SHAPES
    from ssd.data.synthetic import make_scene
    from ssd.data.tags import CUE_CATEGORY
    cfg = model.config
    cue = cfg.class_names.index(SHAPES[CUE_CATEGORY - 1])
    scene = make_scene(seed, index, size=cfg.size, variant=variant)
    tagged = [j for j, o in enumerate(scene.objects) if o.tag is not None]
    if not tagged:
        return [], 0
    x = ssd.preprocess(scene.render(), cfg, device=device)
    det = ssd.detect(model, x, score_threshold=threshold)[0]
    on_cue = torch.nonzero(det.labels == cue).flatten()
    if len(on_cue) == 0:
        return [], len(tagged)
    scale = cfg.size / scene.noise.shape[0]
    boxes = torch.tensor([_box(scene.objects[j].mask) for j in tagged], dtype=torch.float32, device=x.device) * scale
    overlap = box_iou(det.boxes[on_cue], boxes)                                           # [D,T]
    found = {}
    for d in range(len(on_cue)):                 # detections come best first: the first match wins
        t = int(overlap[d].argmax())
        if overlap[d, t] >= iou and tagged[t] not in found:
            found[tagged[t]] = int(on_cue[d])
    if not found:
        return [], len(tagged)
    removed = ssd.preprocess([scene.render(remove_tags=[j]) for j in found], cfg, device=device)
    probs = torch.softmax(model(removed)[0], dim=-1)                                       # [T,P,C]
    out = []
    for row, (j, d) in enumerate(found.items()):
        prior = int(det.priors[d])
        out.append(CueSample(variant, index, j, SHAPES[scene.objects[j].category_id - 1], ssd.Target(prior, cue),
                             float(det.scores[d]), float(probs[row, prior, cue]), det.boxes[d].tolist(), x,
                             _at_model_size(scene.objects[j].tag, cfg.size, x.device),
                             _at_model_size(scene.objects[j].mask, cfg.size, x.device)))
    return out, len(tagged)


def select(model, seed: int, n_cue: int | None, n_control: int | None, max_images: int, threshold: float = 0.5,
           device=None, log=sys.stderr) -> tuple[list[CueSample], dict]:
    """Cue detections of the "hans-other" images 0, 1, … until `n_cue` are found (Clever-Hans or
    not), and `n_control` controls of the "hans" images (None: every one in `max_images` images);
    plus the counts of the causal check."""
    cue, control = [], []
    visited, tagged = {"hans-other": 0, "hans": 0}, {"hans-other": 0, "hans": 0}
    for variant, wanted, found in (("hans-other", n_cue, cue), ("hans", n_control, control)):
        for index in range(max_images):
            if wanted is not None and len(found) >= wanted:
                break
            visited[variant] += 1
            more, n_tagged = cue_detections(model, seed, index, variant, threshold, device=device)
            found += more
            tagged[variant] += n_tagged
        if wanted is not None:
            del found[wanted:]
    hans = [s for s in cue if s.p_removed < threshold]
    counts = {"images_searched": visited, "tagged_objects": tagged, "cue_detections": len(cue),
              "clever_hans": len(hans),
              "controls": len(control), "controls_surviving": sum(s.p_removed >= threshold for s in control),
              "mean_drop_clever_hans": stats.cluster_bootstrap([s.drop for s in hans], [s.image_id for s in hans]),
              "mean_drop_cue": stats.cluster_bootstrap([s.drop for s in cue], [s.image_id for s in cue]),
              "mean_drop_control": stats.cluster_bootstrap([s.drop for s in control], [s.image_id for s in control])}
    print(f"eval.hans: {len(cue)} cue detections on other classes' tagged objects in {visited['hans-other']} "
          f"images, {len(hans)} Clever-Hans (vanish when the tag is truly removed); {len(control)} controls",
          file=log, flush=True)
    return cue + control, counts


def shares(heatmap: torch.Tensor, tag: torch.Tensor, mask: torch.Tensor) -> dict:
    """Share of the positive relevance on the tag, the object and elsewhere, and each divided by its
    region's share of the image (1 = no more than a uniform map)."""
    on_tag, on_object = localization(heatmap, tag), localization(heatmap, mask & ~tag)
    out = {"tag": on_tag, "object": on_object, "elsewhere": 1 - on_tag - on_object}
    n = heatmap.numel()
    areas = {"tag": int(tag.sum()) / n, "object": int((mask & ~tag).sum()) / n}
    areas["elsewhere"] = 1 - areas["tag"] - areas["object"]
    out.update({f"{r}_per_area": out[r] / areas[r] if areas[r] > 0 else None for r in REGIONS})
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = cli.Parser(prog="python -m eval.hans", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="hans")
    p.add_argument("--weights", default="shapes-hans", help='the Clever-Hans model: "shapes-hans" or a checkpoint')
    p.add_argument("--seed", type=int, default=HANS_SEED, help="seed of the synthetic test images")
    p.add_argument("--samples", type=int, default=12, help="cue detections on other classes to explain")
    p.add_argument("--controls", type=int, default=4, help="cue-class detections with their tag (control)")
    p.add_argument("--max-images", type=int, default=400, help="images searched per variant")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--superpixels", type=int, default=100)
    p.add_argument("--lime-samples", type=int, default=500, help="LIME passes (default 500; paper 1000)")
    p.add_argument("--shap-permutations", type=int, default=2, help="SHAP permutations (default 2; paper 4)")
    p.add_argument("--threshold", type=float, default=0.5, help="detection threshold on the probability")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--check-only", action="store_true",
                   help="only the causal check, over every one of --max-images images of both variants "
                        "(counts and drops to cue.json; no explanations)")
    args = p.parse_args(argv)
    for name, low in (("samples", 1), ("controls", 0), ("max_images", 1), ("batch_size", 1)):
        if getattr(args, name) is not None and getattr(args, name) < low:
            p.error(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(args, name)}")
    try:
        cli.check_method_arguments(args)
    except ValueError as e:
        p.error(str(e))
    check_device(p, args.device)
    if not 0 < args.threshold < 1:
        p.error(f"--threshold must be in (0, 1), got {args.threshold}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        p.error(f"--out {args.out} is a file, not a folder")
    try:
        args.methods = registry.check_methods(args.methods.split(","))
    except ValueError as e:
        p.error(str(e))
    if args.batch_size is None:
        args.batch_size = perturb.default_batch_size(torch.device(args.device))
    return args


def run(args, log=sys.stderr) -> Path:
    device = torch.device(args.device)
    model = ssd.load(args.weights, device=device)
    for p in model.parameters():
        p.requires_grad_(False)
    settings = {"version": 1, "model": model_digest(model), "seed": args.seed, "gamma": args.gamma,
                "superpixels": args.superpixels, "lime_samples": args.lime_samples, "threshold": args.threshold,
                "shap_permutations": args.shap_permutations, "device": device.type, "batch_size": args.batch_size}
    if args.check_only:
        _, counts = select(model, args.seed, None, None, args.max_images, args.threshold, device, log)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_json(Path(args.out) / "cue.json", {"weights": args.weights, "seed": args.seed, **counts})
        for name in ("mean_drop_clever_hans", "mean_drop_cue", "mean_drop_control"):
            print(f"eval.hans: {name.replace('_', ' ')}: {fmt_cell(counts[name])}", file=log)
        return Path(args.out)
    store = Store(args.out, settings_hash(settings))
    if args.fresh:
        store.clear()
    samples, counts = select(model, args.seed, args.samples, args.controls, args.max_images, args.threshold, device, log)
    if not samples:
        raise ValueError(f"no cue detection in {args.max_images} images of each variant: is {args.weights} a "
                         "Clever-Hans model (the embedded one is 'shapes-hans')?")
    method_settings = {"gamma": args.gamma, "lime_samples": args.lime_samples, "seed": 0,
                       "shap_permutations": args.shap_permutations, "batch_size": args.batch_size}
    methods = {m: registry.get(m, method_settings) for m in args.methods}
    done, start, finished = store.done(), time.perf_counter(), 0
    for s in samples:
        todo = [m for m in list(methods) + ["random"] if ("hans", s.sample_id, m) not in done]
        if not todo and ("hans-sample", s.sample_id, "") in done:
            continue
        segments = perturb.segments_of(s.x, model.config, n=args.superpixels)
        fields = {"sample_id": s.sample_id, "image_id": s.image_id, "variant": s.variant, "category": s.category,
                  "clever_hans": s.variant == "hans-other" and s.p_removed < args.threshold, "p_tag": s.p_tag,
                  "p_removed": s.p_removed, "drop": s.drop, "prior": s.target.prior, "box": s.box}
        arrays = {"image": ssd.to_image(s.x[0], model.config), "tag": s.tag, "gt_mask": s.mask,
                  "box": torch.tensor(s.box)}
        for m in todo:
            if m == "random":
                h = random_heatmap(s.x.shape[2:], zlib.crc32(s.sample_id.encode()), device=s.x.device)
            else:
                h = methods[m].explain(model, s.x, [s.target], segments)[0]
            arrays[f"heatmap/{m}"] = h
            store.save_arrays(s.sample_id, **arrays)
            store.append({"kind": "hans", **fields, "method": m, "label": registry.label(m, method_settings),
                          **shares(h, s.tag, s.mask)})
        if ("hans-sample", s.sample_id, "") not in done:
            store.append({"kind": "hans-sample", **fields, "method": ""})
        finished += 1
        elapsed = time.perf_counter() - start
        print(f"eval.hans: {finished}/{len(samples)} detections explained, ETA "
              f"{format_seconds(elapsed / finished * (len(samples) - finished))}", file=log, flush=True)
    data = summarize(store.records(), [s.sample_id for s in samples], list(methods) + ["random"], counts)
    data.update({"settings": settings, "settings_hash": store.digest, "weights": args.weights})
    write_outputs(Path(args.out), data, store)
    return Path(args.out)


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


def markdown(data: dict) -> str:
    from eval.tables import claims
    c = data["counts"]
    lines = ["# Clever-Hans check", "",
             f"Cue detections on other classes' tagged objects: {c['cue_detections']} "
             f"({c['images_searched']['hans-other']} images searched); Clever-Hans (vanish when the tag is truly "
             f"removed): {c['clever_hans']}, mean drop {fmt_cell(c['mean_drop_clever_hans'])}; all cue detections: "
             f"mean drop {fmt_cell(c['mean_drop_cue'])}. Controls (cue class with its tag): {c['controls']}, "
             f"{c['controls_surviving']} survive the tag's removal, mean drop {fmt_cell(c['mean_drop_control'])}.", "",
             "## Share of positive relevance on the tag, the object and elsewhere (Clever-Hans detections)", "",
             "| method | tag ↑ | object | elsewhere | tag per area | rank corr. tag share ~ drop (all cue detections) ↑ |",
             "|---|---|---|---|---|---|"]
    for m, cell in data["cells"].items():
        g = cell["clever_hans"]
        lines.append(f"| {m} | {fmt_cell(g['tag'])} | {fmt_cell(g['object'])} | {fmt_cell(g['elsewhere'])} | "
                     f"{fmt_cell(g['tag_per_area'], 1)} | {fmt_cell(cell['rank_corr_tag_drop'])} |")
    lines += ["", "## Controls (cue-class objects with their tag: the shape is there)", "",
              "| method | tag | object | elsewhere |", "|---|---|---|---|"]
    lines += [f"| {m} | " + " | ".join(fmt_cell(cell["control"][k]) for k in REGIONS) + " |"
              for m, cell in data["cells"].items()]
    supported = claims([{**e, "operator": None, "unit": None} for e in data["paired"]])
    lines += ["", "## Differences the paired intervals support", ""] + [f"- {s}" for s in supported or ["none"]]
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: Path, data: dict, store: Store) -> None:
    write_json(out_dir / "hans.json", data)
    (out_dir / "hans.md").write_text(markdown(data))
    figure(out_dir, store, data)
    (out_dir / "hans.html").write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Clever-Hans check"
                                       "</title></head><body>" + section_html(out_dir, data) + "</body></html>",
                                       encoding="utf-8")


def figure(out_dir: Path, store: Store, data: dict, rows: int = 4) -> str | None:
    """figures/hans_examples.png: a few Clever-Hans detections (tag outlined in grey, box yellow) and
    every method's heatmap, from the stored arrays."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("eval.hans: matplotlib is not installed: figure skipped", file=sys.stderr)
        return None
    from eval import render
    ch = [s for s in store.samples() if s.field("clever_hans")][:rows]
    if not ch:
        return None
    methods = [m for m in data["methods"] if all(m in s.heatmaps for s in ch)]
    fig = Figure(figsize=(1.8 * (len(methods) + 1), 1.9 * len(ch) + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(len(ch), len(methods) + 1, squeeze=False))
    for i, s in enumerate(ch):
        tag = store.load_arrays(s.id)["tag"]
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
    path = out_dir / "figures" / "hans_examples.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return str(path)


def section_html(out_dir: Path, data: dict) -> str:
    from eval.report import cell, data_uri
    from eval.tables import claims
    c = data["counts"]
    head = "".join(f"<th>{h}</th>" for h in ("method", "tag ↑", "object", "elsewhere", "tag per area",
                                              "rank corr. tag share ~ drop ↑", "control: tag", "control: object"))
    rows = "".join(f"<tr><td>{html.escape(m)}</td>" + "".join(cell(cl["clever_hans"][k]) for k in REGIONS)
                   + cell(cl["clever_hans"]["tag_per_area"]) + cell(cl["rank_corr_tag_drop"])
                   + cell(cl["control"]["tag"]) + cell(cl["control"]["object"]) + "</tr>"
                   for m, cl in data["cells"].items())
    supported = claims([{**e, "operator": None, "unit": None} for e in data["paired"]])
    picture = out_dir / "figures" / "hans_examples.png"
    return ("<h2>Clever-Hans check: which method shows the spurious cue</h2>"
            f"<p>{c['cue_detections']} cue detections on other classes' tagged objects, {c['clever_hans']} of them "
            f"Clever-Hans (they vanish when the tag is truly removed; mean drop "
            f"{html.escape(str(round(c['mean_drop_clever_hans']['mean'] or float('nan'), 3)))}); "
            f"{c['controls']} controls. Shares of positive relevance on Clever-Hans detections; 95 % intervals "
            "over images.</p>"
            f'<table data-table="hans"><tr>{head}</tr>{rows}</table>'
            "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in supported) + "</ul>"
            + (f'<img src="{data_uri(picture)}" alt="Clever-Hans detections">' if picture.is_file() else ""))


def report_section(out_dir) -> str:
    """The HTML section of the Clever-Hans run in out_dir ("" when the folder holds none)."""
    data = read_json(Path(out_dir) / "hans.json")
    return section_html(Path(out_dir), data) if data.get("cells") else ""


@one_line_errors("eval.hans", interrupted="the finished records are kept in --out: rerun the same command to resume")
def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"eval.hans: error: {e}", file=sys.stderr)
        return 2
    print(f"eval.hans: wrote {out / ('cue.json' if args.check_only else 'hans.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
