"""`python -m eval.explain IMAGE [IMAGE …]`: heatmaps of every detection of your own images.

For each image: `<stem>.json` (its detections) and, per detection, `<stem>_<k>_<class>.png` showing
the model input with the predicted box (yellow) followed by the heatmap of each chosen method
(red positive, blue negative, white zero; each normalised by its own max |R|). Pictures are at the
model's input resolution (the image is warped to S×S as the detector sees it); boxes in the JSON are
given both in original-image pixels and in input pixels.

Images may have any size, be grayscale or RGBA, JPEG or PNG. A missing or unreadable file is
reported on stderr, the other images are processed, and the exit code is 1.
"""
import json
import re
import sys
from pathlib import Path

import torch

import ssd
from eval import methods
from eval.report import render
from eval.run.cli import Parser, integer, number
from eval.run.store import write_text


def explain_method(name: str, model, x, targets) -> torch.Tensor:
    """Heatmaps [K,H,W] of the K targets of x [1,3,H,W] with the paper's settings of method `name`
    (eval.methods.PAPER, those of eval.compare: LRP-γ(0.1) and DeepLIFT-γ(0.1) with ♭, LIME 1000
    samples and SHAP 4 permutations over 250 SLIC superpixels)."""
    return methods.get(name, methods.PAPER).explain(model, x, targets)


def safe_name(text: str) -> str:
    """`text` reduced to letters, digits, '-' and '_' (for file names)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def not_an_input(path: Path, inputs) -> Path:
    """`path`, or `<stem>-out<suffix>` (`-out2`, …) where `path` is one of the input images: an output
    never overwrites an input (`eval.explain imgs/a.png imgs/a_00_triangle.png --out imgs` once wrote
    the first image's panel over the second input, then explained that panel as if it were a photo)."""
    candidate, n = path, 1
    while candidate.resolve() in inputs:
        candidate = path.with_name(f"{path.stem}-out{n if n > 1 else ''}{path.suffix}")
        n += 1
    return candidate


def explain_image(model, image, path, method_names, out_dir: Path, stem: str, score_threshold: float,
                  max_detections=None, device=None, inputs=frozenset()) -> dict:
    """Detect, explain and write the PNGs of one image (uint8 [h,w,3] read from `path`); returns the
    JSON record (also written as `<stem>.json`). `inputs`: the resolved paths of every input image,
    which no output may overwrite (`not_an_input`)."""
    cfg = model.config
    x = ssd.preprocess(image, cfg, device=device)                 # [1,3,S,S]
    dets = ssd.detect(model, x, score_threshold=score_threshold, max_detections=max_detections)[0]
    targets = ssd.targets(dets)
    heatmaps = {m: explain_method(m, model, x, targets) for m in method_names} if targets else {}
    shown = ssd.to_image(x[0], cfg)                               # [S,S,3]
    h, w = image.shape[:2]
    scale = torch.tensor([w / cfg.size, h / cfg.size, w / cfg.size, h / cfg.size])
    record = {"image": str(path), "width": w, "height": h, "input_size": cfg.size,
              "methods": list(method_names), "score_threshold": score_threshold, "detections": []}
    for k, t in enumerate(targets):
        name = cfg.class_names[t.label]
        box = dets.boxes[k].detach().cpu()
        png = not_an_input(out_dir / png_name(stem, k, name), inputs).name
        panels = [render.draw_box(shown, box, render.YELLOW)]
        panels += [render.framed(render.colorize(heatmaps[m][k])) for m in method_names]
        render.write_png(out_dir / png, render.side_by_side(panels))
        record["detections"].append({
            "index": k, "class": name, "label": t.label, "prior": t.prior,
            "score": float(dets.scores[k]),
            "box": [round(v, 2) for v in (box * scale).tolist()],
            "box_input": [round(v, 2) for v in box.tolist()],
            "relevance_sum": {m: float(heatmaps[m][k].sum()) for m in method_names},
            "png": png,
        })
    write_text(not_an_input(out_dir / f"{stem}.json", inputs), json.dumps(record, indent=1))
    return record


def png_name(stem: str, k: int, class_name: str) -> str:
    """`<stem>_<k>_<class>.png`; the class part holds no '_', so the name determines (stem, k, class)
    and the names of different stems never collide."""
    return f"{stem}_{k:02d}_{safe_name(class_name).replace('_', '-')}.png"


def unique_stems(paths) -> list[str]:
    """File stems made safe and unique, also ignoring case (macOS and Windows file systems do): an
    image keeps its own stem unless an earlier one has it; a later one gets `<stem>_2`, `<stem>_3`, …,
    skipping the stems of all the images (so `d1/a.png d2/a.png a_2.png` give a, a_3, a_2)."""
    bases = [safe_name(Path(p).stem) for p in paths]
    taken, stems = {b.lower() for b in bases}, []
    for i, base in enumerate(bases):
        stem = base
        if base.lower() in (b.lower() for b in bases[:i]):        # not the first with this stem
            n = 2
            while f"{base}_{n}".lower() in taken:
                n += 1
            stem = f"{base}_{n}"
            taken.add(stem.lower())
        stems.append(stem)
    return stems


def parse_args(argv=None):
    p = Parser(prog="python -m eval.explain", description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG files (any size, grey/RGB/RGBA)")
    p.add_argument("--weights", default="shapes", help="'shapes' (embedded model) or a checkpoint path")
    p.add_argument("--methods", nargs="+", default=["lrp", "deeplift"], choices=methods.METHODS,
                   help="methods to show (default: lrp deeplift; lime and shap take 1000 passes each)")
    p.add_argument("--score-threshold", type=number("[0, 1)"), default=0.5, help="minimum detection score (0.5)")
    p.add_argument("--max-detections", type=integer(1), default=None,
                   help="at most this many per image (default: the model's, 100 for the embedded one)")
    p.add_argument("--out", default="explanations", help="output folder (default: ./explanations)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:            # --help (0) or a bad option (2, said in one line)
        return e.code
    try:
        device = torch.device(args.device)
        model = ssd.load(args.weights, device=device)
        for p in model.parameters():      # explanations need gradients of the input only
            p.requires_grad_(False)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: cannot load model {args.weights!r} on {args.device}: {e}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        print(f"error: --out {out_dir} is a file, not a folder", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    failed, inputs = 0, {Path(p).resolve() for p in args.images}
    for path, stem in zip(args.images, unique_stems(args.images)):
        try:
            image = ssd.read_image(path)                          # uint8 [h,w,3]
        except (FileNotFoundError, ValueError) as e:
            failed += 1
            print(f"error: {path}: {e}", file=sys.stderr)
            continue
        record = explain_image(model, image, path, args.methods, out_dir, stem, args.score_threshold,
                               args.max_detections, device, inputs)
        n = len(record["detections"])
        print(f"{path}: {n} detection{'s' * (n != 1)} -> {out_dir / (stem + '.json')}"
              + ("" if n else f" (none above score {args.score_threshold})"))
    if failed:
        print(f"{failed} of {len(args.images)} image(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
