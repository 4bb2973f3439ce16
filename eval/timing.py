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
    return f"cpu: {torch.get_num_threads()} threads"


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
