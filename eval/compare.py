"""`python -m eval.compare`: the paper's comparison (section 4, tables 1–4, figures 10–11).

Selects N detections deterministically (eval.samples), explains each with every method, measures
entropy, pixel flipping and localization, pixel-wise and grouped into the image's SLIC superpixels,
and the run time per explanation. Writes into --out:

- samples.jsonl: one record per sample and method (and "random"), appended as each finishes;
- heatmaps/<sample_id>.npz: image, segments, box, gt_box, gt_mask and one heatmap per method;
- tables.json, tables.md, curves.json: written only when every record is present;
- figures/ and report.html through eval.figures and eval.report.

A rerun with the same settings skips finished records; --fresh starts over. Under
`torchrun --nproc_per_node N -m eval.compare …` the images are sharded over the processes and rank 0
merges the records; the tables equal those of one process.
"""
import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

import ssd
from eval import methods as explainers
from eval import records, tables
from eval.measure import RANDOM_SEEDS, measure, measure_random
from eval.samples import SYNTHETIC_SEED, coco_images, select, synthetic_images
from eval.timing import PassCounter, device_name, format_seconds, timed
from perturb import default_batch_size

OUTPUTS = ("tables.json", "tables.md", "curves.json")


class IncompleteRun(RuntimeError):
    """Records are missing at the end of a run, so no tables may be written."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m eval.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", choices=("synthetic", "coco"), default="synthetic")
    p.add_argument("--coco-root", help="COCO root with val2017/*.jpg and annotations/instances_val2017.json")
    p.add_argument("--weights", default="shapes", help='"shapes" (the embedded model) or a checkpoint path')
    p.add_argument("--samples", type=int, default=4, help="number of detections to explain (default 4: with "
                   "the embedded model and the paper's settings about 10,100 forward passes, about 7 minutes "
                   "on 2 CPU cores; the paper used 100)")
    p.add_argument("--methods", default=",".join(explainers.METHODS))
    p.add_argument("--out", default="results")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0, help="seed of LIME, SHAP and the random flipping orders")
    p.add_argument("--fresh", action="store_true", help="delete earlier records in --out and start over")
    p.add_argument("--no-figures", action="store_true", help="skip the figures (tables and report only)")
    p.add_argument("--gamma", type=float, default=0.1, help="γ of LRP and DeepLIFT (paper: 0.1)")
    p.add_argument("--superpixels", type=int, default=250, help="SLIC superpixels (paper: 250)")
    p.add_argument("--lime-samples", type=int, default=1000, help="LIME forward passes (paper: 1000)")
    p.add_argument("--shap-permutations", type=int, default=4, help="SHAP permutations (paper: 4 ≈ 1000 passes)")
    p.add_argument("--steps", type=int, default=100, help="pixel-flipping steps (paper: 100 × 1 %%)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="inputs per forward pass when perturbing (default: 2 on the CPU, 32 on CUDA)")
    p.add_argument("--score-threshold", type=float, default=0.5)
    p.add_argument("--iou-threshold", type=float, default=0.5)
    p.add_argument("--data-seed", type=int, default=SYNTHETIC_SEED, help="seed of the synthetic images")
    p.add_argument("--max-images", type=int, default=None,
                   help="images to search for matching detections (synthetic default: 50 + 20 × samples)")
    args = p.parse_args(argv)
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        p.error(f"--device {args.device!r}: {e}")
    if args.batch_size is None:
        args.batch_size = default_batch_size(device)
    return args


def settings_of(args, model_digest: str) -> dict:
    """Everything that determines a record's numbers (not --samples, --methods, --out or --fresh)."""
    coco_root = os.path.abspath(args.coco_root) if args.data == "coco" else None
    return {"version": 1, "data": args.data, "coco_root": coco_root, "data_seed": args.data_seed,
            "model": model_digest, "device": torch.device(args.device).type, "seed": args.seed,
            "gamma": args.gamma, "superpixels": args.superpixels, "lime_samples": args.lime_samples,
            "shap_permutations": args.shap_permutations, "steps": args.steps, "random_seeds": RANDOM_SEEDS,
            "score_threshold": args.score_threshold, "iou_threshold": args.iou_threshold,
            "batch_size": args.batch_size}


def check_args(args) -> None:
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    for name in ("superpixels", "lime_samples", "shap_permutations", "steps", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.data == "coco" and not args.coco_root:
        raise ValueError("--data coco needs --coco-root DIR (with val2017/ and annotations/instances_val2017.json)")
    if args.weights != "shapes" and not os.path.isfile(args.weights):
        raise FileNotFoundError(f"weights file not found: {args.weights}")


def load_images(args, log=sys.stderr):
    """The image iterator of the chosen data set (errors for a missing root or annotation file)."""
    if args.data == "synthetic":
        return synthetic_images(args.data_seed, args.max_images or 50 + 20 * args.samples)
    from ssd.data import CocoDataset
    dataset = CocoDataset(args.coco_root)
    return coco_images(dataset, log) if args.max_images is None else \
        (item for item, _ in zip(coco_images(dataset, log), range(args.max_images)))


def save_heatmap(out_dir: Path, item, sample, segments, method: str, heatmap, digest: str) -> None:
    """Add one method's heatmap to heatmaps/<sample_id>.npz (written atomically; the heatmaps of
    other settings in an existing file are dropped, never mixed with these)."""
    path = out_dir / "heatmaps" / f"{sample.sample_id}.npz"
    content = dict(np.load(path)) if path.is_file() else {}
    if str(content.get("settings_hash", "")) != digest:
        content = {"image": item.image, "segments": segments.cpu().numpy().astype(np.int32),
                   "box": np.array(sample.box, np.float32), "gt_box": np.array(sample.gt_box, np.float32),
                   "gt_mask": item.masks[sample.gt_index].cpu().numpy(), "settings_hash": np.array(digest)}
    content[method] = heatmap.detach().cpu().numpy().astype(np.float32)
    tmp = path.with_name(path.name + ".tmp")      # not *.npz: readers never see a half-written file
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **content)
    os.replace(tmp, path)


def sample_meta(sample, digest: str, method: str) -> dict:
    return {"settings_hash": digest, "sample_id": sample.sample_id, "method": method, "image_id": sample.image_id,
            "class_name": sample.class_name, "label": sample.target.label, "prior": sample.target.prior,
            "score": sample.score, "box": sample.box, "gt_box": sample.gt_box, "iou": sample.iou}


def warm_up(model, methods, item, segments, settings, device) -> None:
    """One untimed run of the backward methods and one batch of forward passes, so that the timed
    explanations do not pay for first-call costs (allocator, kernels, thread pools)."""
    with torch.no_grad():
        model(item.x.expand(settings["batch_size"], -1, -1, -1))
    for m in methods:
        if m not in explainers.SUPERPIXEL_METHODS:
            timed(lambda: explainers.explain(m, model, item.x, [item.samples[0].target], segments, settings), device)


def process_image(model, item, method_names, done, out_dir, record_path, digest, settings, args, device) -> None:
    """Explain and measure every missing (sample, method) of one image; records appended as each finishes."""
    import perturb

    segments = perturb.segments_of(item.x, model.config, n=args.superpixels)
    for method in method_names:
        todo = [s for s in item.samples if (s.sample_id, method) not in done]
        if not todo:
            continue
        heatmaps, seconds = timed(lambda: explainers.explain(method, model, item.x, [s.target for s in todo],
                                                              segments, settings), device)
        for sample, heatmap in zip(todo, heatmaps):
            result = measure(model, item, sample, heatmap, segments, method, args.steps, args.batch_size)
            save_heatmap(out_dir, item, sample, segments, method, heatmap, digest)
            records.append(record_path, {**sample_meta(sample, digest, method), **result,
                                         "seconds": seconds / len(todo), "call_seconds": seconds,
                                         "targets_in_call": len(todo)})
    for sample in item.samples:
        if (sample.sample_id, "random") not in done:
            result = measure_random(model, item, sample, segments, args.seed, args.steps, args.batch_size)
            records.append(record_path, {**sample_meta(sample, digest, "random"), **result})


def setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device) under torchrun (gloo on CPU, NCCL on CUDA); (0, 1, device) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def run(args):
    """The whole comparison; returns (model, device, rank) for the figures and the report."""
    method_names = explainers.check_methods(args.methods.split(","))
    check_args(args)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda given but CUDA is not available")
    rank, world, device = setup_distributed(device)
    out_dir = Path(args.out)
    log = sys.stderr

    model = ssd.load(args.weights, device=device)
    for p in model.parameters():
        p.requires_grad_(False)
    settings_all = settings_of(args, records.model_digest(model))
    digest = records.settings_hash(settings_all)
    images = load_images(args, log)

    if rank == 0:
        (out_dir / "heatmaps").mkdir(parents=True, exist_ok=True)
        if args.fresh:
            for path in [out_dir / records.RECORDS, *out_dir.glob("samples.rank*.jsonl"),
                         *(out_dir / "heatmaps").glob("*.npz")]:
                path.unlink(missing_ok=True)
        records.merge_parts(out_dir)     # parts left by an interrupted torchrun run
        for name in OUTPUTS:     # stale tables must never pass for the result of this run
            (out_dir / name).unlink(missing_ok=True)
    barrier(world)

    selected, visited = select(model, images, args.samples, args.score_threshold, args.iou_threshold, device)
    samples = [s for item in selected for s in item.samples]
    if not samples:
        raise ValueError(f"no detection with score >= {args.score_threshold} matched a ground-truth object "
                         f"of its class at IoU >= {args.iou_threshold} in {visited} image(s) of the "
                         f"{args.data} data: nothing to explain (check --weights, --data and the thresholds)")
    if len(samples) < args.samples and rank == 0:
        print(f"eval.compare: only {len(samples)} of {args.samples} samples found in {visited} images",
              file=log, flush=True)

    done = records.load(out_dir, digest)
    record_path = out_dir / records.RECORDS if world == 1 else records.part_path(out_dir, rank)
    settings = {"gamma": args.gamma, "lime_samples": args.lime_samples, "seed": args.seed,
                "shap_permutations": args.shap_permutations, "batch_size": args.batch_size}
    mine = [item for item in selected if item.index % world == rank]
    total = sum(len(item.samples) for item in mine)
    already = sum(1 for item in mine for s in item.samples
                  if all((s.sample_id, m) in done for m in method_names + ["random"]))
    print(f"eval.compare[{rank}/{world}]: {total} samples on {device_name(device)}, {already} already done, "
          f"methods {','.join(method_names)}, settings {digest}", file=log, flush=True)
    warmed, start, finished, passes = False, time.perf_counter(), 0, PassCounter(model)
    for item in mine:
        missing = [s for s in item.samples
                   if not all((s.sample_id, m) in done for m in method_names + ["random"])]
        if missing and not warmed:
            import perturb
            warm_up(model, method_names, item, perturb.segments_of(item.x, model.config, n=args.superpixels),
                    settings, device)
            warmed = True
        if missing:
            process_image(model, item, method_names, done, out_dir, record_path, digest, settings, args, device)
            finished += len(missing)
            elapsed = time.perf_counter() - start
            left = total - already - finished
            print(f"eval.compare[{rank}/{world}]: {already + finished}/{total} samples, "
                  f"{finished / elapsed * 60:.2f} samples/min, ETA {format_seconds(elapsed / finished * left)}",
                  file=log, flush=True)
    passes.remove()
    if finished:
        print(f"eval.compare[{rank}/{world}]: {finished} samples in {format_seconds(time.perf_counter() - start)}, "
              f"{passes.images} forward passes of the model", file=log, flush=True)
    barrier(world)
    if rank == 0:
        if world > 1:
            records.merge_parts(out_dir)
        finish(out_dir, args, method_names, samples, settings_all, device, model)
    barrier(world)
    if world > 1:
        dist.destroy_process_group()
    return model, device, rank


def finish(out_dir: Path, args, method_names, samples, settings: dict, device, model) -> None:
    """Tables (only when every record is there), then figures and report."""
    digest = records.settings_hash(settings)
    found = records.load(out_dir, digest)
    ids = [s.sample_id for s in samples]
    missing = [(i, m) for i in ids for m in method_names + ["random"] if (i, m) not in found]
    if missing:
        raise IncompleteRun(f"{len(missing)} records missing after the run (e.g. {missing[:3]}): no tables written")
    position = {i: k for k, i in enumerate(ids)}
    chosen = sorted((r for (i, m), r in found.items() if i in position and m in method_names + ["random"]),
                    key=lambda r: (position[r["sample_id"]], r["method"]))
    meta = {"complete": True, "samples": len(ids), "samples_requested": args.samples, "sample_ids": ids,
            "methods": method_names, "data": args.data if args.data == "synthetic" else f"coco ({args.coco_root})",
            "weights": args.weights, "device_name": device_name(device), "settings_hash": digest,
            "settings": settings}
    tables.write(out_dir, tables.build(chosen, method_names, ids), tables.curves(chosen, method_names, ids), meta)
    print(f"eval.compare: wrote {out_dir / 'tables.md'}", file=sys.stderr, flush=True)


def optional_module(name: str):
    """eval.<name> if it exists, else None (a missing dependency inside it still raises)."""
    try:
        return importlib.import_module(f"eval.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"eval.{name}":
            raise
        return None


def write_extras(out_dir: Path, model, device, figures_too: bool = True) -> None:
    """Figures and the HTML report (eval.figures / eval.report), skipped only if not installed yet."""
    figures = optional_module("figures") if figures_too else None
    if figures is None:
        print("eval.compare: figures skipped (" + ("eval.figures not available" if figures_too else "--no-figures")
              + ")", file=sys.stderr)
    else:
        skipped = figures.write_figures(out_dir, model, device)
        if skipped:
            print(f"eval.compare: figures skipped: {', '.join(skipped)}", file=sys.stderr)
    report = optional_module("report")
    if report is None:
        print("eval.compare: eval.report not available, report skipped", file=sys.stderr)
    else:
        print(f"eval.compare: wrote {report.write_report(out_dir)}", file=sys.stderr)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        model, device, rank = run(args)
    except (ValueError, FileNotFoundError, IncompleteRun) as e:
        print(f"eval.compare: error: {e}", file=sys.stderr, flush=True)
        return 2
    if rank == 0:     # outside the handler above: an error in the figures keeps its traceback
        write_extras(Path(args.out), model, device, figures_too=not args.no_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
