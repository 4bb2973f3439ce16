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
from eval.store.files import write_text


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


TARGETS = ("class", "box", "contrast", "missed")


def items_of(kind: str, model, x: torch.Tensor, dets, truth=None) -> list[dict]:
    """What to explain in one image, by --target: per detection (class, box, contrast) or per missed
    object (missed: `truth` = (boxes [G,4] in model-input pixels, labels [G])), each {"name", "box",
    "score", "prior", "label", "targets": [the targets whose maps form its panel], "captions"}."""
    if kind == "missed":
        boxes, labels = truth
        objects = ssd.missed_objects(model, x, dets, boxes, labels)
        with torch.no_grad():
            probs = torch.softmax(model(x)[0][0], dim=-1)
        return [{"name": model.config.class_names[t.label], "box": boxes[g], "score": float(probs[t.prior, t.label]),
                 "prior": t.prior, "label": t.label, "targets": [t], "captions": ["class at the best prior"]}
                for g, t in objects]
    out = []
    for k, t in enumerate(ssd.targets(dets)):
        item = {"name": model.config.class_names[t.label], "box": dets.boxes[k], "score": float(dets.scores[k]),
                "prior": t.prior, "label": t.label}
        if kind == "class":
            item.update(targets=[t], captions=["class logit"])
        elif kind == "box":
            item.update(targets=[ssd.BoxTarget(t.prior, c) for c in ssd.COORDINATES], captions=list(ssd.COORDINATES))
        else:                                       # contrast: against the runner-up class at the prior
            with torch.no_grad():
                logits = model(x)[0][0, t.prior].clone()
            logits[[0, t.label]] = -float("inf")
            other = int(logits.argmax())
            item.update(targets=[ssd.ContrastTarget(t.prior, t.label, other)],
                        captions=[f"{item['name']} − {model.config.class_names[other]}"])
        out.append(item)
    return out


def explain_image(model, image, path, method_names, out_dir: Path, stem: str, score_threshold: float,
                  max_detections=None, device=None, inputs=frozenset(), target: str = "class", truth=None) -> dict:
    """Detect, explain and write the PNGs of one image (uint8 [h,w,3] read from `path`); returns the
    JSON record (also written as `<stem>.json`). `target` (TARGETS) says what is explained of each
    detection (or of each missed object, with `truth`: ground-truth boxes [G,4] in image pixels and
    labels [G]); `inputs`: the resolved paths of every input image, which no output may overwrite."""
    cfg = model.config
    x = ssd.preprocess(image, cfg, device=device)                 # [1,3,S,S]
    dets = ssd.detect(model, x, score_threshold=score_threshold, max_detections=max_detections)[0]
    h, w = image.shape[:2]
    scale = torch.tensor([w / cfg.size, h / cfg.size, w / cfg.size, h / cfg.size])
    if truth is not None:
        truth = (torch.as_tensor(truth[0], dtype=torch.float32).reshape(-1, 4).div(scale).to(x.device),
                 torch.as_tensor(truth[1], dtype=torch.long, device=x.device))
    items = items_of(target, model, x, dets, truth)
    flat = [t for item in items for t in item["targets"]]
    heatmaps = {m: explain_method(m, model, x, flat) for m in method_names} if flat else {}
    shown = ssd.to_image(x[0], cfg)                               # [S,S,3]
    record = {"image": str(path), "width": w, "height": h, "input_size": cfg.size, "target": target,
              "methods": list(method_names), "score_threshold": score_threshold, "detections": []}
    start = 0
    for k, item in enumerate(items):
        maps = {m: heatmaps[m][start:start + len(item["targets"])] for m in method_names}
        start += len(item["targets"])
        box = item["box"].detach().cpu()
        png = not_an_input(out_dir / png_name(stem, k, item["name"], target), inputs).name
        panels = [render.draw_box(shown, box, render.RED if target == "missed" else render.YELLOW)]
        panels += [render.framed(render.colorize(h_)) for m in method_names for h_ in maps[m]]
        render.write_png(out_dir / png, render.side_by_side(panels))
        record["detections"].append({
            "index": k, "class": item["name"], "label": item["label"], "prior": item["prior"],
            "score": item["score"], "box": [round(v, 2) for v in (box * scale).tolist()],
            "box_input": [round(v, 2) for v in box.tolist()], "targets": [list(t) for t in item["targets"]],
            "panels": [f"{m}: {c}" for m in method_names for c in item["captions"]],
            "relevance_sum": {m: [float(h_.sum()) for h_ in maps[m]] for m in method_names}, "png": png})
    write_text(not_an_input(out_dir / f"{stem}.json", inputs), json.dumps(record, indent=1))
    return record


def annotations_by_file(path, class_names) -> dict:
    """{file name: (boxes [G,4] x1, y1, x2, y2 in image pixels, labels [G] class indices)} of a COCO
    annotation file, for --target missed; objects of classes the model does not know are left out."""
    data = json.loads(Path(path).read_text())
    names = {c["id"]: c["name"] for c in data.get("categories", [])}
    files = {im["id"]: Path(im["file_name"]).name for im in data.get("images", [])}
    out = {f: ([], []) for f in files.values()}
    for a in data.get("annotations", []):
        if a.get("image_id") not in files:
            raise ValueError(f"annotation {a.get('id')} names image {a.get('image_id')!r}, which is not in its images")
        name = names.get(a.get("category_id"))
        if name in class_names and name != class_names[0]:
            x, y, bw, bh = a["bbox"]
            out[files[a["image_id"]]][0].append([x, y, x + bw, y + bh])
            out[files[a["image_id"]]][1].append(class_names.index(name))
    return out


def png_name(stem: str, k: int, class_name: str, target: str = "class") -> str:
    """`<stem>_<k>_<class>.png` (`<stem>_<target>_<k>_<class>.png` for other targets); the class part
    holds no '_', so the name determines (stem, k, class) and the names of different stems never collide."""
    kind = "" if target == "class" else f"{target}_"
    return f"{stem}_{kind}{k:02d}_{safe_name(class_name).replace('_', '-')}.png"


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
    p.add_argument("--methods", nargs="+", default=["lrp", "deeplift"], choices=methods.NAMES,
                   help="methods to show (default: lrp deeplift; lime, shap and drise take 1,000 passes each)")
    p.add_argument("--score-threshold", type=number("[0, 1)"), default=0.5, help="minimum detection score (0.5)")
    p.add_argument("--max-detections", type=integer(1), default=None,
                   help="at most this many per image (default: the model's, 100 for the embedded one)")
    p.add_argument("--target", choices=TARGETS, default="class",
                   help="what to explain: each detection's class logit (default), its box (the four regression "
                        "outputs cx, cy, w, h), its class against the runner-up (contrast), or each object the "
                        "detector missed (needs --annotations)")
    p.add_argument("--annotations", help="COCO annotation file of the images (their file names), for --target missed")
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
    truths = None
    if args.target == "missed":
        if not args.annotations:
            print("python -m eval.explain: error: --target missed needs --annotations FILE (a COCO annotation file "
                  "naming the images)", file=sys.stderr)
            return 2
        try:
            truths = annotations_by_file(args.annotations, model.config.class_names)
        except (OSError, ValueError, KeyError) as e:
            print(f"python -m eval.explain: error: --annotations {args.annotations}: {e}", file=sys.stderr)
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
        truth = None
        if truths is not None:
            if Path(path).name not in truths:
                failed += 1
                print(f"error: {path}: not in --annotations {args.annotations}", file=sys.stderr)
                continue
            truth = truths[Path(path).name]
        record = explain_image(model, image, path, args.methods, out_dir, stem, args.score_threshold,
                               args.max_detections, device, inputs, args.target, truth)
        n = len(record["detections"])
        what = "missed object" if args.target == "missed" else "detection"
        print(f"{path}: {n} {what}{'s' * (n != 1)} -> {out_dir / (stem + '.json')}"
              + ("" if n or args.target == "missed" else f" (none above score {args.score_threshold})"))
    if failed:
        print(f"{failed} of {len(args.images)} image(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
