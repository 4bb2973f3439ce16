"""The command-line arguments every evaluation command shares, declared once and checked one way.

Every option is declared here with its type and range (`integer`, `number`); an experiment only
changes defaults (`defaults` of `add_arguments`) and adds its own options. A bad value is one line
naming the option and the range (worded by ssd.checks, as everywhere in the project), exit code 2,
before any work:

    python -m eval.compare: error: --lime-samples must be an integer ≥ 2, got 1

Groups: the run (--out, --fresh, --samples, --seed, --threads, --no-figures), the model and the data
(--weights, --device, --data, --coco-root, --data-seed, --max-images, --score-threshold,
--iou-threshold, --batch-size) and the methods (--methods, --gamma, --superpixels, --lime-samples,
--shap-permutations, defaults from `eval.methods.PAPER`). `check(args)` adds the checks that need
more than one value or the file system: the device exists, the weights are an embedded model's name
or a file, the COCO root holds its files, --out is not a file, LIME's and SHAP's budgets fit in memory.
"""
import argparse
import os
import re
from pathlib import Path

import torch

from eval import methods as registry
from eval.run.allocator import keep_freed_memory
from eval.run.samples import SYNTHETIC_SEED
from ssd.cli import integer, real

MAX_SEED = 2 ** 63 - 1                  # torch and numpy generators take seeds below 2⁶³
MAX_SUPERPIXELS = 4096                  # a superpixel of 64 pixels on a 512×512 input
LIME_BYTES = 2 * 2 ** 30                # LIME's design matrix n_samples × (S + 1) float64 stays below 2 GiB
MAX_SHAP_PASSES = 10 ** 6               # permutations × superpixels forward passes per image


class Parser(argparse.ArgumentParser):
    """argparse with errors in one line, `PROG: error: --option must be …`, and exit code 2."""

    def error(self, message):
        message = re.sub(r"^argument (--[\w-]+)(?:/[^:]*)?: ", r"\1 ", message)
        self.exit(2, f"{self.prog}: error: {message}\n")


def number(interval: str):
    """argparse type: a finite number in `interval`, written ">= 0", "> 0", "[0, 1)", "(0, 1]" …
    (ssd.cli.real: the same check and words as every other number of the project)."""
    if interval[0] in "[(":
        lo, hi = (float(v) for v in interval[1:-1].split(","))
        left = (lambda v: v >= lo) if interval[0] == "[" else (lambda v: v > lo)
        right = (lambda v: v <= hi) if interval[-1] == "]" else (lambda v: v < hi)
        return real(lambda v: left(v) and right(v), f"in {interval}")
    op, bound = interval.split()
    b = float(bound)
    return real((lambda v: v >= b) if op == ">=" else (lambda v: v > b), interval)


def names(text: str) -> list[str]:
    """A comma-separated list ('lrp, shap') as names ['lrp', 'shap']."""
    return [t.strip().lower() for t in text.split(",") if t.strip()]


def add_arguments(p: argparse.ArgumentParser, defaults: dict) -> None:
    """The shared options, with `defaults` {dest: value} replacing the general ones (an experiment's
    budget, its output folder, its model)."""
    d = {"out": "results", "samples": 24, "weights": "shapes", "data_seed": SYNTHETIC_SEED, "max_images": None,
         "methods": ",".join(registry.METHODS), **registry.PAPER, **defaults}
    run = p.add_argument_group("run")
    run.add_argument("--out", default=d["out"], help=f"output folder (default {d['out']})")
    run.add_argument("--fresh", action="store_true", help="delete what this command wrote in --out and start over")
    run.add_argument("--samples", type=integer(1), default=d["samples"],
                     help=f"detections to explain (default {d['samples']})")
    run.add_argument("--seed", type=integer(0, MAX_SEED), default=d["seed"],
                     help="seed of LIME, SHAP, random orders and ties (default %(default)s)")
    run.add_argument("--processes", type=integer(1), default=1,
                     help="worker processes on this machine, each with its share of the units (as under torchrun); "
                          "on a 2-core CPU 2 processes of 1 thread are faster than 1 of 2 (default 1)")
    run.add_argument("--threads", type=integer(1), default=None,
                     help="CPU threads of torch (default: torch's; 1 is faster while other jobs keep the cores busy)")
    run.add_argument("--no-figures", action="store_true", help="skip the figures (tables and report only)")
    data = p.add_argument_group("model and data")
    data.add_argument("--weights", default=d["weights"],
                      help=f"an embedded model ({', '.join(_embedded())}) or a checkpoint path (default {d['weights']})")
    data.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    data.add_argument("--data", choices=("synthetic", "coco"), default="synthetic")
    data.add_argument("--coco-root", help="COCO root with val2017/*.jpg and annotations/instances_val2017.json")
    data.add_argument("--data-seed", type=integer(0, MAX_SEED), default=d["data_seed"],
                      help="seed of the synthetic images (default %(default)s)")
    data.add_argument("--max-images", type=integer(1), default=d["max_images"],
                      help="images searched for detections (default: 50 + 20 × samples on synthetic data)")
    data.add_argument("--score-threshold", type=number("[0, 1)"), default=0.5, help="detections kept (0.5)")
    data.add_argument("--iou-threshold", type=number("[0, 1)"), default=0.5,
                      help="IoU with a ground-truth object of its class for a detection to count (0.5)")
    data.add_argument("--per-image", type=integer(0), default=d.get("per_image", 2),
                      help="at most this many detections per image (default %(default)s; 0: no limit)")
    data.add_argument("--images", type=integer(0), default=d.get("images", 0),
                      help="spread the samples over the first this many images with a match: one each, then a "
                           "second … (default %(default)s: take up to --per-image from each image in turn)")
    data.add_argument("--batch-size", type=integer(1), default=None,
                      help="inputs per forward pass when perturbing (default: 2 on the CPU, 32 on CUDA)")
    method = p.add_argument_group("methods")
    method.add_argument("--methods", default=d["methods"],
                        help=f"comma-separated, from {', '.join(registry.NAMES)} (default {d['methods']})")
    method.add_argument("--gamma", type=number(">= 0"), default=d["gamma"], help="γ of LRP and DeepLIFT (paper 0.1)")
    method.add_argument("--superpixels", type=integer(2, MAX_SUPERPIXELS), default=d["superpixels"],
                        help=f"SLIC superpixels of LIME and SHAP (default {d['superpixels']}; paper 250)")
    method.add_argument("--lime-samples", type=integer(2), default=d["lime_samples"],
                        help=f"LIME forward passes (default {d['lime_samples']}; paper 1000)")
    method.add_argument("--shap-permutations", type=integer(1), default=d["shap_permutations"],
                        help=f"SHAP permutations (default {d['shap_permutations']}; paper 4 ≈ 1000 passes)")


def _embedded() -> list[str]:
    from ssd.load import EMBEDDED
    return sorted(EMBEDDED)


def check(args) -> None:
    """The checks that need several values or the file system (ValueError / FileNotFoundError naming
    the option); sets the device's default batch size and the method names."""
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        raise ValueError(f"--device {args.device!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: CUDA is not available on this machine (use --device cpu)")
    if args.data == "coco" and not args.coco_root:
        raise ValueError("--data coco needs --coco-root DIR (with val2017/ and annotations/instances_val2017.json)")
    from ssd.load import EMBEDDED
    for weights in (w.strip() for w in args.weights.split(",")):
        if weights in EMBEDDED and not EMBEDDED[weights].is_file():
            raise FileNotFoundError(f"--weights {weights}: the embedded model {EMBEDDED[weights]} is missing "
                                    "(ssd/README.md says how it is trained)")
        if weights not in EMBEDDED and not Path(weights).is_file():
            raise FileNotFoundError(f"--weights {weights}: weights file not found (embedded models: "
                                    f"{', '.join(_embedded())})")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} is a file, not a folder: give a folder name")
    args.method_names = registry.check_methods(names(args.methods))
    if args.lime_samples * (args.superpixels + 1) * 8 > LIME_BYTES:
        raise ValueError(f"--lime-samples {args.lime_samples} × --superpixels {args.superpixels} needs a "
                         f"{args.lime_samples * (args.superpixels + 1) * 8 / 2 ** 30:.1f} GiB design matrix for "
                         f"LIME's fit: keep lime_samples × (superpixels + 1) × 8 bytes under {LIME_BYTES // 2 ** 30} GiB")
    if args.shap_permutations * args.superpixels > MAX_SHAP_PASSES:
        raise ValueError(f"--shap-permutations {args.shap_permutations} × --superpixels {args.superpixels} is "
                         f"{args.shap_permutations * args.superpixels:,} forward passes per image (at most "
                         f"{MAX_SHAP_PASSES:,})")
    if args.batch_size is None:
        from perturb import default_batch_size
        args.batch_size = default_batch_size(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
