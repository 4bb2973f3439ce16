"""Reading the output folder of `python -m eval.compare`, for the figures and the report.

Layout (written by eval.compare):
- `samples.jsonl`: one record per sample and method (sample id, image id, class name, score, box,
  metrics, time);
- `tables.json` / `tables.md`: tables 1–4;
- `curves.json`: pixel-flipping curves per method and mode ("pixels" / "superpixels") and of random
  flipping: mean and standard error per flipped fraction;
- `heatmaps/<sample_id>.npz`: the [H,W] heatmap of every method, the superpixel segments, the uint8
  image, the predicted box, the ground-truth box and (synthetic data) the ground-truth mask.
Readers are lenient about optional parts: a missing file gives an empty result, not an error.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

METHOD_LABELS = {"lrp": "LRP-γ(0.1)", "deeplift": "DeepLIFT-γ(0.1)", "lime": "LIME", "shap": "SHAP",
                 "random": "random"}
SUPERPIXEL_METHODS = ("lime", "shap")
NON_HEATMAP_KEYS = {"image", "segments", "box", "gt_box", "gt_mask", "prior", "label", "score"}


@dataclass
class Sample:
    """One explained detection: image uint8 [H,W,3], heatmaps {method: float [H,W]}, segments int [H,W]
    or None, boxes (x1, y1, x2, y2) in image pixels or None, gt_mask bool [H,W] or None, and its lines
    of samples.jsonl."""

    id: str
    image: np.ndarray
    heatmaps: dict
    segments: np.ndarray = None
    box: np.ndarray = None
    gt_box: np.ndarray = None
    gt_mask: np.ndarray = None
    records: list = field(default_factory=list)

    def _field(self, *names):
        for r in self.records:
            for n in names:
                if r.get(n) is not None:
                    return r[n]
        return None

    @property
    def class_name(self):
        return self._field("class_name", "class")

    @property
    def score(self):
        return self._field("score")

    @property
    def prior(self):
        return self._field("prior")

    @property
    def label(self):
        return self._field("label")

    def title(self) -> str:
        name, score = self.class_name, self.score
        return f"{name or self.id}" + (f" {float(score):.2f}" if score is not None else "")


def read_records(out_dir) -> list[dict]:
    """The lines of samples.jsonl (empty when the file is missing)."""
    path = Path(out_dir) / "samples.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def record_sample_id(record: dict) -> str:
    return str(record.get("sample_id", record.get("sample", record.get("id"))))


def read_samples(out_dir) -> list[Sample]:
    """Every heatmaps/<sample_id>.npz with its records, in the order of samples.jsonl (then by name)."""
    by_id = {}
    for r in read_records(out_dir):
        by_id.setdefault(record_sample_id(r), []).append(r)
    order = {sid: k for k, sid in enumerate(by_id)}            # the order of samples.jsonl
    paths = [p for p in (Path(out_dir) / "heatmaps").glob("*.npz") if not p.name.endswith(".tmp.npz")]
    paths.sort(key=lambda p: (order.get(p.stem, len(order)), p.stem))   # .tmp.npz: a write in progress
    samples = []
    for path in paths:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        if "image" not in data:
            raise ValueError(f"{path}: no 'image' array (keys: {sorted(data)})")
        heatmaps = {k[len("heatmap_"):] if k.startswith("heatmap_") else k: v.astype(np.float64)
                    for k, v in data.items()
                    if k not in NON_HEATMAP_KEYS and v.ndim == 2 and v.dtype.kind == "f"}
        opt = {k: (data[k] if k in data and data[k].size else None) for k in ("segments", "box", "gt_box", "gt_mask")}
        samples.append(Sample(path.stem, data["image"].astype(np.uint8), heatmaps, **opt,
                              records=by_id.get(path.stem, [])))
    return samples


def read_tables(out_dir) -> dict:
    """tables.json as a dict (empty when missing)."""
    path = Path(out_dir) / "tables.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _array(values) -> np.ndarray:
    """A JSON list with nulls as a float array with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def flipping_curves(out_dir, mode: str) -> dict:
    """{label: (fraction [F], mean [F], standard error [F])} of one mode ("pixels" or "superpixels"),
    methods in the paper's order, random last; LIME and SHAP (superpixel maps, one curve) appear in both
    modes. curves.json holds
    {"fractions": [F], "curves": {method: {mode: {"mean": [F], "se": [F] (null for n < 2), "n"}}}};
    a missing standard error is drawn as 0."""
    path = Path(out_dir) / "curves.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    found = {}
    for method, modes in data.get("curves", {}).items():
        # LIME and SHAP are superpixel maps: their one curve belongs in both figures
        entry = (modes.get(mode) or (modes.get("superpixels") if method in SUPERPIXEL_METHODS else None)) \
            if isinstance(modes, dict) else None
        if not entry or not entry.get("mean"):
            continue
        mean = _array(entry["mean"])
        se = np.nan_to_num(_array(entry.get("se") or [None] * len(mean)), nan=0.0)
        fractions = data.get("fractions") or []
        fraction = _array(fractions) if len(fractions) == len(mean) else np.linspace(0, 1, len(mean))
        found[method] = (fraction, mean, se)
    known = list(METHOD_LABELS)
    order = sorted(found, key=lambda m: (m == "random", known.index(m) if m in known else len(known), m))
    return {METHOD_LABELS.get(m, m): found[m] for m in order}
