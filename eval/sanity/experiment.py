"""`python -m eval.sanity`: model-parameter randomisation sanity checks (Adebayo et al. 2018) of every
method on our SSD. An explanation that does not change when the model's parameters are redrawn
cannot explain the model.

For each selected detection (eval.run.samples, as in eval.compare) and method, the heatmap of the
original model is compared with the heatmap of randomised copies (eval.randomization), for the
same target: the original detection's (prior, label). Two variants, eight levels from the output
down (heads, extras, fc6–fc7, conv5, conv4 with the ℓ2-Norm, conv3, conv2, conv1):

    cascading     step k: levels 1..k re-drawn (at conv1 every parameter is random)
    independent   step k: level k alone re-drawn

Similarity (eval.metrics.similarity, higher = more similar, 1 = unchanged): Spearman ρ of |R| and of R, SSIM
of the maps normalised by their max |R|, top-10 % intersection; measured inside the target's
receptive field, a rectangle outside of which every back-propagated map is 0 by the architecture,
whatever the parameters. Each method's floor: its original map against the same map with the
pixels shuffled inside the receptive field (a random heatmap with the method's own values); the
"random" row, an i.i.d. uniform heatmap drawn afresh for the original and every level, is the common
reference. A second reference, "two random models": the maps of two fully randomised copies
(init seeds s and s + 1) against each other, the similarity that the architecture and the input
alone give. The verdict rule (passes / partly / fails) is in eval.sanity.summary.

Written into --out (its own names, so that it can share a folder with eval.compare):
    sanity.jsonl          one record per (sample, method, variant, level) and per (sample, method)
                          reference, appended as each finishes (kind "sanity", method key
                          "<method>/<variant>/<level>", references "<method>/floor/shuffled" and
                          "<method>/floor/random-models"; eval.store)
    sanity-heatmaps/<id>.npz   the figure's sample: image, box, receptive field, original and cascading maps
    sanity.json / .md     per method, variant, level and measure: mean, 95 % interval over images, n;
                          the verdicts
    figures/sanity_cascading.png, figures/sanity_curves.png (matplotlib, extra `plots`),
    sections/sanity.html (its section of report.html) and sanity.html (the section alone)

Resume, --fresh, progress and torchrun sharding come from the runner (eval.run.runner). The default budget is
reduced so that `python -m eval.sanity --out sanity` takes a few minutes on 2 idle CPU cores (eval/README.md):
4 samples, LIME 200 samples, SHAP 2 permutations, 50 superpixels (README, "Sanity checks"); the
paper's: --lime-samples 1000 --shap-permutations 4 --superpixels 250.
"""
import sys
import zlib

import numpy as np
import torch

from eval import methods as explainers
from eval.metrics.similarity import similarities
from eval.removal.curves import random_heatmap
from eval.run import cli
from eval.run.runner import Experiment
from eval.run.samples import data_digest, selected_for
from eval.store import HEATMAP, Layout, model_digest
from eval.run.timing import device_name, timed

from eval.randomization import VARIANTS, randomized, schedule, ssd_levels
from .summary import FLOOR, MODELS, RANDOM, SHUFFLED, write_outputs

KIND = "sanity"
METHODS = ("lrp-epsilon", "lrp-gamma", "lrp-zplus", "deeplift-vanilla", "deeplift", "lime", "shap", "gradient")
FIGURE_ARRAYS = ("image", "box", "region")


def method_key(method: str, variant: str, level: str) -> str:
    return f"{method}/{variant}/{level}"


def receptive_field_boxes(model, targets) -> list[tuple]:
    """(y0, y1, x0, x1) of each target's theoretical receptive field (a rectangle; y1, x1 exclusive)."""
    import perturb
    import ssd
    boxes = []
    for mask in perturb.ssd_receptive_fields(model, targets):
        x0, y0, x1, y1 = ssd.mask_box(mask)
        boxes.append((y0, y1, x0, x1))
    return boxes


def random_maps(item, seed: int, step: str) -> torch.Tensor:
    """The random row's i.i.d. uniform heatmaps [K,H,W] of the image's samples at `step` ("original" or
    "<variant>/<level>"), one seed per sample and step."""
    shape = tuple(item.x.shape[-2:])
    return torch.stack([random_heatmap(shape, zlib.crc32(f"{seed}:{s.sample_id}:{step}".encode()))
                        for s in item.samples])


def shuffled(heatmap: torch.Tensor, region, seed: int) -> torch.Tensor:
    """The map with the pixels inside `region` (y0, y1, x0, x1) permuted at random (seeded): a random
    heatmap with the method's own values, the floor of every measure for that method."""
    y0, y1, x0, x1 = region
    out = heatmap.detach().clone()
    crop = out[y0:y1, x0:x1].reshape(-1)
    order = torch.randperm(crop.numel(), generator=torch.Generator().manual_seed(seed)).to(crop.device)
    out[y0:y1, x0:x1] = crop[order].reshape(y1 - y0, x1 - x0)
    return out


def _record(sample, method: str, variant: str, level: str, region, similarity: dict, seconds: float) -> dict:
    return {"kind": KIND, "sample_id": sample.sample_id, "image_id": sample.image_id,
            "method": method_key(method, variant, level), "explainer": method, "variant": variant,
            "level": level, "class_name": sample.class_name, "score": sample.score, "prior": sample.target.prior,
            "label": sample.target.label, "region": list(region), "similarity": similarity, "seconds": seconds}


class Sanity(Experiment):
    name = "sanity"
    layout = Layout("sanity.jsonl", "sanity-heatmaps")
    unit_name = "explanations"
    legacy_kinds = (KIND,)
    description = __doc__.split("\n\n")[0]
    # 4 samples; the paper's 4 LIME samples per superpixel kept at 50 superpixels (README, Sanity checks)
    defaults = {"out": "sanity", "samples": 4, "methods": ",".join(METHODS), "lime_samples": 200,
                "shap_permutations": 2, "superpixels": 50}

    def add_arguments(self, p) -> None:
        g = p.add_argument_group("eval.sanity")
        g.add_argument("--variants", default=",".join(VARIANTS), help="cascading, independent or both")
        g.add_argument("--init-seed", type=cli.integer(0, cli.MAX_SEED - 1), default=0,
                       help="seed of the re-drawn parameters (eval.randomization)")

    def check(self, args) -> None:
        chosen = cli.names(args.variants)
        wrong = [v for v in chosen if v not in VARIANTS]
        if wrong or not chosen or len(set(chosen)) != len(chosen):
            raise ValueError(f"--variants {args.variants!r}: choose one or both of {', '.join(VARIANTS)}, each once")
        args.variant_names = [v for v in VARIANTS if v in chosen]

    def settings(self, ctx) -> dict:
        """Everything that determines a record's numbers (not --samples, --methods, --variants, --out)."""
        from pathlib import Path
        args = ctx.args
        ctx.state["levels"] = levels = ssd_levels(ctx.model)
        return {"version": 2, "data": args.data, "coco_root": str(Path(args.coco_root).resolve())
                if args.data == "coco" else None, "data_seed": args.data_seed,
                "data_digest": data_digest(args.data, args.data_seed, args.coco_root), "model": model_digest(ctx.model),
                "device": ctx.device.type, "seed": args.seed, "init_seed": args.init_seed,
                "levels": [[lv.name, list(lv.modules)] for lv in levels], "gamma": args.gamma,
                "superpixels": args.superpixels, "lime_samples": args.lime_samples,
                "shap_permutations": args.shap_permutations, "batch_size": args.batch_size,
                "score_threshold": args.score_threshold, "iou_threshold": args.iou_threshold}

    def units(self, ctx) -> list:
        args, levels = ctx.args, ctx.state["levels"]
        selected = selected_for(ctx)
        samples = [s for item in selected for s in item.samples]
        steps = [(v, name, chosen) for v in args.variant_names for name, chosen in schedule(levels, v)]
        steps.append((FLOOR, MODELS, tuple(levels)))       # two fully randomised models, one another's reference
        ctx.state.update(samples=samples, steps=steps, figure_id=samples[0].sample_id,
                         settings=explainers.settings_of(args))
        return selected

    def keys(self, ctx, item) -> list[tuple]:
        """(variant, level, method) of every record the image needs."""
        names = ctx.args.method_names
        steps = [(v, lv) for v, lv, _ in ctx.state["steps"]] + [(FLOOR, SHUFFLED)]
        return [(v, lv, m) for m in names + [RANDOM] for v, lv in steps if not (m == RANDOM and v == FLOOR)]

    def expected(self, ctx, item) -> dict:
        out, figure_id = {}, ctx.state["figure_id"]
        for v, lv, m in self.keys(ctx, item):
            for s in item.samples:
                figure = s.sample_id == figure_id and v == "cascading" and m != RANDOM
                out[KIND, s.sample_id, method_key(m, v, lv)] = (
                    (figure_id, FIGURE_ARRAYS + (f"{HEATMAP}{m}", f"{HEATMAP}{m}/{v}/{lv}")) if figure else None)
        return out

    def cost(self, ctx, item, missing) -> int:
        """Explanation calls: one per (step, method) with a missing record, plus the originals."""
        todo = {(v, lv, m) for v, lv, m in self.keys(ctx, item)
                if any((KIND, s.sample_id, method_key(m, v, lv)) in missing for s in item.samples)}
        calls = sum(1 for v, _, m in todo if v != FLOOR and m != RANDOM)
        return calls + (len(ctx.args.method_names) if todo else 0)

    def measure(self, ctx, item, missing: set) -> None:
        """Every missing record of one image. Each step's randomised copy explains all the image's targets
        with each method (one call); records are appended per method, the figure's maps saved per step.
        The original maps are computed once, on first need; with them each method's floor record
        (variant FLOOR: the original against its own shuffled copy)."""
        import perturb
        args, model, store, state = ctx.args, ctx.model, ctx.store, ctx.state
        written = store.keys()
        targets = [s.target for s in item.samples]
        regions = receptive_field_boxes(model, targets)
        segments = perturb.segments_of(item.x, model.config, n=args.superpixels)
        method_names, names = args.method_names, args.method_names + [RANDOM]
        figure = next((s for s in item.samples if s.sample_id == state["figure_id"]), None)
        step_done = lambda m, what: ctx.progress.step(0 if m == RANDOM else 1, f"image {item.image_id} {what} {m}")  # noqa: E731

        def is_missing(m, variant, level):
            return any((KIND, s.sample_id, method_key(m, variant, level)) in missing for s in item.samples)

        def record(s, m, variant, level, region, a, b, seconds):
            if (KIND, s.sample_id, method_key(m, variant, level)) not in written:
                store.append(_record(s, m, variant, level, region, similarities(a, b, region), seconds))

        def explain(m, net, step):
            if m == RANDOM:
                return random_maps(item, args.seed, step), 0.0
            return timed(lambda: explainers.explain(m, net, item.x, targets, segments, state["settings"]), ctx.device)

        originals = {}

        def original(m):
            if m not in originals:
                originals[m] = explain(m, model, "original")[0]
                step_done(m, "original")
            return originals[m]

        for m in method_names:                          # the floors: the original against its shuffled copy
            if is_missing(m, FLOOR, SHUFFLED):
                for k, (s, region) in enumerate(zip(item.samples, regions)):
                    a = original(m)[k]
                    b = shuffled(a, region, zlib.crc32(f"{args.seed}:{s.sample_id}:{m}:shuffled".encode()))
                    record(s, m, FLOOR, SHUFFLED, region, a, b, 0.0)

        steps = state["steps"]
        keys = [tuple(lv.name for lv in chosen) for _, _, chosen in steps]
        shared = {}                                     # maps of a randomised model that two steps share
        for (variant, level, chosen), key in zip(steps, keys):
            todo = [m for m in (method_names if variant == FLOOR else names) if is_missing(m, variant, level)]
            if not todo:
                continue
            net, other, figure_maps = None, None, {}
            for m in todo:
                if (key, m) in shared:
                    maps, seconds = shared.pop((key, m))
                else:
                    if net is None and m != RANDOM:
                        net = randomized(model, chosen, args.init_seed)
                    maps, seconds = explain(m, net, f"{variant}/{level}")
                    if keys.count(key) > 1 and m != RANDOM:
                        shared[(key, m)] = (maps, seconds)
                if variant == FLOOR:        # two random models: this draw against another (init_seed + 1)
                    if other is None:
                        other = randomized(model, chosen, args.init_seed + 1)
                    against = explain(m, other, f"{variant}/{level}/second")[0]
                else:
                    against = original(m)
                for k, (s, region) in enumerate(zip(item.samples, regions)):
                    record(s, m, variant, level, region, against[k], maps[k], seconds / len(targets))
                if figure is not None and variant == "cascading" and m != RANDOM:
                    k = item.samples.index(figure)
                    figure_maps[f"{HEATMAP}{m}/{variant}/{level}"] = maps[k]
                    figure_maps[f"{HEATMAP}{m}"] = original(m)[k]
                step_done(m, f"{variant} {level}")
            if figure_maps:
                k = item.samples.index(figure)
                store.save_arrays(figure.sample_id, image=item.image, box=np.array(figure.box, np.float32),
                                  region=np.array(regions[k]), **figure_maps)

    def summarise(self, ctx) -> list[str]:
        args, store, state = ctx.args, ctx.main_store, ctx.state
        samples = state["samples"]
        ids = {s.sample_id for s in samples}
        records = [r for r in store.records(KIND) if r["sample_id"] in ids]
        meta = {"settings_hash": ctx.digest, "settings": ctx.settings, "weights": args.weights,
                "data": args.data if args.data == "synthetic" else f"coco ({args.coco_root})",
                "device_name": device_name(ctx.device), "samples": len(samples), "samples_requested": args.samples,
                "sample_ids": [s.sample_id for s in samples], "images": len(ctx.units),
                "figure_sample": state["figure_id"], "methods": args.method_names, "variants": args.variant_names,
                "levels": [lv.name for lv in state["levels"]],
                "budget": {"lime_samples": args.lime_samples, "shap_permutations": args.shap_permutations,
                           "superpixels": args.superpixels}}
        written, lines = write_outputs(ctx.out, records, meta, store.load_arrays(state["figure_id"]),
                                       figures=not args.no_figures)
        for line in lines:
            ctx.say(line)
        return written


EXPERIMENT = Sanity()
main = EXPERIMENT.main

if __name__ == "__main__":
    sys.exit(main())
