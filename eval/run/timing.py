"""Wall-clock timing that is honest on CUDA (synchronised) and on the CPU."""
import time

import torch


def synchronize(device) -> None:
    """Wait for queued CUDA work on `device` (no-op on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    """(fn(), seconds) with the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start


def device_name(device) -> str:
    """A readable name of the device, e.g. 'cuda: NVIDIA H100' or 'cpu: 2 threads'."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"cpu: {threads} thread{'' if threads == 1 else 's'}"


def format_seconds(seconds: float) -> str:
    """12s, 3m05s, 1h02m."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class PassCounter:
    """Counts the images a model is run on (a forward pre-hook): the cost unit of LIME, SHAP and
    pixel flipping. `remove()` detaches it."""

    def __init__(self, model):
        self.images = 0
        self.handle = model.register_forward_pre_hook(self._count)

    def _count(self, module, args):
        self.images += args[0].shape[0]

    def remove(self):
        self.handle.remove()


class Progress:
    """Work done / total, rate and ETA on stderr, one line per step:

        eval.compare[0/1]: 5/24 samples, 1.21 samples/min, ETA 15m42s; removal passes run 980, skipped 1,204

    `prog` names the command, (rank, world) the process under torchrun, `unit` the work ("samples",
    "explanations"); `step(n, extra)` adds n units done (extra: text appended to the line)."""

    def __init__(self, prog: str, total: int, unit: str, rank: int = 0, world: int = 1, done: int = 0, log=None):
        import sys
        self.prog, self.total, self.unit, self.log = f"{prog}[{rank}/{world}]", total, unit, log or sys.stderr
        self.already, self.done, self.start = done, 0, time.perf_counter()

    def say(self, text: str) -> None:
        print(f"{self.prog}: {text}", file=self.log, flush=True)

    def step(self, n: int, extra: str = "") -> None:
        self.done += n
        elapsed = time.perf_counter() - self.start
        left = self.total - self.already - self.done
        rate = f"{self.done / elapsed * 60:.2f} {self.unit}/min, " if elapsed > 0 and self.done else ""
        eta = format_seconds(elapsed / self.done * left) if self.done else "?"
        self.say(f"{self.already + self.done}/{self.total} {self.unit}, {rate}ETA {eta}" + (f"; {extra}" if extra else ""))

    def finish(self) -> None:
        if self.done:
            self.say(f"{self.done} {self.unit} in {format_seconds(time.perf_counter() - self.start)}")
