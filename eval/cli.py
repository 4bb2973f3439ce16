"""Command-line pieces the evaluation commands share: a parser whose errors are one line (exit code
2), the data and model arguments (as `python -m eval.compare` has them) and their checks."""
import argparse
import math
from pathlib import Path

import torch

from eval.samples import SYNTHETIC_SEED


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error message ("prog: error: …") and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--data, --coco-root, --weights, --device, --batch-size, --score-threshold, --iou-threshold,
    --data-seed, --max-images."""
    p.add_argument("--data", choices=("synthetic", "coco"), default="synthetic")
    p.add_argument("--coco-root", help="COCO root with val2017/*.jpg and annotations/instances_val2017.json")
    p.add_argument("--weights", default="shapes", help='"shapes" (the embedded model) or a checkpoint path')
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=None,
                   help="inputs per forward pass when perturbing (default: 2 on the CPU, 32 on CUDA)")
    p.add_argument("--score-threshold", type=float, default=0.5)
    p.add_argument("--iou-threshold", type=float, default=0.5)
    p.add_argument("--data-seed", type=int, default=SYNTHETIC_SEED, help="seed of the synthetic images")
    p.add_argument("--max-images", type=int, default=None,
                   help="images to search for matching detections (synthetic default: 50 + 20 × samples)")


def check_data_arguments(args) -> None:
    """ValueError / FileNotFoundError for a bad device, batch size, image limit, COCO root or weights
    file; sets the default batch size of the device."""
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        raise ValueError(f"--device {args.device!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda given but CUDA is not available")
    for name in ("batch_size", "max_images"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.data == "coco" and not args.coco_root:
        raise ValueError("--data coco needs --coco-root DIR (with val2017/ and annotations/instances_val2017.json)")
    if args.weights != "shapes" and not Path(args.weights).is_file():
        raise FileNotFoundError(f"weights file not found: {args.weights}")
    if args.batch_size is None:
        from perturb import default_batch_size
        args.batch_size = default_batch_size(device)


def check_method_arguments(args) -> None:
    """ValueError unless --gamma (of LRP and DeepLIFT) is a finite number >= 0, --superpixels and
    --lime-samples are >= 2 (LIME fits the unperturbed input and at least one perturbed one) and
    --shap-permutations >= 1: raised before any explanation, not after the LRP/DeepLIFT work."""
    for name, low in (("superpixels", 2), ("lime_samples", 2), ("shap_permutations", 1)):
        if getattr(args, name) < low:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(args, name)}")
    if not math.isfinite(args.gamma) or args.gamma < 0:
        raise ValueError(f"--gamma must be a finite number >= 0, got {args.gamma}")
