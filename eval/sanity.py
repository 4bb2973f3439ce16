"""`python -m eval.sanity`: model-parameter randomisation sanity checks (Adebayo et al. 2018) of every
method on our SSD. An explanation that does not change when the model's parameters are redrawn
cannot explain the model.

For each selected detection (eval.samples, as in eval.compare) and method, the heatmap of the
original model is compared with the heatmap of randomised copies (eval.randomization), for the
same target: the original detection's (prior, label). Two variants, eight levels from the output
down (heads, extras, fc6–fc7, conv5, conv4 with the ℓ2-Norm, conv3, conv2, conv1):

    cascading     step k: levels 1..k re-drawn (at conv1 every parameter is random)
    independent   step k: level k alone re-drawn

Similarity (eval.similarity, higher = more similar, 1 = unchanged): Spearman ρ of |R| and of R, SSIM
of the maps normalised by their max |R|, top-10 % intersection; measured inside the target's
receptive field, a rectangle outside of which every back-propagated map is 0 by the architecture,
whatever the parameters. Each method's floor: its original map against the same map with the
pixels shuffled inside the receptive field (a random heatmap with the method's own values); the
"random" row, an i.i.d. uniform heatmap drawn afresh for the original and every level, is the common
reference. A second reference, "two random models": the maps of two fully randomised copies
(init seeds s and s + 1) against each other, the similarity that the architecture and the input
alone give. The verdict rule (passes / partly / fails) is in eval.sanity_report.

Written into --out:
    samples.jsonl         one record per (sample, method, variant, level) and per (sample, method)
                          reference, appended as each finishes (kind "sanity", method key
                          "<method>/<variant>/<level>", references "<method>/floor/shuffled" and
                          "<method>/floor/random-models"; eval.store)
    heatmaps/<id>.npz     the figure's sample: image, box, receptive field, original and cascading maps
    sanity.json / .md     per method, variant, level and measure: mean, 95 % interval (bootstrap over
                          images), n; the verdicts
    figures/sanity_cascading.png, figures/sanity_curves.png (matplotlib, extra `plots`), sanity.html

A rerun with the same settings skips finished records; --fresh starts over. The default budget is
reduced so that `python -m eval.sanity --out sanity` takes about 10 minutes on 2 idle CPU cores:
4 samples, LIME 200 samples, SHAP 2 permutations, 50 superpixels (README, "Sanity checks"); the
paper's: --lime-samples 1000 --shap-permutations 4 --superpixels 250.
"""
import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch

import ssd
from eval import cli
from eval import methods as explainers
from eval import store as stores
from eval.metrics import random_heatmap
from eval.randomization import VARIANTS, schedule, randomized, ssd_levels
from eval.samples import images, select
from eval.sanity_report import (FLOOR, MODELS, OUTPUTS, RANDOM, SHUFFLED, report_section,  # noqa: F401
                                write_outputs)                       # report_section: public, for report.html
from eval.similarity import similarities
from eval.timing import device_name, format_seconds, timed
from ssd.cli import one_line_errors

KIND = "sanity"
METHODS = ("lrp-epsilon", "lrp-gamma", "lrp-zplus", "deeplift-vanilla", "deeplift", "lime", "shap", "gradient")
DEFAULT_SAMPLES = 4
DEFAULT_LIME_SAMPLES = 200          # the paper's 4 samples per superpixel would be 200 here as well
DEFAULT_SHAP_PERMUTATIONS = 2
DEFAULT_SUPERPIXELS = 50


class IncompleteRun(RuntimeError):
    """Records are missing at the end of a run, so no summary may be written."""


def parse_args(argv=None) -> argparse.Namespace:
    p = cli.Parser(prog="python -m eval.sanity", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="sanity")
    cli.add_data_arguments(p)
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help=f"detections (default {DEFAULT_SAMPLES})")
    p.add_argument("--methods", default=",".join(METHODS), help="methods (the i.i.d. random heatmap is always added)")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--lime-samples", type=int, default=DEFAULT_LIME_SAMPLES,
                   help=f"LIME forward passes (default {DEFAULT_LIME_SAMPLES}; paper 1000)")
    p.add_argument("--shap-permutations", type=int, default=DEFAULT_SHAP_PERMUTATIONS,
                   help=f"SHAP permutations (default {DEFAULT_SHAP_PERMUTATIONS}; paper 4)")
    p.add_argument("--superpixels", type=int, default=DEFAULT_SUPERPIXELS,
                   help=f"SLIC superpixels of LIME and SHAP (default {DEFAULT_SUPERPIXELS}; paper 250)")
    p.add_argument("--gamma", type=float, default=0.1, help="γ of LRP and DeepLIFT (paper: 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of LIME, SHAP and the random heatmaps")
    p.add_argument("--init-seed", type=int, default=0, help="seed of the re-drawn parameters (eval.randomization)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of torch (default: torch's; 1 is faster on a machine other jobs keep busy)")
    p.add_argument("--fresh", action="store_true", help="delete earlier records in --out and start over")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    args = p.parse_args(argv)
    try:
        args.method_names = explainers.check_methods(args.methods.split(","))
        args.variant_names = _check_variants(args.variants)
        for name in ("samples", "threads"):
            if getattr(args, name) is not None and getattr(args, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        cli.check_method_arguments(args)
        cli.check_data_arguments(args)
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))
    return args


def _check_variants(text: str) -> list[str]:
    chosen = [v.strip() for v in text.split(",") if v.strip()]
    wrong = [v for v in chosen if v not in VARIANTS]
    if wrong or not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"--variants {text!r}: choose one or both of {', '.join(VARIANTS)}, each once")
    return [v for v in VARIANTS if v in chosen]


def settings_of(args, model, levels) -> dict:
    """Everything that determines a record's numbers (not --samples, --methods, --variants, --out)."""
    return {"version": 1, "data": args.data, "coco_root": str(Path(args.coco_root).resolve()) if args.data == "coco"
            else None, "data_seed": args.data_seed, "model": stores.model_digest(model),
            "device": torch.device(args.device).type, "seed": args.seed, "init_seed": args.init_seed,
            "levels": [[lv.name, list(lv.modules)] for lv in levels], "gamma": args.gamma,
            "superpixels": args.superpixels, "lime_samples": args.lime_samples,
            "shap_permutations": args.shap_permutations, "batch_size": args.batch_size,
            "score_threshold": args.score_threshold, "iou_threshold": args.iou_threshold}


def method_key(method: str, variant: str, level: str) -> str:
    return f"{method}/{variant}/{level}"


def receptive_field_boxes(model, targets) -> list[tuple]:
    """(y0, y1, x0, x1) of each target's theoretical receptive field (a rectangle; y1, x1 exclusive)."""
    import perturb
    boxes = []
    for mask in perturb.ssd_receptive_fields(model, targets).cpu():
        rows, cols = torch.nonzero(mask.any(1))[:, 0], torch.nonzero(mask.any(0))[:, 0]
        boxes.append((int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1))
    return boxes


def random_maps(item, seed: int, step: str) -> torch.Tensor:
    """The random row's i.i.d. uniform heatmaps [K,H,W] of the image's samples at `step` ("original" or
    "<variant>/<level>"), one seed per sample and step."""
    shape = tuple(item.x.shape[-2:])
    return torch.stack([random_heatmap(shape, zlib.crc32(f"{seed}:{s.sample_id}:{step}".encode()))
                        for s in item.samples])


class Progress:
    """Explanations done / total, rate and ETA on stderr."""

    def __init__(self, total: int, log=sys.stderr):
        self.total, self.done, self.start, self.log = total, 0, time.perf_counter(), log

    def step(self, n: int, what: str) -> None:
        self.done += n
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        print(f"eval.sanity: {what}: {self.done}/{self.total} explanations, {format_seconds(elapsed)} elapsed, "
              f"ETA {format_seconds(eta)}", file=self.log, flush=True)


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


def process_image(model, item, method_names, steps, store, settings, args, figure_id, progress) -> None:
    """Every missing record of one image. Each step's randomised copy explains all the image's targets
    with each method (one call); records are appended per method, the figure's maps saved per step.
    The original maps are computed once, on first need; with them each method's floor record
    (variant FLOOR: the original against its own shuffled copy)."""
    import perturb
    done = store.done()
    targets = [s.target for s in item.samples]
    regions = receptive_field_boxes(model, targets)
    segments = perturb.segments_of(item.x, model.config, n=args.superpixels)
    names = method_names + [RANDOM]
    figure = next((s for s in item.samples if s.sample_id == figure_id), None)
    figure_arrays = set(store.load_arrays(figure_id)) if figure else set()

    def missing(m, variant, level):
        if any((KIND, s.sample_id, method_key(m, variant, level)) not in done for s in item.samples):
            return True
        return (figure is not None and variant == "cascading" and m != RANDOM
                and f"{stores.HEATMAP}{m}/{variant}/{level}" not in figure_arrays)

    def explain(m, net, step):
        if m == RANDOM:
            return random_maps(item, args.seed, step), 0.0
        return timed(lambda: explainers.explain(m, net, item.x, targets, segments, settings), item.x.device)

    originals = {}

    def original(m):
        if m not in originals:
            originals[m] = explain(m, model, "original")[0]
            progress.step(0 if m == RANDOM else 1, f"image {item.image_id} original {m}")
        return originals[m]

    for m in method_names:                          # the floors: the original against its shuffled copy
        if missing(m, FLOOR, SHUFFLED):
            for s, region in zip(item.samples, regions):
                if (KIND, s.sample_id, method_key(m, FLOOR, SHUFFLED)) not in done:
                    a = original(m)[item.samples.index(s)]
                    b = shuffled(a, region, zlib.crc32(f"{args.seed}:{s.sample_id}:{m}:shuffled".encode()))
                    store.append(_record(s, m, FLOOR, SHUFFLED, region, similarities(a, b, region), 0.0))

    keys = [tuple(lv.name for lv in chosen) for _, _, chosen in steps]
    shared = {}                                     # maps of a randomised model that two steps share
    for (variant, level, chosen), key in zip(steps, keys):
        todo = [m for m in (method_names if variant == FLOOR else names) if missing(m, variant, level)]
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
                if (KIND, s.sample_id, method_key(m, variant, level)) not in done:
                    store.append(_record(s, m, variant, level, region,
                                         similarities(against[k], maps[k], region), seconds / len(targets)))
            if figure is not None and variant == "cascading" and m != RANDOM:
                k = item.samples.index(figure)
                figure_maps[f"{stores.HEATMAP}{m}/{variant}/{level}"] = maps[k]
                figure_maps[f"{stores.HEATMAP}{m}"] = original(m)[k]
            progress.step(0 if m == RANDOM else 1, f"image {item.image_id} {variant} {level} {m}")
        if figure_maps:
            k = item.samples.index(figure)
            store.save_arrays(figure_id, image=item.image, box=np.array(figure.box, np.float32),
                              region=np.array(regions[k]), **figure_maps)
            figure_arrays.update(figure_maps)


def run(args) -> Path:
    """The whole sanity check; returns the output folder."""
    device = torch.device(args.device)
    out_dir = Path(args.out)
    log = sys.stderr
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ssd.load(args.weights, device=device)
    for p in model.parameters():
        p.requires_grad_(False)
    levels = ssd_levels(model)
    settings_all = settings_of(args, model, levels)
    digest = stores.settings_hash(settings_all)
    store = stores.Store(out_dir, digest)
    if args.fresh:
        store.clear()
    for name in OUTPUTS:       # stale outputs must never pass for the result of this run
        (out_dir / name).unlink(missing_ok=True)

    selected, visited = select(model, images(args.data, args.samples, args.data_seed, args.coco_root,
                                             args.max_images, log),
                               args.samples, args.score_threshold, args.iou_threshold, device)
    samples = [s for item in selected for s in item.samples]
    if not samples:
        raise ValueError(f"no detection with score >= {args.score_threshold} matched a ground-truth object "
                         f"of its class at IoU >= {args.iou_threshold} in {visited} image(s) of the "
                         f"{args.data} data: nothing to explain (check --weights, --data and the thresholds)")
    if len(samples) < args.samples:
        print(f"eval.sanity: only {len(samples)} of {args.samples} samples found in {visited} images",
              file=log, flush=True)
    steps = [(v, name, chosen) for v in args.variant_names for name, chosen in schedule(levels, v)]
    steps.append((FLOOR, MODELS, tuple(levels)))           # two fully randomised models, one another's reference
    settings = {"gamma": args.gamma, "lime_samples": args.lime_samples, "seed": args.seed,
                "shap_permutations": args.shap_permutations, "batch_size": args.batch_size}
    figure_id = samples[0].sample_id
    done = store.done()

    def wanted(item, names):
        """(sample id, method key) of every record the image needs, per (variant, level, method)."""
        return {(v, level, m): [(s.sample_id, method_key(m, v, level)) for s in item.samples]
                for m in names for v, level in [(v, lv) for v, lv, _ in steps] + [(FLOOR, SHUFFLED)]
                if not (m == RANDOM and v == FLOOR)}

    calls = sum(1 for item in selected for (v, _, m), keys in wanted(item, args.method_names).items()
                if v != FLOOR and any((KIND, *k) not in done for k in keys))
    open_images = sum(1 for item in selected if any((KIND, *k) not in done
                                                    for keys in wanted(item, args.method_names + [RANDOM]).values()
                                                    for k in keys))
    print(f"eval.sanity: {len(samples)} samples in {len(selected)} images on {device_name(device)}, "
          f"{len(args.method_names)} methods + random, {len(steps)} randomisation steps "
          f"({', '.join(args.variant_names)}), {calls} explanation calls to do, settings {digest}",
          file=log, flush=True)
    progress = Progress(calls + open_images * len(args.method_names), log)
    for item in selected:
        process_image(model, item, args.method_names, steps, store, settings, args, figure_id, progress)

    ids = {s.sample_id for s in samples}
    records = [r for r in store.records(KIND) if r["sample_id"] in ids]
    have = {(r["sample_id"], r["method"]) for r in records}
    lost = [k for item in selected for keys in wanted(item, args.method_names + [RANDOM]).values()
            for k in keys if k not in have]
    if lost:
        raise IncompleteRun(f"{len(lost)} records missing after the run (e.g. {lost[:3]}): no summary written")
    meta = {"settings_hash": digest, "settings": settings_all, "weights": args.weights,
            "data": args.data if args.data == "synthetic" else f"coco ({args.coco_root})",
            "device_name": device_name(device), "samples": len(samples), "samples_requested": args.samples,
            "sample_ids": [s.sample_id for s in samples], "images": len(selected), "figure_sample": figure_id,
            "methods": args.method_names, "variants": args.variant_names, "levels": [lv.name for lv in levels],
            "budget": {"lime_samples": args.lime_samples, "shap_permutations": args.shap_permutations,
                       "superpixels": args.superpixels}}
    for line in write_outputs(out_dir, records, meta, store, figures=not args.no_figures):
        print(f"eval.sanity: {line}", file=log, flush=True)
    return out_dir


@one_line_errors("eval.sanity", interrupted="the finished records are kept in --out: rerun the same command to resume")
def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (ValueError, FileNotFoundError, IncompleteRun) as e:
        print(f"eval.sanity: error: {e}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
