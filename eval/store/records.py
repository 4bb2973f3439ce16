"""The output folder of a run: each experiment's records and arrays, the folder's lock and manifest.

    OUT/.lock                     held by the run that uses the folder (its text names the holder)
    OUT/.eval.json                the manifest: per experiment its settings, their hash, the files it wrote
    OUT/<records>                 an experiment's records, one JSON object per line, appended as measured
    OUT/<records stem>.rank<r>.jsonl   rank r's records under torchrun (merged by rank 0)
    OUT/<arrays>/<unit id>.npz    the arrays of one unit of work (image, segments, masks, heatmaps, …)

Each experiment owns its names (`Layout`: eval.compare samples.jsonl and heatmaps/, eval.sanity
sanity.jsonl and sanity-heatmaps/, eval.hans hans.jsonl and hans-heatmaps/), so experiments sharing
a folder never touch each other's files, and `--fresh` removes only what that experiment wrote.
A folder holds one settings of an experiment: a run whose settings differ from those the manifest
records is refused with the settings that differ (nothing is overwritten, nothing mixed).

A record is a flat JSON object with at least
    {"settings_hash": h, "kind": k, "sample_id": s, "image_id": i, "method": m, …}
and its key is (kind, sample_id, method): the first record of a key wins, so a record written twice
never counts twice. A key is *done* when its record is there and the arrays it needs are present and
readable (`Store.done`); otherwise its unit is measured again.

Nothing is lost when a run is interrupted or two runs meet:
- the lock (`lock_folder`, an flock released by the kernel when the process ends, also on kill -9)
  lets one run use a folder at a time; a second one stops with a line naming the holder;
- a run killed mid-append leaves a torn last line: `read` drops it and the next append cuts it off
  (or ends it with a newline if it is a whole record); a damaged line elsewhere is an error naming
  the file, the line and what to do;
- every other file is written to a temporary file created exclusively (unique per process, never
  through a link: `atomic_write`) and renamed over its name, so a reader never sees half a file;
  records are appended through O_NOFOLLOW, never into a link's target;
- an array file that cannot be read is named on stderr and its unit measured again.
"""
import hashlib
import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .files import atomic_write, clean, manifest

HEATMAP = "heatmap/"          # prefix of the heatmap arrays in a unit's .npz: "heatmap/<method>"


@dataclass(frozen=True)
class Layout:
    """The names an experiment owns in an output folder: its records file and its arrays folder."""

    records: str = "samples.jsonl"
    arrays: str = "heatmaps"

    def part(self, rank: int) -> str:
        return f"{Path(self.records).stem}.rank{rank}.jsonl"

    def parts(self, folder: Path) -> list[Path]:
        return sorted(Path(folder).glob(f"{Path(self.records).stem}.rank*.jsonl"))


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


# --- records ------------------------------------------------------------------------------------

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
    """Append one record as a JSON line (after mending a torn tail) and flush it to disk. The file
    is opened with O_NOFOLLOW: a link at its name is an error, never followed."""
    path = Path(path)
    _mend_tail(path)
    line = json.dumps(clean(record), sort_keys=True, allow_nan=False) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        if path.is_symlink():
            raise ValueError(f"{path} is a symbolic link: records are never written through links "
                             "(replace it by the file itself)") from None
        raise e
    with os.fdopen(fd, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read(path) -> list[dict]:
    """The records of a JSON-lines file; a torn last line (a run killed mid-write) is dropped, a
    damaged line elsewhere raises a ValueError naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "sample_id" not in record:
                raise ValueError("not a record")
            records.append(record)
        except ValueError:
            if i != len(lines) - 1:       # the last element has no newline after it: a torn write
                raise ValueError(f"{path}: line {i + 1} is not a valid record (the file is damaged; "
                                 "delete that line to recompute it, or rerun with --fresh)") from None
    return records


def key(record: dict) -> tuple:
    return record.get("kind", ""), record["sample_id"], record.get("method", "")


def opened(out_dir, experiment: str, layout: Layout) -> "Store | None":
    """The store of an experiment's settings in out_dir (its hash from the manifest), or None."""
    digest = manifest(out_dir).get(experiment, {}).get("settings_hash")
    return Store(out_dir, digest, layout=layout) if digest else None


# --- one experiment's records and arrays -----------------------------------------------------------

@dataclass
class StoredSample:
    """One sample as the store holds it: arrays of <arrays>/<id>.npz and its records.

    image uint8 [H,W,3]; heatmaps {method: float [H,W]}; segments int [H,W]; box, gt_box
    (x1, y1, x2, y2) in model-input pixels; gt_mask bool [H,W]; rf bool [H,W] (the target's receptive
    field); arrays: every array of the file; records: its records, in file order. Missing optional
    arrays are None."""

    id: str
    image: np.ndarray
    heatmaps: dict
    segments: np.ndarray = None
    box: np.ndarray = None
    gt_box: np.ndarray = None
    gt_mask: np.ndarray = None
    rf: np.ndarray = None
    records: list = field(default_factory=list)
    arrays: dict = field(default_factory=dict, repr=False)

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
    """The records and arrays of one experiment's settings in one output folder (module docstring).

    layout: the experiment's names; digest: its settings hash; rank: under torchrun, the rank whose
    records go to its own part file (None: the records file itself)."""

    def __init__(self, out_dir, digest: str, rank: int | None = None, layout: Layout = Layout(), log=None):
        self.dir, self.digest, self.layout, self.log = Path(out_dir), digest, layout, log
        self.path = self.dir / (layout.records if rank is None else layout.part(rank))
        self._readable = {}           # unit id -> ((size, mtime) of its .npz, the names readable in it)

    # --- records ------------------------------------------------------------------------------
    def append(self, record: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        append(self.path, {**record, "settings_hash": self.digest})

    def all_records(self) -> list[dict]:
        """Every record of the experiment's files (any settings), records file first, then parts."""
        return [r for path in [self.dir / self.layout.records] + self.layout.parts(self.dir) for r in read(path)]

    def records(self, kind: str | None = None) -> list[dict]:
        """Records of these settings (first of each key), in file order; optionally of one kind."""
        seen, out = set(), []
        for r in self.all_records():
            if r.get("settings_hash") != self.digest or key(r) in seen:
                continue
            seen.add(key(r))
            if kind is None or r.get("kind") == kind:
                out.append(r)
        return out

    def keys(self) -> set:
        """Keys (kind, sample_id, method) of the records written (whatever their arrays)."""
        return {key(r) for r in self.records()}

    def done(self, keys, needs) -> set:
        """The keys among `keys` whose record is written and whose arrays are readable.
        needs(key) -> (unit id, [array names]) or None when the record needs no array."""
        written, out = self.keys(), set()
        for k in keys:
            if k in written:
                need = needs(k)
                if need is None or self.readable(*need):
                    out.add(k)
        return out

    def merge_parts(self) -> int:
        """Move the records of the part files into the records file (skipping those it holds), delete
        the parts; returns the number moved."""
        main = self.dir / self.layout.records
        have = {(r.get("settings_hash"),) + key(r) for r in read(main)}
        moved = 0
        for part in self.layout.parts(self.dir):
            for r in read(part):
                k = (r.get("settings_hash"),) + key(r)
                if k not in have:
                    append(main, r)
                    have.add(k)
                    moved += 1
            part.unlink()
        return moved

    def clear(self) -> None:
        """Delete this experiment's records and arrays (all settings): `--fresh`."""
        arrays = self.dir / self.layout.arrays
        for path in [self.dir / self.layout.records, *self.layout.parts(self.dir), *arrays.glob("*.npz"),
                     *arrays.glob(".*.tmp")]:
            path.unlink(missing_ok=True)

    # --- arrays -------------------------------------------------------------------------------
    def array_path(self, unit_id: str) -> Path:
        return self.dir / self.layout.arrays / f"{unit_id}.npz"

    def save_arrays(self, unit_id: str, **arrays) -> None:
        """Add arrays (numpy or torch) to the unit's .npz, written whole (`atomic_write`); arrays of
        other settings (or an unreadable file) are replaced, never mixed with these. Heatmaps go in
        as `heatmap/<method>`."""
        content = self.load_arrays(unit_id)
        content.update({k: _numpy(v) for k, v in arrays.items()})
        content["settings_hash"] = np.array(self.digest)
        with atomic_write(self.array_path(unit_id)) as f:
            np.savez_compressed(f, **content)

    def load_arrays(self, unit_id: str) -> dict:
        """The unit's arrays of these settings ({} if none, of other settings, or unreadable: an
        unreadable file is named on stderr and its unit measured again)."""
        path = self.array_path(unit_id)
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as z:
                content = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            print(f"{path} cannot be read ({type(e).__name__}: {e}); its unit is measured again",
                  file=self.log or sys.stderr, flush=True)
            return {}
        return content if str(content.get("settings_hash", "")) == self.digest else {}

    def readable(self, unit_id: str, names) -> bool:
        """Whether the unit's .npz of these settings holds every array in `names`, all readable (read
        once per version of the file: its size and modification time)."""
        path = self.array_path(unit_id)
        stat = path.stat() if path.is_file() else None
        version = (stat.st_size, stat.st_mtime_ns) if stat else None
        if self._readable.get(unit_id, (False,))[0] != version:
            self._readable[unit_id] = (version, set(self.load_arrays(unit_id)) if stat else set())
        return set(names) <= self._readable[unit_id][1]

    # --- samples ------------------------------------------------------------------------------
    def samples(self, ids=None) -> list[StoredSample]:
        """The samples with arrays (only `ids` if given, in that order; else in the order of their
        first record, then by id)."""
        by_id = {}
        for r in self.records():
            by_id.setdefault(str(r["sample_id"]), []).append(r)
        if ids is None:
            order = {sid: k for k, sid in enumerate(by_id)}
            ids = sorted((p.stem for p in (self.dir / self.layout.arrays).glob("*.npz")),
                         key=lambda s: (order.get(s, len(order)), s))
        out = []
        for sid in ids:
            a = self.load_arrays(sid)
            if "image" not in a:
                continue
            heatmaps = {k[len(HEATMAP):]: v.astype(np.float64) for k, v in a.items() if k.startswith(HEATMAP)}
            optional = {k: (a[k] if k in a and a[k].size else None) for k in ("segments", "box", "gt_box", "gt_mask", "rf")}
            out.append(StoredSample(sid, a["image"].astype(np.uint8), heatmaps, **optional,
                                    records=by_id.get(sid, []), arrays=a))
        return out


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.float() if value.is_floating_point() else value
        return value.numpy()
    return np.asarray(value)
