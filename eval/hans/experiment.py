"""`python -m eval.hans`: which method reveals what a Clever-Hans detector really uses.

1. Causal verification (eval.hans.cues): cue detections of the embedded "shapes-hans" model on tagged
   objects of other classes, each checked by true removal of its tag (a Clever-Hans detection
   vanishes without it); controls: cue-class objects with their tag.
2. Explanations: every cue detection and control explained by each method; per heatmap the share of
   positive relevance on the tag, on the object and elsewhere (also per area). A faithful method
   shows the tag of a Clever-Hans detection and tracks the causal effect: across all cue
   detections the rank correlation of the tag share with the drop p − p' is positive.
3. A fair test: every map also grouped into the LIME/SHAP superpixels, with the ceiling a perfect map
   reaches there (eval.hans.granularity); the causal split of p between the tag and the object by
   four true renderings and each map's distance to it, i.e. how much on the tag is right
   (eval.hans.causal); control rows, LRP-γ under the plain shapes model and under a fully
   randomised shapes-hans (eval.hans.controls).

Cells are means with 95 % intervals clustered by image (eval.stats); a paired table compares the
methods' tag shares on the Clever-Hans detections. Written into --out (its own names): hans.jsonl
(kind "hans-sample" per detection, kind "hans" per detection and method, kind "hans-control" per
detection and control; each with the detection's fields, its causal split p_both, p_no_tag,
p_no_object, p_none, phi_tag, phi_object, causal_tag_share and its ceiling; a "hans" record adds the
map's shares, tag_grouped, tag_rank, tag_rank_fraction, relative_tag_share and causal_distance, a
"hans-control" record the control's target control_prior, control_label, control_p and its LRP-γ
map's shares, None where the plain model has no detection of its own), hans-heatmaps/<id>.npz
(with the superpixels, "segments"), hans.json (its layout: eval.hans.summary), hans.md,
figures/hans_examples.png, sections/hans.html and hans.html. Resume, --fresh, progress and torchrun
sharding come from the runner. The default budget (LIME 500 samples, SHAP 2
permutations, 100 superpixels, up to 12 cue detections and 4 controls) keeps `python -m eval.hans`
short on 2 CPU cores; the paper's: --lime-samples 1000 --shap-permutations 4 --superpixels 250.
"""
import sys
import zlib
from pathlib import Path

import torch

import perturb
import ssd
from eval import methods as registry
from eval.removal.curves import random_heatmap
from eval.report.table import fmt_cell
from eval.run import cli
from eval.store.files import write_json
from eval.run.runner import Experiment
from eval.store import HEATMAP, Layout, model_digest

from . import causal
from .controls import CONTROLS, control_models, control_target
from .controls import METHOD as CONTROL_METHOD
from .cues import HANS_SEED, SHARES, select, shares
from .granularity import at_superpixels, ceiling
from .summary import summarize, write_outputs

METHODS = ("lrp", "lrp-epsilon", "lrp-zplus", "deeplift", "deeplift-vanilla", "lime", "shap")
ARRAYS = ("image", "tag", "gt_mask", "box", "segments")


class Hans(Experiment):
    name = "hans"
    layout = Layout("hans.jsonl", "hans-heatmaps")
    unit_name = "detections"
    legacy_kinds = ("hans", "hans-sample")
    description = __doc__.split("\n\n")[0]
    defaults = {"out": "hans", "samples": 12, "weights": "shapes-hans", "data_seed": HANS_SEED, "max_images": 400,
                "methods": ",".join(METHODS), "superpixels": 100, "lime_samples": 500, "shap_permutations": 2}

    def add_arguments(self, p) -> None:
        g = p.add_argument_group("eval.hans")
        g.add_argument("--controls", type=cli.integer(0), default=4,
                       help="cue-class detections with their tag, the controls (default 4)")
        g.add_argument("--check-only", action="store_true",
                       help="only the causal check, over every one of --max-images images of both variants "
                            "(counts and drops to cue.json; no explanations)")

    def check(self, args) -> None:
        if args.data != "synthetic":
            raise ValueError("--data coco: the Clever-Hans check needs the synthetic data, whose tags can be truly removed")
        if args.score_threshold == 0:
            raise ValueError("--score-threshold must be in (0, 1) for the Clever-Hans check, got 0.0")

    def direct(self, args) -> bool:
        """--check-only: the causal check alone, written to cue.json."""
        if not args.check_only:
            return False
        device = torch.device(args.device)
        model = ssd.load(args.weights, device=device)
        _, counts = select(model, args.data_seed, None, None, args.max_images, args.score_threshold, device)
        out = Path(args.out)
        write_json(out / "cue.json", {"weights": args.weights, "seed": args.data_seed, **counts})
        for name in ("mean_drop_clever_hans", "mean_drop_cue", "mean_drop_control"):
            print(f"eval.hans: {name.replace('_', ' ')}: {fmt_cell(counts[name])}", file=sys.stderr)
        print(f"eval.hans: wrote {out / 'cue.json'}", file=sys.stderr)
        return True

    def settings(self, ctx) -> dict:
        args = ctx.args
        return {"version": 3, "model": model_digest(ctx.model), "control_model": model_digest(ssd.load("shapes")),
                "data_seed": args.data_seed, "seed": args.seed, "gamma": args.gamma, "superpixels": args.superpixels,
                "lime_samples": args.lime_samples, "shap_permutations": args.shap_permutations,
                "score_threshold": args.score_threshold,
                "device": ctx.device.type, "batch_size": args.batch_size}

    def units(self, ctx) -> list:
        args = ctx.args
        samples, counts = select(ctx.model, args.data_seed, args.samples, args.controls, args.max_images,
                                 args.score_threshold, ctx.device, ctx.log)
        if not samples:
            raise ValueError(f"no cue detection in {args.max_images} images of each variant: is {args.weights} a "
                             "Clever-Hans model (the embedded one is 'shapes-hans')?")
        settings = registry.settings_of(args)
        ctx.state.update(counts=counts, settings=settings, controls=control_models(ctx.model, args.seed, ctx.device),
                         methods={m: registry.get(m, settings) for m in args.method_names + [CONTROL_METHOD]})
        return samples

    def expected(self, ctx, s) -> dict:
        out = {("hans", s.sample_id, m): (s.sample_id, ARRAYS + (f"{HEATMAP}{m}",))
               for m in ctx.args.method_names + ["random"]}
        out["hans-sample", s.sample_id, ""] = None
        out.update({("hans-control", s.sample_id, c): None for c in CONTROLS})
        return out

    def measure(self, ctx, s, missing: set) -> None:
        args, store = ctx.args, ctx.store
        written = store.keys()
        segments = perturb.segments_of(s.x, ctx.model.config, n=args.superpixels)
        fields = {"sample_id": s.sample_id, "image_id": s.image_id, "variant": s.variant, "category": s.category,
                  "clever_hans": s.variant == "hans-other" and s.p_removed < args.score_threshold,
                  "p_tag": s.p_tag, "p_removed": s.p_removed, "drop": s.drop, "prior": s.target.prior, "box": s.box,
                  "ceiling": ceiling(segments, s.tag),
                  **causal.split(causal.probabilities(ctx.model, args.data_seed, s, ctx.device))}
        arrays = {"image": ssd.to_image(s.x[0], ctx.model.config), "tag": s.tag, "gt_mask": s.mask,
                  "box": torch.tensor(s.box), "segments": segments}
        for m in ctx.args.method_names + ["random"]:
            if ("hans", s.sample_id, m) not in missing:
                continue
            if m == "random":
                h = random_heatmap(s.x.shape[2:], zlib.crc32(s.sample_id.encode()), device=s.x.device)
            else:
                h = ctx.state["methods"][m].explain(ctx.model, s.x, [s.target], segments)[0]
            store.save_arrays(s.sample_id, **arrays, **{f"{HEATMAP}{m}": h})
            if ("hans", s.sample_id, m) not in written:
                region = shares(h, s.tag, s.mask)
                relative = causal.relative_tag_share(region)
                store.append({"kind": "hans", **fields, "method": m, "label": registry.label(m, ctx.state["settings"]),
                              **region, **at_superpixels(h, segments, s.tag), "relative_tag_share": relative,
                              "causal_distance": causal.distance(relative, fields["causal_tag_share"])})
        for c in CONTROLS:
            if ("hans-control", s.sample_id, c) in missing:
                store.append({"kind": "hans-control", **fields, "method": c, **self.control(ctx, c, s)})
        if ("hans-sample", s.sample_id, "") in missing:
            store.append({"kind": "hans-sample", **fields, "method": ""})
        ctx.progress.step(1)

    def control(self, ctx, name: str, s) -> dict:
        """The record fields of control `name` (eval.hans.controls) on detection s: its target, the
        control model's probability, the shares of its LRP-γ map (None without a target)."""
        found = control_target(name, ctx.state["controls"], s, ctx.args.score_threshold)
        if found is None:
            return {"control_prior": None, "control_label": None, "control_p": None, **dict.fromkeys(SHARES)}
        target, p = found
        h = ctx.state["methods"][CONTROL_METHOD].explain(ctx.state["controls"][name], s.x, [target])[0]
        return {"control_prior": target.prior, "control_label": target.label, "control_p": p,
                **shares(h, s.tag, s.mask)}

    def summarise(self, ctx) -> list[str]:
        ids = [s.sample_id for s in ctx.units]
        store = ctx.main_store
        data = summarize(store.records(), ids, ctx.args.method_names + ["random"], ctx.state["counts"])
        data.update({"settings": ctx.settings, "settings_hash": ctx.digest, "weights": ctx.args.weights})
        written = write_outputs(ctx.out, data, store.samples(ids), figures=not ctx.args.no_figures)
        ctx.say(f"wrote {ctx.out / 'hans.md'}")
        return written


EXPERIMENT = Hans()
main = EXPERIMENT.main

if __name__ == "__main__":
    sys.exit(main())
