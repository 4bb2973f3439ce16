"""glibc's allocator set to keep freed memory, for processes that run many forward passes.

A forward pass allocates and frees activations of 8–16 MB on the CPU (the first block of SSD512 at
512×512). glibc's malloc serves blocks above its mmap threshold (adaptive, at most 32 MiB) with
fresh pages from the kernel and returns them on free, and trims the top of its heap when more than
M_TRIM_THRESHOLD is free there: either way the next pass faults in and zeroes every page again.
Raising both thresholds to 1 GiB makes freed blocks come back from the heap instead, so each pass
reuses the memory of the one before (the embedded SSD512's forward pass, 1 thread, batches of 2:
about 17 % faster, the same values; `python -m eval.bench` and the eval runs measure with it). The
cost: memory a process has freed is not given back to the system until it exits.

Called once per process by eval's entry points (`eval.run.cli.check`, each `--processes` worker,
`eval.bench`); a no-op where the C library is not glibc.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3     # mallopt's parameters (glibc's malloc.h)
THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds to 1 GiB (module docstring); True where it was applied."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):       # not glibc (macOS, Windows, musl without mallopt)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
