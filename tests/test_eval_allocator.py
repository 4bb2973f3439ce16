"""eval.run.allocator: with glibc's thresholds raised, a freed large block stays with the process
(the next forward pass reuses it instead of faulting in fresh pages); without, glibc gives it back."""
import subprocess
import sys

import pytest

CHILD = """
import sys, torch
from eval.run.allocator import keep_freed_memory
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
block = torch.ones(64 * 2 ** 20 // 4)          # 64 MiB, above glibc's largest mmap threshold (32 MiB)
before_free = rss()
del block
print(applied, before_free - rss())
"""


def _returned(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    applied, returned = out.stdout.split()
    return applied, int(returned)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status; glibc's mallopt")
def test_freed_blocks_stay_with_the_process():
    applied, returned = _returned("keep")
    if applied != "True":
        pytest.skip("not glibc: keep_freed_memory is a no-op here")
    assert returned < 8 * 2 ** 20                   # the 64 MiB stay resident for reuse
    _, returned_by_default = _returned("plain")
    assert returned_by_default > 48 * 2 ** 20       # glibc's default gives them back at once
