"""COCO box AP of a detector: `python -m ssd.evaluate`.

    python -m ssd.evaluate --weights shapes --data synthetic --seed 1000 --images 500
    python -m ssd.evaluate --weights CHECKPOINT --data COCO_ROOT --split val2017 [--images N]

`--data synthetic` writes a fresh synthetic shapes set (seed `--seed`, never one used in training)
to `--root` (a temporary directory by default) and evaluates on it. Detections are mapped from the
model's class indices to the data set's category ids by class name, boxes are scaled from model
input to image pixels, and pycocotools' COCOeval prints its standard summary (AP, AP50, AP75,
small/medium/large, AR). Unreadable images are reported and left out; the run goes on. Errors
(bad arguments, a missing checkpoint or annotation file, no readable image at all) are one line on
stderr with exit code 2.
"""
import argparse
import contextlib
import io
import sys
import tempfile
import time

import numpy as np
import torch
from pycocotools.cocoeval import COCOeval

from .cli import check_device, check_folder, integer, one_line_errors
from .data.coco import CocoDataset
from .data.synthetic import generate
from .detect import detect
from .load import load
from .preprocess import preprocess


def detections(model, data: CocoDataset, batch_size: int = 8, device=None, log=sys.stderr) -> tuple[list, list]:
    """(COCO result dicts {image_id, category_id, bbox [x,y,w,h] in image pixels, score}, ids of the
    images evaluated). Classes the data set lacks are dropped."""
    to_category = {i: cid for cid, i in data.label_map(model.config.class_names).items()}
    results, done, batch = [], [], []
    t0 = time.time()

    def flush():
        x = preprocess([im for _, im in batch], model.config, device=device)
        for (image_id, image), det in zip(batch, detect(model, x)):
            h, w = image.shape[:2]
            scale = torch.tensor([w, h, w, h], device=det.boxes.device) / model.config.size
            for box, s, label in zip((det.boxes * scale).tolist(), det.scores.tolist(), det.labels.tolist()):
                if label in to_category:
                    results.append({"image_id": image_id, "category_id": to_category[label], "score": s,
                                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
            done.append(image_id)
        batch.clear()
        if len(done) % 100 < batch_size or len(done) == len(data):
            print(f"{len(done)}/{len(data)} images, {time.time() - t0:.0f} s", file=log, flush=True)

    for image_id, image in data.images(log=log):
        batch.append((image_id, image))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return results, done


def coco_eval(data: CocoDataset, results: list, image_ids: list) -> np.ndarray:
    """Run COCOeval (bbox) and print its summary; returns its 12 stats (stats[0] AP, stats[1] AP50)."""
    if not results:
        print("no detections: every AP is 0")
        return np.zeros(12)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = data.coco.loadRes(results)
    ev = COCOeval(data.coco, dt, "bbox")
    ev.params.imgIds = sorted(image_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    ev.summarize()
    return ev.stats


def _existing(root, split, seed, images):
    """The plain synthetic set already written to root with this seed and size, or None."""
    try:
        data = CocoDataset(root, split)
    except (FileNotFoundError, ValueError):
        return None
    info = data.coco.dataset.get("info", {})
    same = (info.get("seed"), info.get("images"), info.get("variant", "plain")) == (seed, images, "plain")
    return data if same else None


@one_line_errors("python -m ssd.evaluate")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ssd.evaluate",
                                description="COCO box AP of a detector (pycocotools COCOeval).")
    p.add_argument("--weights", default="shapes", help="'shapes' (the embedded model) or a checkpoint path")
    p.add_argument("--data", default="synthetic", help="'synthetic' or a COCO root")
    p.add_argument("--split", default="val2017")
    p.add_argument("--seed", type=integer(0), default=1000, help="seed of the synthetic set (not a training seed)")
    p.add_argument("--images", type=integer(0), default=500,
                   help="synthetic: images to generate; COCO: at most this many (0: all)")
    p.add_argument("--root", help="synthetic: directory to write the set to (default: a temporary one); "
                                  "a set already there with the same seed and size is reused")
    p.add_argument("--batch-size", type=integer(1), default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=integer(0), default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args(argv)
    check_device(p, a.device)
    check_folder(p, "--root", a.root)
    if a.data == "synthetic" and a.images < 1:
        p.error(f"--images {a.images}: a synthetic set needs at least 1 image")
    if a.threads:
        torch.set_num_threads(a.threads)
    model = load(a.weights, device=a.device)
    with tempfile.TemporaryDirectory() as tmp:
        if a.data == "synthetic":
            root = a.root or tmp
            data = _existing(root, a.split, a.seed, a.images)
            if data is None:
                print(f"generating {a.images} synthetic images (seed {a.seed}) in {root}", file=sys.stderr)
                generate(root, a.images, a.seed, a.split)
                data = CocoDataset(root, a.split)
        else:
            data = CocoDataset(a.data, a.split)
            if a.images:
                data.ids = data.ids[:a.images]
        if len(data) == 0:
            raise ValueError(f"{data.annotation_file} lists no images: nothing to evaluate")
        results, done = detections(model, data, a.batch_size, a.device)
        if not done:
            first = f" (first: {data.errors[0][1]})" if getattr(data, "errors", None) else ""
            raise ValueError(f"none of the {len(data)} images could be read{first}: nothing was evaluated")
        print(f"weights {a.weights}, data {a.data} ({a.split}, seed {a.seed if a.data == 'synthetic' else '-'}), "
              f"{len(done)} images evaluated, {len(data) - len(done)} skipped")
        coco_eval(data, results, done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
