"""The output folder of a run: one record schema, one writer and one reader for every command.

    OUT/samples.jsonl              records, one JSON object per line, appended as each is measured
    OUT/samples.rank<r>.jsonl      the records of rank r under torchrun (merged by rank 0)
    OUT/heatmaps/<sample_id>.npz   the arrays of one sample (image, segments, masks, heatmaps, …)

A record is a flat JSON object with at least
    {"settings_hash": h, "kind": k, "sample_id": s, "image_id": i, "method": m, …}
and its key is (kind, sample_id, method): the first record of a key wins, so a record written twice
(a rerun racing an interrupted one) never counts twice. `settings_hash` is the hash of everything
that determines the numbers (`settings_hash(settings)`, model weights by content via
`model_digest`); records of other settings are ignored, never mixed in.

Interrupted runs lose nothing. A run killed while writing leaves a torn last line: `read` drops it,
and the next `append` first cuts it off (or ends it with a newline, if it is a complete record whose
newline was lost), so the file is whole again and the rerun completes with the same tables. A
damaged line in the *middle* of the file is an error that names the line (never skipped silently).
Arrays are written to a temporary file and renamed, so a reader never sees half an .npz file.
"""
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

RECORDS = "samples.jsonl"
ARRAYS = "heatmaps"
HEATMAP = "heatmap/"          # prefix of the heatmap arrays in a sample's .npz: "heatmap/<method>"


def settings_hash(settings: dict) -> str:
    """A short hash of the settings that determine the results (sha256 of their sorted JSON)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def model_digest(model) -> str:
    """sha256 of a model's configuration and parameters: the weights enter the settings by content,
    not by file name, so retrained weights never mix with old records."""
    h = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def clean(value):
    """JSON-safe copy: NaN and infinities become None (strict JSON has no NaN); numpy scalars and
    tensors of one value become Python numbers."""
    if isinstance(value, (np.generic, torch.Tensor)):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _mend_tail(path: Path) -> None:
    """Make the file end at a line boundary: a torn last line (no newline, not valid JSON) is cut
    off; a complete record whose newline is missing gets it."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        start = data.rfind(b"\n") + 1
        try:
            json.loads(data[start:])
            f.write(b"\n")
        except ValueError:
            f.truncate(start)


def append(path, record: dict) -> None:
    """Append one record as a JSON line (after mending a torn tail) and flush it to disk."""
    path = Path(path)
    _mend_tail(path)
    line = json.dumps(clean(record), sort_keys=True, allow_nan=False) + "\n"
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read(path) -> list[dict]:
    """The records of a JSON-lines file; a torn last line (a run killed mid-write) is dropped, a
    damaged line elsewhere raises a ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text().split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:       # the last element has no newline after it: a torn write
                raise ValueError(f"{path}: line {i + 1} is not valid JSON (the file is damaged; "
                                 "delete that line or rerun with --fresh)") from None
    return records


def key(record: dict) -> tuple:
    return record.get("kind", ""), record["sample_id"], record.get("method", "")


@dataclass
class StoredSample:
    """One sample as the store holds it: arrays of heatmaps/<id>.npz and its records.

    image uint8 [H,W,3]; heatmaps {method: float [H,W]}; segments int [H,W]; box, gt_box
    (x1, y1, x2, y2) in model-input pixels; gt_mask bool [H,W]; rf bool [H,W] (the target's receptive
    field); records: its records, in file order. Missing optional arrays are None."""

    id: str
    image: np.ndarray
    heatmaps: dict
    segments: np.ndarray = None
    box: np.ndarray = None
    gt_box: np.ndarray = None
    gt_mask: np.ndarray = None
    rf: np.ndarray = None
    records: list = field(default_factory=list)

    def field(self, name):
        """The first non-null value of `name` among the records (sample fields repeat in each)."""
        return next((r[name] for r in self.records if r.get(name) is not None), None)

    @property
    def class_name(self):
        return self.field("class_name")

    @property
    def score(self):
        return self.field("score")

    def title(self) -> str:
        score = self.score
        return f"{self.class_name or self.id}" + (f" {float(score):.2f}" if score is not None else "")


class Store:
    """The records and arrays of one run's settings in one output folder (module docstring).

    rank: under torchrun, the rank whose records go to its own part file (None: samples.jsonl)."""

    def __init__(self, out_dir, digest: str, rank: int | None = None):
        self.dir, self.digest = Path(out_dir), digest
        self.path = self.dir / (RECORDS if rank is None else f"samples.rank{rank}.jsonl")

    # --- records ------------------------------------------------------------------------------
    def append(self, record: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        append(self.path, {**record, "settings_hash": self.digest})

    def records(self, kind: str | None = None) -> list[dict]:
        """Records of these settings (first of each key), in file order; optionally of one kind."""
        seen, out = set(), []
        for path in [self.dir / RECORDS] + sorted(self.dir.glob("samples.rank*.jsonl")):
            for r in read(path):
                if r.get("settings_hash") != self.digest or key(r) in seen:
                    continue
                seen.add(key(r))
                if kind is None or r.get("kind") == kind:
                    out.append(r)
        return out

    def done(self) -> set:
        """Keys (kind, sample_id, method) of the records already written."""
        return {key(r) for r in self.records()}

    def merge_parts(self) -> int:
        """Move the records of the part files into samples.jsonl (skipping those it holds), delete the
        parts; returns the number moved."""
        main = self.dir / RECORDS
        have = {(r.get("settings_hash"),) + key(r) for r in read(main)}
        moved = 0
        for part in sorted(self.dir.glob("samples.rank*.jsonl")):
            for r in read(part):
                k = (r.get("settings_hash"),) + key(r)
                if k not in have:
                    append(main, r)
                    have.add(k)
                    moved += 1
            part.unlink()
        return moved

    def clear(self) -> None:
        """Delete every record and array of the folder (all settings): `--fresh`."""
        for path in [self.dir / RECORDS, *self.dir.glob("samples.rank*.jsonl"), *(self.dir / ARRAYS).glob("*.npz")]:
            path.unlink(missing_ok=True)

    # --- arrays -------------------------------------------------------------------------------
    def array_path(self, sample_id: str) -> Path:
        return self.dir / ARRAYS / f"{sample_id}.npz"

    def save_arrays(self, sample_id: str, **arrays) -> None:
        """Add arrays (numpy or torch) to the sample's .npz, atomically; arrays written under other
        settings are dropped, never mixed with these. Heatmaps go in as `heatmap/<method>`."""
        path = self.array_path(sample_id)
        content = self.load_arrays(sample_id)
        content.update({k: _numpy(v) for k, v in arrays.items()})
        content["settings_hash"] = np.array(self.digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")          # not *.npz: readers never see a half-written file
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **content)
        os.replace(tmp, path)

    def load_arrays(self, sample_id: str) -> dict:
        """The sample's arrays of these settings ({} if none)."""
        path = self.array_path(sample_id)
        if not path.is_file():
            return {}
        with np.load(path, allow_pickle=False) as z:
            content = {k: z[k] for k in z.files}
        return content if str(content.get("settings_hash", "")) == self.digest else {}

    # --- samples ------------------------------------------------------------------------------
    def samples(self) -> list[StoredSample]:
        """Every sample with arrays, in the order of its first record (then by id)."""
        by_id = {}
        for r in self.records():
            by_id.setdefault(str(r["sample_id"]), []).append(r)
        order = {sid: k for k, sid in enumerate(by_id)}
        ids = sorted((p.stem for p in (self.dir / ARRAYS).glob("*.npz")), key=lambda s: (order.get(s, len(order)), s))
        out = []
        for sid in ids:
            a = self.load_arrays(sid)
            if "image" not in a:
                continue
            heatmaps = {k[len(HEATMAP):]: v.astype(np.float64) for k, v in a.items() if k.startswith(HEATMAP)}
            optional = {k: (a[k] if k in a and a[k].size else None) for k in ("segments", "box", "gt_box", "gt_mask", "rf")}
            out.append(StoredSample(sid, a["image"].astype(np.uint8), heatmaps, **optional, records=by_id.get(sid, [])))
        return out


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.float() if value.is_floating_point() else value
        return value.numpy()
    return np.asarray(value)


def read_json(path) -> dict:
    """A JSON file as a dict ({} when missing)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def write_json(path, data) -> None:
    """Write strict JSON atomically (NaN as null)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(clean(data), indent=1, allow_nan=False, ensure_ascii=False))
    os.replace(tmp, path)


def open_run(out_dir) -> "Store | None":
    """The store of a finished run in out_dir (settings hash from its tables.json), or None."""
    digest = read_json(Path(out_dir) / "tables.json").get("settings_hash")
    return Store(out_dir, digest) if digest else None
