"""Per-sample records of the comparison: one JSON line per (sample, method), appended as each
finishes, so that an interrupted run loses nothing and a rerun skips what is done.

Every record carries the hash of the settings that produced it (`settings_hash`); records of other
settings are ignored, never mixed in. With several processes (torchrun) each rank appends to its own
part file `samples.rank<r>.jsonl`, and rank 0 merges the parts into `samples.jsonl`.
"""
import hashlib
import json
import math
import os
from pathlib import Path

import torch

RECORDS = "samples.jsonl"


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


def part_path(out_dir, rank: int) -> Path:
    return Path(out_dir) / f"samples.rank{rank}.jsonl"


def clean(value):
    """JSON-safe copy: NaN and infinities become None (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def append(path, record: dict) -> None:
    """Append one record as a JSON line and flush it to disk."""
    with open(path, "a") as f:
        f.write(json.dumps(clean(record), sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read(path) -> list[dict]:
    """The records of a JSON-lines file; a torn last line (a run killed mid-write) is dropped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise ValueError(f"{path}: line {i + 1} is not valid JSON (the file is damaged; "
                                 f"rerun with --fresh)")
    return records


def key(record: dict) -> tuple:
    return record["settings_hash"], record["sample_id"], record["method"]


def load(out_dir, digest: str) -> dict:
    """{(sample_id, method): record} of all records with settings hash `digest` in samples.jsonl and
    any part files (first occurrence wins, so duplicates never count twice)."""
    out_dir = Path(out_dir)
    found = {}
    for path in [out_dir / RECORDS] + sorted(out_dir.glob("samples.rank*.jsonl")):
        for r in read(path):
            if r.get("settings_hash") == digest:
                found.setdefault((r["sample_id"], r["method"]), r)
    return found


def merge_parts(out_dir) -> int:
    """Move the records of the part files into samples.jsonl (skipping records it already holds),
    delete the parts, and return the number of records moved."""
    out_dir = Path(out_dir)
    main = out_dir / RECORDS
    have = {key(r) for r in read(main)}
    moved = 0
    for part in sorted(out_dir.glob("samples.rank*.jsonl")):
        for r in read(part):
            if key(r) not in have:
                append(main, r)
                have.add(key(r))
                moved += 1
        part.unlink()
    return moved
