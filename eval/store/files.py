"""Files of an output folder written whole, and the folder's lock and manifest (eval.store has the
records and arrays): a reader never sees half a file, a second run never writes into a folder in use.

- `atomic_write(path)`: a temporary file created next to `path` with O_CREAT | O_EXCL (unique to the
  process, never opened through a link), renamed over `path` when complete; `write_text`,
  `write_json` (strict JSON: NaN as null, via `clean`), `read_json` (a damaged file named).
- `lock_folder(out, holder)`: an flock on OUT/.lock for the whole run, released by the kernel when the
  process ends however it ends; a second run stops with a line naming the holder.
- the manifest OUT/.eval.json: per experiment its settings, their hash and the files it wrote
  (`manifest`, `update_manifest`; `differing` names the settings that differ).
"""
import fcntl
import getpass
import json
import math
import os
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

MANIFEST = ".eval.json"
LOCK = ".lock"


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


@contextmanager
def atomic_write(path):
    """A binary file object whose content replaces `path` when the block ends without an error.

    The temporary file is created next to `path` with O_CREAT | O_EXCL (tempfile.mkstemp): its name is
    unique to this process and it is never opened through a link; `os.replace` then swaps it in (a
    link at `path` is replaced, its target is not written). On an error the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))


def write_json(path, data) -> None:
    """Strict JSON (NaN as null), written whole."""
    write_text(path, json.dumps(clean(data), indent=1, allow_nan=False, ensure_ascii=False))


def read_json(path) -> dict:
    """A JSON file as a dict ({} when missing); a damaged one is a ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}): delete it, or rerun the command that wrote it") from None


@contextmanager
def lock_folder(out_dir, holder: str):
    """Hold the folder's lock while the block runs; ValueError naming the holder if another process
    holds it. The lock is an flock on OUT/.lock: released when the process ends, however it ends."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise ValueError(f"{out_dir} is in use by {other}: wait until it ends, or choose another --out") from None
        text = (f"pid {os.getpid()} on {socket.gethostname()} ({getpass.getuser()}), "
                f"started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {holder}").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)
        yield
    finally:
        os.close(fd)            # closing releases the flock


def manifest(out_dir) -> dict:
    """{experiment: {"settings_hash", "settings", "outputs": [names]}} of the folder ({} if none)."""
    return read_json(Path(out_dir) / MANIFEST)


def update_manifest(out_dir, experiment: str, **entry) -> None:
    data = manifest(out_dir)
    data[experiment] = {**data.get(experiment, {}), **entry}
    write_json(Path(out_dir) / MANIFEST, data)


def differing(a: dict, b: dict, prefix: str = "") -> list[str]:
    """The keys (dotted paths) whose values differ between two settings dicts."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += differing(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out
