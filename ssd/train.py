"""Train an SSD on the synthetic shapes (or any COCO-format data set): `python -m ssd.train`.

    python -m ssd.train --run RUN_DIR [--data synthetic --seed 1] [--export ssd/shapes.pt]
    python -m ssd.train --run RUN_DIR --data COCO_ROOT [--generate N]   # pre-generated / other data
    python -m ssd.train --run RUN_DIR --export-only ssd/shapes.pt
    python -m ssd.train --run RUN_DIR --variant hans --seed 2   # the Clever-Hans model (README)
    python -m ssd.train --run RUN_DIR --init shapes --lr 1e-4 [--variant hans]   # fine-tune a model

Loss: `ssd.loss` (matching at IoU 0.5, smooth-L1, CE with 3:1 hard negatives). The body is trained
with BatchNorm after every convolution (`ssd.bn_fold`), folded into the convolutions on export.
Optimiser AdamW; learning rate: warm-up, constant, cosine decay over the last quarter.
RUN_DIR receives train.log, last.pt (full training state) and model.pt (the folded exponential
moving average of the weights, in our checkpoint layout, loadable by `ssd.load`; `ssd.train_state`);
rerunning the same command resumes from last.pt. Sample k of the run (image and augmentation) is
determined by (seed, k), so a resumed run sees the same data as an uninterrupted one
(`ssd.train_data`). A run from scratch draws its initial weights under torch.manual_seed(seed), so
`--seed` fixes them as well as the data; the seeding is forked off (`torch.random.fork_rng`), so
whatever else draws from torch's generator draws as before.

Fine-tuning (`--init MODEL`) starts from a shipped model, which is BatchNorm-folded, and trains that
plain `ssd.SSD` as it is, without BatchNorm. This continues from exactly the function that was
shipped; re-inserting BatchNorm would change it, since in training mode BatchNorm normalises by the
statistics of each batch, not by the running ones that were folded in. With a small learning rate
the folded network stays as well conditioned as it was, and Adam's per-parameter step size makes the
scale of the folded weights matter little. The export is the averaged plain model itself.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from .bn_fold import BatchNormSSD
from .cli import check_device, check_folder, check_output_file, integer, one_line_errors, real
from .config import SHAPES_SSD512, SSDConfig
from .data.coco import CocoDataset
from .data.synthetic import generate
from .data.tags import VARIANTS
from .load import load as load_model
from .loss import multibox_loss
from .model import SSD
from .train_data import CocoImages, SyntheticImages, TrainSet, batches
from .train_state import EMA, averaged, export, init_heads, read_last, training_state, write


def learning_rate(it: int, base: float, warmup: int, total: int, decay: float = 0.25) -> float:
    """Warm-up, stable, decay: linear warm-up over `warmup` iterations, `base` until the last
    `decay`·total iterations, then cosine decay to base/100 at `total`. Raising `total` on a resumed
    run before the decay has begun changes nothing already done."""
    if it < warmup:
        return base * (it + 1) / warmup
    start = int(total * (1 - decay))
    if it < start:
        return base
    t = min(1.0, (it - start) / max(1, total - start))
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def scaled_config(config: SSDConfig, size: int) -> SSDConfig:
    """`config` for another input size: feature maps measured on the network, steps = size / map,
    prior sizes scaled by size / config.size (SSD's priors are relative to the image)."""
    if size == config.size:
        return config
    with torch.no_grad():
        maps = tuple(s.shape[-1] for s in SSD(config.replace(width=1 / 64)).sources(torch.zeros(1, 3, size, size)))
    r = size / config.size
    return config.replace(size=size, feature_maps=maps, steps=tuple(size / m for m in maps),
                          min_sizes=tuple(v * r for v in config.min_sizes),
                          max_sizes=tuple(v * r for v in config.max_sizes))


def smallest_size(config: SSDConfig) -> int:
    """The smallest input size the network of `config` can compute (a smaller input makes some
    kernel larger than its input). Bisection on shapes alone: the meta device computes no values."""
    with torch.device("meta"):
        net = SSD(config.replace(width=1 / 64))

    def fits(size: int) -> bool:
        try:
            net.sources(torch.zeros(1, 3, size, size, device="meta"))
            return True
        except RuntimeError:
            return False

    lo, hi = 1, config.size
    while not fits(hi):
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def _log(run: str, text: str) -> None:
    print(text, flush=True)
    with open(os.path.join(run, "train.log"), "a") as f:
        f.write(text + "\n")


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m ssd.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run directory (log, checkpoints); reused to resume")
    p.add_argument("--data", default="synthetic",
                   help="'synthetic' (fresh images generated on the fly from --seed) or a COCO-format "
                        "root with annotations/instances_<split>.json")
    p.add_argument("--split", default="train2017")
    p.add_argument("--variant", default="plain", choices=sorted(VARIANTS),
                   help="synthetic data variant (ssd.data.tags): 'hans' tags every object of the cue class")
    p.add_argument("--init", metavar="MODEL",
                   help="fine-tune this model ('shapes', 'shapes-hans' or a checkpoint path for ssd.load) "
                        "as a plain SSD without BatchNorm; --width and --size are then the model's")
    p.add_argument("--reset-class-heads", action="store_true",
                   help="with --init: start the class heads afresh (small random weights), keep body and box heads")
    p.add_argument("--generate", type=integer(0), default=0, help="first write this many synthetic images to --data")
    p.add_argument("--seed", type=integer(0), default=1,
                   help="data seed (generation), sampling seed and, for a run from scratch, the seed of the "
                        "initial weights")
    p.add_argument("--width", type=real(lambda v: v > 0, "> 0"), default=SHAPES_SSD512.width)
    p.add_argument("--size", type=integer(1), default=SHAPES_SSD512.size)
    p.add_argument("--iterations", type=integer(1), default=4000)
    p.add_argument("--batch-size", type=integer(2), default=8,
                   help="≥ 2: BatchNorm on the 1×1 source needs two samples")
    p.add_argument("--lr", type=real(lambda v: v > 0, "> 0"), default=2e-3)
    p.add_argument("--weight-decay", type=real(lambda v: v >= 0, "≥ 0"), default=1e-4)
    p.add_argument("--warmup", type=integer(0), default=300)
    p.add_argument("--decay", type=real(lambda v: 0 <= v <= 1, "in [0, 1]"), default=0.25,
                   help="share of iterations with decaying lr (at the end)")
    p.add_argument("--ema", type=real(lambda v: 0 <= v < 1, "in [0, 1)"), default=0.995,
                   help="decay of the exported weight average")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=integer(1), default=1,
                   help="torch CPU threads (on a shared machine, more threads mostly wait for each other)")
    p.add_argument("--workers", type=integer(0), default=1, help="data loader processes (0: in the main process)")
    p.add_argument("--log-every", type=integer(1), default=10)
    p.add_argument("--checkpoint-every", type=integer(1), default=50)
    p.add_argument("--export", help="also write the folded model here at every checkpoint (e.g. ssd/shapes.pt)")
    p.add_argument("--export-only", metavar="PATH", help="write the folded model of RUN/last.pt to PATH and stop")
    args = p.parse_args(argv)
    check_folder(p, "--run", args.run)
    check_output_file(p, "--export", args.export)
    check_output_file(p, "--export-only", args.export_only)
    check_device(p, args.device)
    smallest = smallest_size(SHAPES_SSD512)
    if args.size < smallest:
        p.error(f"--size {args.size} is too small for this architecture: sizes ≥ {smallest} work")
    return args


@one_line_errors("python -m ssd.train", interrupted="rerun the same command to resume from RUN/last.pt")
def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    last = os.path.join(args.run, "last.pt")
    ckpt = read_last(last)
    if args.export_only:
        if ckpt is None:
            raise FileNotFoundError(f"no checkpoint to export: {last} does not exist")
        export(averaged(ckpt), args.export_only, {"iteration": ckpt["iteration"], "args": ckpt["args"]})
        print(f"wrote {args.export_only} (iteration {ckpt['iteration']})")
        return 0
    if ckpt is not None and ckpt["iteration"] >= args.iterations:
        if ckpt["iteration"] > args.iterations:
            raise ValueError(f"{last} is at iteration {ckpt['iteration']}, past --iterations {args.iterations}: "
                             "give at least that many, or --export-only PATH for its model")
        written = [os.path.join(args.run, "model.pt")] + ([args.export] if args.export else [])
        for path in written:      # nothing left to train: the models of last.pt once more
            export(averaged(ckpt), path, {"iteration": ckpt["iteration"], "args": ckpt["args"]})
        _log(args.run, f"run already complete at iteration {args.iterations}: nothing to train; "
                       f"wrote {', '.join(written)} (raise --iterations to train on)")
        return 0
    if args.variant != "plain" and args.data != "synthetic":
        raise ValueError(f"--variant {args.variant} needs --data synthetic")
    os.makedirs(args.run, exist_ok=True)
    if args.data == "synthetic":
        source = SyntheticImages(args.seed, args.size, variant=args.variant)
    else:
        if args.generate and not os.path.isfile(
                os.path.join(args.data, "annotations", f"instances_{args.split}.json")):
            generate(args.data, args.generate, args.seed, args.split, progress=True)
        source = CocoImages(CocoDataset(args.data, args.split))
    config = scaled_config(SHAPES_SSD512.replace(width=args.width), args.size)
    if ckpt is not None:
        config = SSDConfig.from_dict(ckpt["config"])
    if len(source) == 0:
        raise ValueError(f"{args.data} ({args.split}) holds no images: nothing to train on")
    if not set(source.categories.values()) & set(config.class_names[1:]):
        raise ValueError(f"{args.data}: none of its categories {sorted(source.categories.values())[:10]} is a "
                         f"class of the model {list(config.class_names[1:])}: nothing to train on")
    device = torch.device(args.device)
    plain = not ckpt.get("batchnorm", True) if ckpt is not None else bool(args.init)
    if plain:  # fine-tuning a shipped model (module docstring); a resumed run gets its state below
        model = SSD(config) if ckpt is not None else load_model(args.init)
        config = model.config
        if ckpt is None and args.reset_class_heads:
            init_heads(model, box_heads=False)
    else:      # from scratch, the initial weights drawn under --seed (a resumed run gets its state below)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            model = BatchNormSSD(SSD(config))
            init_heads(model.ssd)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    start = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start = ckpt["iteration"]
        _log(args.run, f"resuming from {last} at iteration {start}")
    else:
        _log(args.run, f"new run: {' '.join(sys.argv)}" + (f" (fine-tuning {args.init})" if args.init else ""))
    ema = EMA(model, args.ema, ckpt.get("ema") if ckpt is not None else None)
    _log(args.run, f"data {args.data} {args.variant} ({len(source)} images), config width {config.width} size {config.size}, "
                   f"{sum(p.numel() for p in getattr(model, 'ssd', model).parameters())} parameters, device {device}")
    loader = DataLoader(TrainSet(source, config, args.seed), num_workers=args.workers,
                        batch_sampler=batches(None if args.data == "synthetic" else len(source),
                                              args.batch_size, start, args.iterations, args.seed),
                        persistent_workers=False)
    model.train()
    t0, window = time.time(), []
    for it, (x, labels, deltas) in enumerate(loader, start=start):
        for g in optimizer.param_groups:
            g["lr"] = learning_rate(it, args.lr, args.warmup, args.iterations, args.decay)
        x, labels, deltas = x.to(device), labels.to(device), deltas.to(device)
        out_logits, out_deltas = model(x)
        loc, conf = multibox_loss(out_logits, out_deltas, labels, deltas)
        loss = loc + conf
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(model, it)
        window.append((loc.item(), conf.item()))
        done = it + 1
        if done % args.log_every == 0 or done == args.iterations:
            loc_m, conf_m = np.mean(window, axis=0)
            rate = (done - start) / (time.time() - t0)
            _log(args.run, f"iter {done}/{args.iterations} loss {loc_m + conf_m:.4f} (loc {loc_m:.4f} "
                           f"conf {conf_m:.4f}) lr {optimizer.param_groups[0]['lr']:.2e} "
                           f"{rate * args.batch_size:.2f} img/s ETA {_duration((args.iterations - done) / rate)}")
            window = []
        if done % args.checkpoint_every == 0 or done == args.iterations:
            write(last, training_state(model, ema, optimizer, done, args))
            info = {"iteration": done, "args": vars(args)}
            average = ema.model(model)
            export(average, os.path.join(args.run, "model.pt"), info)
            if args.export:
                export(average, args.export, info)
            _log(args.run, f"checkpoint at iteration {done}")
    _log(args.run, f"done: {args.iterations} iterations")


if __name__ == "__main__":
    sys.exit(main())
