"""`python -m eval.compare`: the comparison of LRP, DeepLIFT, LIME and SHAP (paper section 4), with
an evaluation that can tell them apart.

Selects N detections deterministically (eval.run.samples), explains each image's detections with every
method (timed), and measures every sample (eval.compare.measure): MoRF/LeRF removal curves with the
true removal operator of the synthetic data (or grey/blur/inpaint on COCO), the operator fidelity,
the relevance outside the receptive field, localization against its null, and the paper's tables
1–4. The data flow is one way: compute → store → tables (eval.compare.summary, .tables) → figures,
the report section.

Written into --out: samples.jsonl (one record per sample and method, plus "random", "mask" and a
"sample" record with the operator fidelity and the passes), heatmaps/<sample_id>.npz, tables.json,
tables.md, curves.json, variability.json (figure 7), figures/, gallery/, sections/compare.html and
report.html. Resume, --fresh, progress, torchrun sharding: the runner (eval.run.runner).
"""
import sys

import torch

import perturb
import ssd
from eval import methods as registry
from eval.removal.curves import LOG_GRID, UNITS, linear_grid
from eval.removal.operators import OPERATORS
from eval.run import cli
from eval.store.files import write_json, write_text
from eval.run.runner import Experiment
from eval.run.samples import data_digest, selected_for
from eval.store import HEATMAP, Layout, model_digest
from eval.run.timing import device_name, format_seconds, timed

from . import detector_outputs, summary, tables
from .detector_outputs import BOX_IMAGES
from .measure import Protocol, measure_sample
from .rows import plan

VARIANTS = ("lrp-epsilon", "lrp-gamma", "lrp-zplus", "deeplift-vanilla", "deeplift-gamma", "deeplift")  # figs 4, 5
BASE_ARRAYS = ("image", "segments", "box", "gt_box", "gt_mask", "rf")


def protocol_of(args) -> Protocol:
    fidelity = tuple(cli.names(args.fidelity_operators)) if args.data == "synthetic" else ()
    return Protocol(operators=tuple(cli.names(args.operators)), units=tuple(cli.names(args.units)),
                    flip_fractions=linear_grid(args.steps) if args.steps else (0.0,) + LOG_GRID,
                    fidelity_operators=fidelity, random_orders=args.random_orders, seed=args.seed,
                    batch_size=args.batch_size, oracle=not args.no_oracle, controls=not args.no_controls,
                    ablations=args.ablations)


def sample_fields(sample) -> dict:
    """The sample's fields every record of it repeats."""
    return {"sample_id": sample.sample_id, "image_id": sample.image_id, "class_name": sample.class_name,
            "label": sample.target.label, "prior": sample.target.prior, "score": sample.score, "box": sample.box,
            "gt_box": sample.gt_box, "iou": sample.iou, "source": sample.source, "layer": sample.layer}


class Compare(Experiment):
    name = "compare"
    layout = Layout("samples.jsonl", "heatmaps")
    description = __doc__.split("\n\n")[0]
    defaults = {"out": "results", "samples": 24, "images": 16}     # 24 samples from 16 images (≤ 2 each)

    def add_arguments(self, p) -> None:
        g = p.add_argument_group("eval.compare")
        g.add_argument("--operators", default=None, help="removal operators of the MoRF/LeRF curves, from "
                       f"{', '.join(OPERATORS)} (default: true on the synthetic data, grey,inpaint on COCO)")
        g.add_argument("--units", default="superpixels", help="units of the MoRF/LeRF curves: superpixels, pixels "
                       "or both (default superpixels)")
        g.add_argument("--fidelity-operators", default="grey,blur,inpaint",
                       help="operators compared against true removal in the operator fidelity table (synthetic data)")
        g.add_argument("--random-orders", type=cli.integer(1), default=3, help="random orders averaged in the random row")
        g.add_argument("--fig7", choices=("quick", "paper", "none"), default="quick",
                       help="figure 7 (LIME/SHAP variability vs passes): scaled down (default), the paper's "
                            "settings (about 4·10⁵ passes: use a GPU) or not at all")
        g.add_argument("--steps", type=cli.integer(1), default=None, help="the paper's pixel flipping (table 2) on "
                       "this many linear steps (paper: 100); default: the 14-point log grid of the removal curves")
        g.add_argument("--no-oracle", action="store_true", help="leave out the oracle row (eval.removal.oracle)")
        g.add_argument("--no-controls", action="store_true",
                       help="leave out the negative controls (edge, box-gaussian, lrp-random-model, <method>-negated)")
        g.add_argument("--matched-images", type=cli.integer(0), default=1,
                       help="images whose LIME maps are also computed with D-RISE's matched score, to report how "
                            "often and how much fixed and matched scores disagree (default 1; 1,000 full passes each)")
        g.add_argument("--ablations", action="store_true",
                       help="add the ablations of the ordering (<method>-positive, -abs, -sum; eval.compare.rows)")

    def check(self, args) -> None:
        if args.operators is None:
            args.operators = "true" if args.data == "synthetic" else "grey,inpaint"
        operators, units = cli.names(args.operators), cli.names(args.units)
        bad = [o for o in operators + cli.names(args.fidelity_operators) if o not in OPERATORS]
        if bad or not operators:
            raise ValueError(f"unknown removal operator(s) {', '.join(bad) or '(none given)'}: choose from "
                             f"{', '.join(OPERATORS)}")
        if args.data == "coco" and "true" in operators:
            raise ValueError("--operators true needs the synthetic data (COCO has no image without its objects): "
                             "use grey, blur or inpaint")
        if not units or any(u not in UNITS for u in units):
            raise ValueError(f"--units must name superpixels and/or pixels, got {args.units!r}")

    def direct(self, args) -> bool:
        """Several models (--weights a,b,c): one run per model and their pooled tables
        (eval.compare.replication)."""
        from . import replication
        if len(replication.model_names(args.weights)) < 2:
            return False
        replication.run_models(self, args)
        return True

    def settings(self, ctx) -> dict:
        """Everything that determines a record's numbers (not --samples, --methods, --out or --fresh)."""
        import os
        args, protocol = ctx.args, protocol_of(ctx.args)
        coco_root = os.path.abspath(args.coco_root) if args.data == "coco" else None
        return {"version": 3, "data": args.data, "coco_root": coco_root, "data_seed": args.data_seed,
                "data_digest": data_digest(args.data, args.data_seed, args.coco_root),
                "model": model_digest(ctx.model), "device": ctx.device.type, "seed": args.seed,
                "gamma": args.gamma, "superpixels": args.superpixels, "lime_samples": args.lime_samples,
                "shap_permutations": args.shap_permutations, "score_threshold": args.score_threshold,
                "iou_threshold": args.iou_threshold, "batch_size": args.batch_size,
                "operators": list(protocol.operators), "units": list(protocol.units),
                "flip_fractions": list(protocol.flip_fractions), "fidelity_operators": list(protocol.fidelity_operators),
                "random_orders": protocol.random_orders, "grid": list(LOG_GRID)}

    # --- units: the images of the selected detections -----------------------------------------
    def units(self, ctx) -> list:
        args = ctx.args
        selected = selected_for(ctx)
        samples = [s for item in selected for s in item.samples]
        settings, protocol = registry.settings_of(args), protocol_of(args)
        explained = args.method_names + (["lrp-random-model"] if protocol.controls else [])
        ctx.state.update(samples=samples, settings=settings, protocol=protocol,
                         methods={m: registry.get(m, settings) for m in explained},
                         passes_run=0, passes_skipped=0, stages={})
        return selected

    def rows(self, ctx, item) -> list[str]:
        """The rows each sample of an image needs (eval.compare.rows.plan)."""
        p = ctx.state["protocol"]
        superpixel = {m for m, method in ctx.state["methods"].items() if method.superpixel}
        return [r.name for r in plan(ctx.args.method_names, superpixel, p.random_orders, item.masks is not None,
                                     p.has_oracle(), p.controls, p.ablations)]

    def expected(self, ctx, item) -> dict:
        out = {}
        matched = "lime" in ctx.args.method_names and item.index < ctx.args.matched_images
        for s in item.samples:
            for row in self.rows(ctx, item):
                heatmap = (f"{HEATMAP}{row}",) if row in ctx.state["methods"] else ()
                out["explanation", s.sample_id, row] = (s.sample_id, BASE_ARRAYS + heatmap)
            extra = ()
            if s is item.samples[0]:                # the image's extras ride with its first sample
                extra += ("missed_boxes",) + (tuple(f"{HEATMAP}{v}" for v in VARIANTS) if item.index == 0 else ())
                extra += tuple(f"{HEATMAP}lrp-box-{c}" for c in ssd.COORDINATES) if item.index < BOX_IMAGES else ()
            out["sample", s.sample_id, ""] = (s.sample_id, BASE_ARRAYS + extra)
            if matched:
                out["matched", s.sample_id, "lime"] = None
        return out

    def cost(self, ctx, item, missing) -> int:
        return len({sid for _, sid, _ in missing})

    def weight(self, ctx, item) -> float:
        """An image's run time in units of one sample's measurement (removal curves, oracle, metrics):
        LIME and SHAP run once per image and cost about five of them together, LIME with the matched
        score (the first --matched-images images) about as much again."""
        matched = "lime" in ctx.args.method_names and item.index < ctx.args.matched_images
        return len(item.samples) + 5.0 * (1 + matched)

    def status(self, ctx) -> str:
        return f"removal passes run {ctx.state['passes_run']}, skipped {ctx.state['passes_skipped']}"

    def prepare(self, ctx, item) -> None:
        """One untimed run of every backward method and one batch of forward passes, so that the timed
        explanations do not pay for first-call costs (allocator, kernels, thread pools)."""
        with torch.no_grad():
            ctx.model(item.x.expand(ctx.args.batch_size, -1, -1, -1))
        for method in ctx.state["methods"].values():
            if not method.superpixel:
                timed(lambda: method.explain(ctx.model, item.x, [item.samples[0].target]), ctx.device)

    def measure(self, ctx, item, missing: set) -> None:
        """Explain and measure every sample of the image with a missing key. A sample is measured whole
        (so that its passes and curves never depend on where a run was interrupted): heatmaps already
        stored are read back; records are appended for the missing keys only."""
        model, args, store, state = ctx.model, ctx.args, ctx.store, ctx.state
        written = store.keys()            # a key may miss only its arrays: its record is not written twice
        todo_rows = {}
        for kind, sid, row in missing:
            if kind in ("explanation", "sample"):          # the matched records: detector_outputs
                todo_rows.setdefault(sid, set()).add("sample" if kind == "sample" else row)
        segments = perturb.segments_of(item.x, model.config, n=args.superpixels)
        todo = [s for s in item.samples if s.sample_id in todo_rows]
        pending = {s.sample_id: {} for s in todo}      # new arrays, written once per sample (before its records)
        for s in todo:
            if not store.readable(s.sample_id, BASE_ARRAYS):
                pending[s.sample_id].update(
                    image=item.image, segments=segments.to(torch.int32), box=torch.tensor(s.box),
                    gt_box=torch.tensor(s.gt_box), gt_mask=item.masks[s.gt_index] if item.masks is not None
                    else torch.zeros(0), rf=perturb.ssd_receptive_fields(model, [s.target], item.x.shape[2:],
                                                                         item.x.device)[0])
        heatmaps, timing = {}, {}
        for s in todo:
            stored = store.load_arrays(s.sample_id)
            heatmaps[s.sample_id] = {m: torch.as_tensor(stored[f"{HEATMAP}{m}"], device=item.x.device)
                                     for m in state["methods"] if m not in todo_rows[s.sample_id]
                                     and f"{HEATMAP}{m}" in stored}
        for name, method in state["methods"].items():
            need = [s for s in todo if name not in heatmaps[s.sample_id]]
            if not need:
                continue
            maps, seconds = timed(lambda: method.explain(model, item.x, [s.target for s in need], segments), ctx.device)
            self.stage(ctx, f"explain {name}", seconds)
            for s, h in zip(need, maps):
                heatmaps[s.sample_id][name] = h
                pending[s.sample_id][f"{HEATMAP}{name}"] = h
                timing[s.sample_id, name] = {"seconds": seconds / len(need), "call_seconds": seconds,
                                             "targets_in_call": len(need)}
        if item.index == 0:
            self.figure_variants(ctx, item, segments, pending)
        self.detector_outputs(ctx, item, segments, missing, heatmaps, written, pending)
        for sid, arrays in pending.items():
            if arrays:
                store.save_arrays(sid, **arrays)
        superpixel_methods = {m for m, method in state["methods"].items() if method.superpixel}
        for s in todo:
            rows = todo_rows[s.sample_id]
            (bodies, sample_body), seconds = timed(lambda: measure_sample(
                model, item, s, heatmaps[s.sample_id], segments, args.method_names, superpixel_methods,
                state["protocol"]), ctx.device)
            self.stage(ctx, "measure (removal curves, oracle, metrics)", seconds)
            fields = sample_fields(s)
            for row, body in bodies.items():
                if row in rows and ("explanation", s.sample_id, row) not in written:
                    store.append({"kind": "explanation", **fields, "method": row,
                                  "label": registry.label(row, state["settings"]), **body,
                                  **timing.get((s.sample_id, row), {})})
            state["passes_run"] += sample_body["passes_run"]
            state["passes_skipped"] += sample_body["passes_skipped"]
            if "sample" in rows and ("sample", s.sample_id, "") not in written:
                store.append({"kind": "sample", **fields, "method": "", **sample_body})
        ctx.progress.step(len(todo), self.status(ctx))

    def detector_outputs(self, ctx, item, segments, missing, heatmaps, written, pending) -> None:
        """The box maps, the missed objects and fixed-vs-matched LIME of the image, where missing
        (eval.compare.detector_outputs); new arrays go to `pending` {sample id: arrays}."""
        store, first = ctx.store, item.samples[0]
        lrp_method = registry.get("lrp", ctx.state["settings"])
        have = store.load_arrays(first.sample_id) if ("sample", first.sample_id, "") in missing else None
        if have is not None and item.index < BOX_IMAGES and f"{HEATMAP}lrp-box-cx" not in have:
            maps = detector_outputs.box_maps(lrp_method, ctx.model, item.x, first.target)
            pending[first.sample_id].update({f"{HEATMAP}{k}": v for k, v in maps.items()})
        if have is not None and "missed_boxes" not in have:
            arrays, seconds = timed(lambda: detector_outputs.missed(lrp_method, ctx.model, item), ctx.device)
            pending[first.sample_id].update(arrays)
            self.stage(ctx, "missed objects", seconds)
        todo = [s for s in item.samples if ("matched", s.sample_id, "lime") in missing
                and ("matched", s.sample_id, "lime") not in written]
        if todo:
            fixed = [heatmaps[s.sample_id]["lime"] if "lime" in heatmaps.get(s.sample_id, {}) else
                     torch.as_tensor(store.load_arrays(s.sample_id)[f"{HEATMAP}lime"], device=item.x.device)
                     for s in todo]
            rows, seconds = timed(lambda: detector_outputs.fixed_vs_matched(
                ctx.state["methods"]["lime"], ctx.model, item.x, [s.target for s in todo], segments, fixed), ctx.device)
            self.stage(ctx, "LIME with the matched score", seconds)
            for s, row in zip(todo, rows):
                store.append({"kind": "matched", **sample_fields(s), "method": "lime", **row})

    def stage(self, ctx, name: str, seconds: float) -> None:
        """Add to the time spent in one stage of the run (printed and kept in tables.json)."""
        ctx.state["stages"][name] = ctx.state["stages"].get(name, 0.0) + seconds

    def figure_variants(self, ctx, item, segments, pending) -> None:
        """Figures 4 and 5: the first sample explained by LRP-ε/γ/z⁺ and DeepLIFT vanilla/γ/γ+♭, stored
        as heatmaps of that sample (the figures only draw them); new arrays go to `pending`."""
        s = item.samples[0]
        if s.sample_id not in pending:
            return
        have = ctx.store.load_arrays(s.sample_id)
        for name in VARIANTS:
            if f"{HEATMAP}{name}" not in have:
                h = registry.get(name, ctx.state["settings"]).explain(ctx.model, item.x, [s.target], segments)[0]
                pending[s.sample_id][f"{HEATMAP}{name}"] = h

    # --- summary ------------------------------------------------------------------------------
    def summarise(self, ctx) -> list[str]:
        """tables.json, tables.md, curves.json, figure 7's variability.json, the figures and the section."""
        from . import figures, section, variability
        args, out, store = ctx.args, ctx.out, ctx.main_store
        ids = [s.sample_id for s in ctx.state["samples"]]
        meta = {"complete": True, "samples": len(ids), "samples_requested": args.samples, "sample_ids": ids,
                "methods": args.method_names, "data": args.data if args.data == "synthetic" else f"coco ({args.coco_root})",
                "weights": args.weights, "device_name": device_name(ctx.device), "settings_hash": ctx.digest,
                "settings": ctx.settings, "stage_seconds": {k: round(v, 1) for k, v in ctx.state["stages"].items()}}
        if ctx.state["stages"]:
            ctx.say("time per stage (this process): " + ", ".join(f"{k} {format_seconds(v)}"
                                                                  for k, v in ctx.state["stages"].items()))
        records = store.records()
        data, bands = summary.build(records, ids, args.method_names, ctx.settings)
        data = {**meta, **data}
        write_json(out / "curves.json", bands)
        header = (f"# Comparison of LRP, DeepLIFT, LIME and SHAP\n\n{meta['samples']} samples; data: {meta['data']}; "
                  f"model: {meta['weights']}; device: {meta['device_name']}; settings hash {meta['settings_hash']}.")
        write_text(out / "tables.md", tables.markdown(data, header))
        write_json(out / "tables.json", data)
        ctx.say(f"wrote {out / 'tables.md'}")
        written = ["tables.json", "tables.md", "curves.json"]
        if args.fig7 != "none" and any(m in ("lime", "shap") for m in args.method_names):
            variability.write(out, ctx.model, ctx.units, args.fig7, ctx.device)
            written.append("variability.json")
        samples = store.samples(ids)
        if args.no_figures:
            ctx.say("figures skipped (--no-figures)")
        else:
            drawn, skipped = figures.write_figures(out, samples, records)
            written += drawn
            if skipped:
                ctx.say(f"figures skipped: {', '.join(skipped)}")
        written += section.write_section(out, data, samples)
        return written


EXPERIMENT = Compare()
main = EXPERIMENT.main

if __name__ == "__main__":
    sys.exit(main())
