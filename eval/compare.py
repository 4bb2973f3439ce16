"""`python -m eval.compare`: the comparison of LRP, DeepLIFT, LIME and SHAP (paper section 4), with
an evaluation that can tell them apart.

Selects N detections deterministically (eval.samples), explains each image's detections with every
method (timed), and measures every sample (eval.measure): MoRF/LeRF removal curves with the true
removal operator of the synthetic data (or grey/blur/inpaint on COCO), the operator fidelity, the
relevance outside the receptive field, localization against its null, and the paper's tables 1–4.
The data flow is one way: compute → store (eval.store) → tables (eval.tables) → figures, report.

Written into --out: samples.jsonl (one record per sample and method, plus "random", "mask" and a
"sample" record with the operator fidelity and the passes), heatmaps/<sample_id>.npz, tables.json,
tables.md, curves.json, variability.json (figure 7), figures/ and report.html. Tables are written
only when every record is present. A rerun with the same settings skips finished records (a run
killed mid-write loses at most the record being written); --fresh starts over. Under `torchrun
--nproc_per_node N -m eval.compare …` the images are sharded over the processes and rank 0 merges.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

import perturb
import ssd
from eval import methods as registry
from eval import store as run_store
from eval import tables
from eval.curves import LOG_GRID, UNITS, linear_grid
from eval.measure import Protocol, measure_sample
from eval.removal import OPERATORS
from eval import cli
from eval.samples import images as samples_of
from eval.samples import select
from eval.timing import device_name, format_seconds, timed
from ssd.cli import one_line_errors

VARIANTS = ("lrp-epsilon", "lrp-gamma", "lrp-zplus", "deeplift-vanilla", "deeplift-gamma", "deeplift")  # figs 4, 5
OUTPUTS = ("tables.json", "tables.md", "curves.json")


class IncompleteRun(RuntimeError):
    """Records are missing at the end of a run, so no tables may be written."""


def _names(text: str) -> list[str]:
    return [t.strip().lower() for t in text.split(",") if t.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    p = cli.Parser(prog="python -m eval.compare", description=__doc__.split("\n\n")[0])
    cli.add_data_arguments(p)
    p.add_argument("--samples", type=int, default=24, help="number of detections to explain (default 24, "
                   "about 10 minutes on 2 CPU cores with the embedded model; the paper used 100)")
    p.add_argument("--methods", default=",".join(registry.METHODS),
                   help=f"comma-separated, from {', '.join(registry.NAMES)} (default: the paper's four)")
    p.add_argument("--operators", default=None, help="removal operators of the MoRF/LeRF curves, from "
                   f"{', '.join(OPERATORS)} (default: true on the synthetic data, grey,inpaint on COCO)")
    p.add_argument("--units", default="superpixels", help="units of the MoRF/LeRF curves: superpixels, pixels "
                   "or both (default superpixels)")
    p.add_argument("--fidelity-operators", default="grey,blur,inpaint",
                   help="operators compared against true removal in the operator fidelity table (synthetic data)")
    p.add_argument("--random-orders", type=int, default=3, help="random orders averaged in the random row")
    p.add_argument("--out", default="results")
    p.add_argument("--seed", type=int, default=0, help="seed of LIME, SHAP, the random orders and tie-breaking")
    p.add_argument("--fresh", action="store_true", help="delete earlier records in --out and start over")
    p.add_argument("--no-figures", action="store_true", help="skip the figures (tables and report only)")
    p.add_argument("--fig7", choices=("quick", "paper", "none"), default="quick",
                   help="figure 7 (LIME/SHAP variability vs passes): scaled down (default), the paper's "
                        "settings (about 4·10⁵ passes: use a GPU) or not at all")
    p.add_argument("--gamma", type=float, default=0.1, help="γ of LRP and DeepLIFT (paper: 0.1)")
    p.add_argument("--superpixels", type=int, default=250, help="SLIC superpixels (paper: 250)")
    p.add_argument("--lime-samples", type=int, default=1000, help="LIME forward passes (paper: 1000)")
    p.add_argument("--shap-permutations", type=int, default=4, help="SHAP permutations (paper: 4 ≈ 1000 passes)")
    p.add_argument("--steps", type=int, default=None, help="the paper's pixel flipping (table 2) on this many "
                   "linear steps (paper: 100); default: the 14-point log grid of the removal curves")
    args = p.parse_args(argv)
    if args.operators is None:
        args.operators = "true" if args.data == "synthetic" else "grey,inpaint"
    return args


def protocol_of(args) -> Protocol:
    fidelity = tuple(_names(args.fidelity_operators)) if args.data == "synthetic" else ()
    return Protocol(operators=tuple(_names(args.operators)), units=tuple(_names(args.units)),
                    flip_fractions=linear_grid(args.steps) if args.steps else (0.0,) + LOG_GRID,
                    fidelity_operators=fidelity, random_orders=args.random_orders, seed=args.seed,
                    batch_size=args.batch_size)


def settings_of(args, model_digest: str) -> dict:
    """Everything that determines a record's numbers (not --samples, --methods, --out or --fresh)."""
    coco_root = os.path.abspath(args.coco_root) if args.data == "coco" else None
    protocol = protocol_of(args)
    return {"version": 2, "data": args.data, "coco_root": coco_root, "data_seed": args.data_seed,
            "model": model_digest, "device": torch.device(args.device).type, "seed": args.seed,
            "gamma": args.gamma, "superpixels": args.superpixels, "lime_samples": args.lime_samples,
            "shap_permutations": args.shap_permutations, "score_threshold": args.score_threshold,
            "iou_threshold": args.iou_threshold, "batch_size": args.batch_size,
            "operators": list(protocol.operators), "units": list(protocol.units),
            "flip_fractions": list(protocol.flip_fractions), "fidelity_operators": list(protocol.fidelity_operators),
            "random_orders": protocol.random_orders, "grid": list(LOG_GRID)}


def check_args(args) -> None:
    """Every argument checked before any work starts (ValueError / FileNotFoundError naming it);
    sets the device's default batch size."""
    cli.check_data_arguments(args)
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    cli.check_method_arguments(args)
    if args.random_orders < 1:
        raise ValueError(f"--random-orders must be >= 1, got {args.random_orders}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    for name in ("score_threshold", "iou_threshold"):
        if not 0 <= getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(args, name)}")
    operators, units = _names(args.operators), _names(args.units)
    bad = [o for o in operators + _names(args.fidelity_operators) if o not in OPERATORS]
    if bad or not operators:
        raise ValueError(f"unknown removal operator(s) {', '.join(bad) or '(none given)'}: choose from {', '.join(OPERATORS)}")
    if args.data == "coco" and "true" in operators:
        raise ValueError("--operators true needs the synthetic data (COCO has no image without its objects): "
                         "use grey, blur or inpaint")
    if not units or any(u not in UNITS for u in units):
        raise ValueError(f"--units must name superpixels and/or pixels, got {args.units!r}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} is a file, not a folder: give a folder name")


def sample_fields(sample) -> dict:
    """The sample's fields every record of it repeats."""
    return {"sample_id": sample.sample_id, "image_id": sample.image_id, "class_name": sample.class_name,
            "label": sample.target.label, "prior": sample.target.prior, "score": sample.score, "box": sample.box,
            "gt_box": sample.gt_box, "iou": sample.iou, "source": sample.source, "layer": sample.layer}


class Context:
    """What every image of a run shares: model, methods, protocol, store, settings."""

    def __init__(self, model, args, method_names, store, settings, device):
        self.model, self.args, self.method_names, self.store, self.device = model, args, method_names, store, device
        self.settings = {"gamma": args.gamma, "lime_samples": args.lime_samples, "seed": args.seed,
                         "shap_permutations": args.shap_permutations, "batch_size": args.batch_size}
        self.methods = {m: registry.get(m, self.settings) for m in method_names}
        self.superpixel_methods = {m for m, method in self.methods.items() if method.superpixel}
        self.protocol = protocol_of(args)
        self.settings_all = settings
        self.passes_run = self.passes_skipped = 0

    def rows(self, item) -> list[str]:
        """The rows each sample of `item` needs: the methods, the references and the sample record."""
        return self.method_names + ["random"] + (["mask"] if item.masks is not None else [])


def missing_rows(ctx: Context, item, done: set) -> dict:
    """{sample_id: [rows without a record]} of the image ("sample" for the sample record)."""
    out = {}
    for s in item.samples:
        rows = [m for m in ctx.rows(item) if ("explanation", s.sample_id, m) not in done]
        if ("sample", s.sample_id, "") not in done:
            rows.append("sample")
        if rows:
            out[s.sample_id] = rows
    return out


def process_image(ctx: Context, item, done: set, first_image: bool) -> None:
    """Explain and measure every missing (sample, row) of one image; records appended as each finishes."""
    model, args = ctx.model, ctx.args
    missing = missing_rows(ctx, item, done)
    segments = perturb.segments_of(item.x, model.config, n=args.superpixels)
    for s in item.samples:
        if s.sample_id in missing and not ctx.store.load_arrays(s.sample_id):
            ctx.store.save_arrays(s.sample_id, image=item.image, segments=segments.to(torch.int32),
                                  box=torch.tensor(s.box), gt_box=torch.tensor(s.gt_box),
                                  gt_mask=item.masks[s.gt_index] if item.masks is not None else torch.zeros(0),
                                  rf=perturb.ssd_receptive_fields(model, [s.target], item.x.shape[2:], item.x.device)[0])
    # every sample with a missing row is measured whole (so its passes and curves never depend on
    # where a run was interrupted): heatmaps of rows already recorded come from the store
    heatmaps, timing = {}, {}
    for s in item.samples:
        if s.sample_id in missing:
            stored = ctx.store.load_arrays(s.sample_id)
            heatmaps[s.sample_id] = {m: torch.as_tensor(stored[f"{run_store.HEATMAP}{m}"], device=item.x.device)
                                     for m in ctx.method_names if m not in missing[s.sample_id]
                                     and f"{run_store.HEATMAP}{m}" in stored}
    for name, method in ctx.methods.items():
        todo = [s for s in item.samples if s.sample_id in missing and name not in heatmaps[s.sample_id]]
        if not todo:
            continue
        maps, seconds = timed(lambda: method.explain(model, item.x, [s.target for s in todo], segments), ctx.device)
        for s, h in zip(todo, maps):
            heatmaps[s.sample_id][name] = h
            ctx.store.save_arrays(s.sample_id, **{f"{run_store.HEATMAP}{name}": h})
            timing[s.sample_id, name] = {"seconds": seconds / len(todo), "call_seconds": seconds,
                                         "targets_in_call": len(todo)}
    if first_image:
        figure_variants(ctx, item, segments)
    for s in item.samples:
        if s.sample_id not in missing:
            continue
        rows = missing[s.sample_id]
        bodies, sample_body = measure_sample(model, item, s, heatmaps[s.sample_id], segments,
                                             ctx.superpixel_methods, ctx.protocol)
        fields = sample_fields(s)
        for row, body in bodies.items():
            if row in rows:
                label = registry.label(row, ctx.settings)
                ctx.store.append({"kind": "explanation", **fields, "method": row, "label": label, **body,
                                  **timing.get((s.sample_id, row), {})})
        ctx.passes_run += sample_body["passes_run"]
        ctx.passes_skipped += sample_body["passes_skipped"]
        if "sample" in rows:
            ctx.store.append({"kind": "sample", **fields, "method": "", **sample_body})


def figure_variants(ctx: Context, item, segments) -> None:
    """Figures 4 and 5: the first sample explained by LRP-ε/γ/z⁺ and DeepLIFT vanilla/γ/γ+♭, stored
    as heatmaps of that sample (the figures only draw them)."""
    s = item.samples[0]
    have = ctx.store.load_arrays(s.sample_id)
    for name in VARIANTS:
        key = f"{run_store.HEATMAP}{name}"
        if key not in have:
            h = registry.get(name, ctx.settings).explain(ctx.model, item.x, [s.target], segments)[0]
            ctx.store.save_arrays(s.sample_id, **{key: h})


def warm_up(ctx: Context, item) -> None:
    """One untimed run of every backward method and one batch of forward passes, so that the timed
    explanations do not pay for first-call costs (allocator, kernels, thread pools)."""
    with torch.no_grad():
        ctx.model(item.x.expand(ctx.args.batch_size, -1, -1, -1))
    for name, method in ctx.methods.items():
        if not method.superpixel:
            timed(lambda: method.explain(ctx.model, item.x, [item.samples[0].target]), ctx.device)


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
    method_names = registry.check_methods(_names(args.methods))
    check_args(args)
    device = torch.device(args.device)
    rank, world, device = setup_distributed(device)
    out_dir = Path(args.out)
    log = sys.stderr

    model = ssd.load(args.weights, device=device)
    for p in model.parameters():
        p.requires_grad_(False)
    settings = settings_of(args, run_store.model_digest(model))
    digest = run_store.settings_hash(settings)
    images = samples_of(args.data, args.samples, args.data_seed, args.coco_root, args.max_images, log)
    main_store = run_store.Store(out_dir, digest)
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        if args.fresh:
            main_store.clear()
        main_store.merge_parts()          # parts left by an interrupted torchrun run
        for name in OUTPUTS:              # stale tables must never pass for the result of this run
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

    ctx = Context(model, args, method_names, run_store.Store(out_dir, digest, None if world == 1 else rank),
                  settings, device)
    done = main_store.done()
    mine = [item for item in selected if item.index % world == rank]
    total = sum(len(item.samples) for item in mine)
    already = sum(1 for item in mine for s in item.samples if s.sample_id not in missing_rows(ctx, item, done))
    print(f"eval.compare[{rank}/{world}]: {total} samples in {len(mine)} images on {device_name(device)}, "
          f"{already} already done, methods {','.join(method_names)}, operators {args.operators}, "
          f"settings {digest}", file=log, flush=True)
    warmed, start, finished = False, time.perf_counter(), 0
    for item in mine:
        todo = missing_rows(ctx, item, done)
        if not todo:
            continue
        if not warmed:
            warm_up(ctx, item)
            warmed = True
        process_image(ctx, item, done, first_image=item.index == 0)
        finished += len(todo)
        elapsed = time.perf_counter() - start
        left = total - already - finished
        print(f"eval.compare[{rank}/{world}]: {already + finished}/{total} samples, "
              f"{finished / elapsed * 60:.2f} samples/min, ETA {format_seconds(elapsed / finished * left)}; "
              f"removal passes run {ctx.passes_run}, skipped {ctx.passes_skipped}", file=log, flush=True)
    if finished:
        print(f"eval.compare[{rank}/{world}]: {finished} samples in {format_seconds(time.perf_counter() - start)}",
              file=log, flush=True)
    barrier(world)
    if rank == 0:
        if world > 1:
            main_store.merge_parts()
        finish(out_dir, args, method_names, samples, settings, device, main_store, selected, model)
    barrier(world)
    if world > 1:
        dist.destroy_process_group()
    return model, device, rank


def finish(out_dir: Path, args, method_names, samples, settings: dict, device, store, selected, model) -> None:
    """Tables (only when every record is there), then the variability data of figure 7."""
    done = store.done()
    ctx_rows = method_names + ["random"]
    missing = [(s.sample_id, m) for item in selected for s in item.samples
               for m in ctx_rows + (["mask"] if item.masks is not None else [])
               if ("explanation", s.sample_id, m) not in done]
    missing += [(s.sample_id, "sample") for s in samples if ("sample", s.sample_id, "") not in done]
    if missing:
        raise IncompleteRun(f"{len(missing)} records missing after the run (e.g. {missing[:3]}): no tables written")
    ids = [s.sample_id for s in samples]
    meta = {"complete": True, "samples": len(ids), "samples_requested": args.samples, "sample_ids": ids,
            "methods": method_names, "data": args.data if args.data == "synthetic" else f"coco ({args.coco_root})",
            "weights": args.weights, "device_name": device_name(device), "settings_hash": store.digest,
            "settings": settings}
    tables.write(out_dir, store.records(), ids, method_names, meta)
    print(f"eval.compare: wrote {out_dir / 'tables.md'}", file=sys.stderr, flush=True)
    if args.fig7 != "none" and any(m in ("lime", "shap") for m in method_names):
        from eval import variability
        variability.write(out_dir, model, selected, args.fig7, device)


def write_extras(out_dir: Path, figures_too: bool = True) -> None:
    """Figures and the HTML report (eval.figures / eval.report), both drawn from the stored results."""
    if figures_too:
        from eval import figures
        skipped = figures.write_figures(out_dir)
        if skipped:
            print(f"eval.compare: figures skipped: {', '.join(skipped)}", file=sys.stderr)
    else:
        print("eval.compare: figures skipped (--no-figures)", file=sys.stderr)
    from eval import report
    print(f"eval.compare: wrote {report.write_report(out_dir)}", file=sys.stderr)


@one_line_errors("eval.compare", interrupted="the finished samples are kept in --out: rerun the same command to resume")
def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        _, _, rank = run(args)
    except (ValueError, FileNotFoundError, IncompleteRun) as e:
        print(f"eval.compare: error: {e}", file=sys.stderr, flush=True)
        return 2
    if rank == 0:     # outside the handler above: an error in the figures keeps its traceback
        write_extras(Path(args.out), figures_too=not args.no_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
