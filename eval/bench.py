"""`python -m eval.bench [lrp|deeplift|lime|shap|drise|gradcam|all] [--device D] [--width W]`: what
each method costs, with the model's own forward (+ backward) as the unit, so that the numbers mean
the same on any machine.

- LRP: time of one `lrp.explain` target / time of one plain gradient map (forward, then backward of
  the target's logit to the input, parameters frozen); its peak memory / the gradient map's; time
  of 8 targets / time of 1 (the bench's targets: the best detections, all on conv4_3 for the
  random model), and of 8 targets at the centre of each source in turn (conv4_3 … conv12, whose
  fields cover most of the image) / 1. Default model: the full-width SSD512 with random weights.
- DeepLIFT: the same, with the gradient map of a batch of two images (input and reference) as the
  unit (one DeepLIFT pass carries both).
- Grad-CAM: the rows of LRP (one forward pass without a graph, then each target's head backward).
- LIME, SHAP, D-RISE: explanation time / time of the same number of forward passes of the same model
  alone (batched the same way, no explanation code: plain windowed passes of the fixed score for LIME
  and SHAP, without the incremental steps that SHAP's walks take, full passes for D-RISE's matched
  score: below 1 where the incremental steps save more than the explanation code costs); time per
  explanation for 1 and for 8 targets (ratio); for SHAP with and without receptive-field pruning,
  and the forward passes of each.
  Default model: the embedded one (`ssd.load("shapes")`), else a random width-1/8 SSD512.

Times are medians of --repeats rounds after one warm-up run, the cases of a method timed in turn
within each round, CUDA synchronised. Peak memory: on CUDA torch.cuda.max_memory_allocated above
what was allocated before; on the CPU the growth of the peak resident set (VmHWM, reset before the
call) over the resident set before it, each case in a fresh subprocess.
"""
import argparse
import json
import statistics
import subprocess
import sys

import torch

import ssd
from eval import methods as registry
from eval.run.allocator import keep_freed_memory
from eval.run.cli import Parser, integer, number
from eval.run.samples import SYNTHETIC_SEED
from eval.run.timing import device_name, timed
from ssd.cli import check_device

METHODS = ("lrp", "deeplift", "lime", "shap", "drise", "gradcam")
BACKWARD = ("lrp", "deeplift", "gradcam")           # timed against the gradient map; the rest against passes
TARGETS = 8


def build_model(method: str, width: float | None, device) -> torch.nn.Module:
    """The benchmarked model with frozen parameters (see module docstring for the defaults)."""
    if method in BACKWARD:
        torch.manual_seed(0)
        model = ssd.SSD(ssd.COCO_SSD512.replace(width=1.0 if width is None else width))
    elif width is None:
        try:
            model = ssd.load("shapes")
        except FileNotFoundError:
            torch.manual_seed(0)
            model = ssd.SSD(ssd.SHAPES_SSD512)
    else:
        torch.manual_seed(0)
        model = ssd.SSD(ssd.SHAPES_SSD512.replace(width=width))
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def bench_input(model, device) -> torch.Tensor:
    """A synthetic test image (held-out seed) as model input [1,3,S,S]."""
    from ssd.data import make_image
    image, _ = make_image(SYNTHETIC_SEED, 0, model.config.size)
    return ssd.preprocess(image, model.config, device=device)


def bench_targets(model, x, k: int = TARGETS) -> list:
    """k targets: the model's best detections, filled up with priors spread over all sources."""
    found = ssd.targets(ssd.detect(model, x, score_threshold=0.01)[0])[:k]
    n_priors = len(ssd.priors(model.config))
    spread = [ssd.Target(int(p), 1 + i % (model.config.num_classes - 1))
              for i, p in enumerate(torch.linspace(0, n_priors - 1, k).long().tolist())]
    return (found + spread)[:k]


def source_targets(model, k: int = TARGETS) -> list:
    """k targets whose priors lie in the centre cell of each source in turn (conv4_3, fc7, the extras):
    the case where later targets' receptive fields cover most of the image."""
    config, start, centres = model.config, 0, []
    for f, a in zip(config.feature_maps, config.boxes_per_location):
        centres.append(start + ((f // 2) * f + f // 2) * a)
        start += f * f * a
    return [ssd.Target(centres[i % len(centres)], 1 + i % (config.num_classes - 1)) for i in range(k)]


def gradient_map(model, x, target) -> torch.Tensor:
    """The unit of the backward methods: d logit_target / d x for every row of x [B,3,H,W]."""
    x = x.detach().clone().requires_grad_(True)
    logits, _ = model(x)
    logits[:, target.prior, target.label].sum().backward()
    return x.grad


def explain(method: str, model, x, targets, segments=None, **options) -> torch.Tensor:
    """The method with the paper's settings (eval.methods.PAPER); options as in Method.explain."""
    return registry.get(method, registry.PAPER).explain(model, x, targets, segments, **options)


def median_times(cases: dict, device, repeats: int, warm_up: bool = True) -> dict:
    """Median seconds of each case {name: call} over `repeats` rounds (after one warm-up call each).
    Within a round the cases run in turn, so that a drift of the machine's speed hits all alike."""
    if warm_up:
        for fn in cases.values():
            timed(fn, device)
    runs = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            runs[name].append(timed(fn, device)[1])
    return {name: statistics.median(r) for name, r in runs.items()}


# ---- peak memory ---------------------------------------------------------------------------------

def memory_case(case: str, method: str, model, x, target):
    """The call whose peak memory is measured: "unit" (the gradient map) or "method" (one target)."""
    if case == "unit":
        batch = x.expand(2, -1, -1, -1) if method == "deeplift" else x
        return lambda: gradient_map(model, batch, target)
    return lambda: explain(method, model, x, [target])


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def peak_memory(case: str, method: str, width, device, target) -> int:
    """Bytes the case needs above what was allocated before it (see module docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        model = build_model(method, width, device)
        fn = memory_case(case, method, model, bench_input(model, device), target)
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    # CPU: a fresh process per case, so that no earlier peak (or freed heap) hides this one
    cmd = [sys.executable, "-m", "eval.bench", method, "--memory-case", case, "--device", "cpu",
           "--target", f"{target.prior},{target.label}"]
    if width is not None:
        cmd += ["--width", str(width)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_bytes"]


def _memory_child(case: str, method: str, width, target: str) -> None:
    prior, label = (int(v) for v in target.split(","))
    model = build_model(method, width, "cpu")
    fn = memory_case(case, method, model, bench_input(model, "cpu"), ssd.Target(prior, label))
    before = _status_bytes("VmRSS")
    try:   # reset the peak resident set to the current one (Linux ≥ 4.0), else the process's peak counts
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    fn()
    print(json.dumps({"peak_bytes": _status_bytes("VmHWM") - before}))


# ---- the benchmarks ------------------------------------------------------------------------------

def bench_backward(method: str, width, device, repeats: int) -> list[tuple]:
    """Rows (quantity, value, goal) for LRP, DeepLIFT or Grad-CAM."""
    model = build_model(method, width, device)
    x = bench_input(model, device)
    targets, sources = bench_targets(model, x), source_targets(model)
    unit_x = x.expand(2, -1, -1, -1) if method == "deeplift" else x
    t = median_times({"unit": lambda: gradient_map(model, unit_x, targets[0]),
                      "one": lambda: explain(method, model, x, targets[:1]),
                      "eight": lambda: explain(method, model, x, targets),
                      "sources": lambda: explain(method, model, x, sources)}, device, repeats)
    unit, one, eight, spread = t["unit"], t["one"], t["eight"], t["sources"]
    unit_mem = peak_memory("unit", method, width, device, targets[0])
    method_mem = peak_memory("method", method, width, device, targets[0])
    unit_name = "gradient map of 2 images" if method == "deeplift" else "gradient map"
    goal_time, goal_memory = {"deeplift": ("≤ 1.3", "≤ 2.0"), "lrp": ("≤ 1.8", "≤ 2.0")}.get(method, ("—", "—"))
    return [(f"time of 1 target / {unit_name}", one / unit, goal_time),
            (f"peak memory of 1 target / {unit_name}'s", method_mem / max(unit_mem, 1), goal_memory),
            (f"time of {len(targets)} targets / 1 target", eight / one, "≤ 3.0"),
            (f"time of {len(sources)} targets, one per source in turn / 1 target", spread / one, "—"),
            (f"({unit_name}: {unit * 1e3:.0f} ms, {unit_mem / 2**20:.0f} MiB; 1 target {one * 1e3:.0f} ms, "
             f"{method_mem / 2**20:.0f} MiB; {len(targets)} targets {eight * 1e3:.0f} ms, one per source "
             f"{spread * 1e3:.0f} ms)", None, "")]


def forward_passes(score, x, n: int, batch_size: int):
    """A call running the score function alone on n inputs, batch_size at a time (no explanation code):
    the same number of evaluations LIME and SHAP make, each a plain windowed pass (perturb.WindowedScore
    with incremental=False: no step that only recomputes what changed), or D-RISE (the model's full pass)."""
    batch = x.expand(batch_size, -1, -1, -1).contiguous()

    def run():
        with torch.no_grad():
            for start in range(0, n, batch_size):
                score(batch[:min(batch_size, n - start)])
    return run


def bench_perturbation(method: str, width, device, repeats: int, batch_size: int | None = None) -> list[tuple]:
    """Rows (quantity, value, goal) for LIME, SHAP or D-RISE.

    SHAP is timed with receptive-field pruning (its default) and without: pruned, a call costs the
    passes of the union of its targets' fields, so 8 targets may cost more than 1 but never more
    than 1 target unpruned; unpruned, every call costs the same 2 + M·(S−1) passes.
    """
    import perturb
    batch_size = perturb.default_batch_size(device) if batch_size is None else batch_size
    model = build_model(method, width, device)
    x = bench_input(model, device)
    targets = bench_targets(model, x)
    k = len(targets)
    segments = None if method == "drise" else perturb.segments_of(x, model.config)

    def case(n_targets: int, **extra):
        return lambda: explain(method, model, x, targets[:n_targets], segments=segments,
                               batch_size=batch_size, **extra)
    cases = {"1": case(1), "k": case(k)}
    if method == "shap":
        cases |= {"1 unpruned": case(1, prune=False), "k unpruned": case(k, prune=False)}
    passes = {}
    for name, fn in cases.items():          # warm-up runs, which also count each case's passes
        with perturb.count_passes() as counted:
            fn()
        passes[name] = counted.images
    # plain passes: the fixed score's incremental steps would skip the repeated input of `forward_passes`
    alone = model if method == "drise" else perturb.WindowedScore(model, targets, incremental=False)
    cases["alone"] = forward_passes(alone, x, passes["k"], batch_size)
    cases["alone"]()
    t = median_times(cases, device, repeats, warm_up=False)

    pk, p1 = passes["k"], passes["1"]
    parts = f"{p1} masks" if segments is None else f"{int(segments.max()) + 1} superpixels"
    about = f"passes alone {t['alone']:.2f} s; {parts}; batches of {batch_size}"
    rows = [(f"time / same {pk} forward passes alone ({k} targets)", t["k"] / t["alone"], "≤ 1.10")]
    if method in ("lime", "drise"):
        return rows + [(f"time of {k} targets / 1 target", t["k"] / t["1"], "≤ 1.10"),
                       (f"(1 target: {t['1']:.2f} s, {p1} passes; {k} targets: {t['k']:.2f} s, {pk} passes; "
                        f"{about})", None, "")]
    qk = passes["k unpruned"]
    if passes["1 unpruned"] != qk:
        raise RuntimeError(f"unpruned SHAP cost {passes['1 unpruned']} passes for 1 target but {qk} for {k}")
    return rows + [
        (f"time of {k} targets / 1 target, without pruning", t["k unpruned"] / t["1 unpruned"], "≤ 1.10"),
        (f"time of {k} targets / 1 target, with pruning (passes {pk} / {p1})", t["k"] / t["1"], "union of the fields"),
        (f"time of {k} targets with pruning / 1 target without", t["k"] / t["1 unpruned"], "≤ 1.10"),
        (f"forward passes with / without receptive-field pruning ({k} targets)", pk / qk, f"{pk} / {qk}"),
        (f"(pruned: 1 target {t['1']:.2f} s, {p1} passes; {k} targets {t['k']:.2f} s, {pk} passes; unpruned: "
         f"1 target {t['1 unpruned']:.2f} s, {k} targets {t['k unpruned']:.2f} s, {qk} passes each; {about})", None, "")]


def main(argv=None) -> int:
    p = Parser(prog="python -m eval.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("method", nargs="?", default="all", help=f"{', '.join(METHODS)} or all")
    p.add_argument("--device", default="cpu")
    p.add_argument("--width", type=number("> 0"), default=None,
                   help="width multiplier of the SSD512 (default: 1.0 for LRP/DeepLIFT/Grad-CAM, the embedded model "
                        "for LIME/SHAP/D-RISE)")
    p.add_argument("--repeats", type=integer(1), default=3, help="timed rounds, median taken (default 3)")
    p.add_argument("--memory-case", choices=("unit", "method"), help=argparse.SUPPRESS)
    p.add_argument("--target", help=argparse.SUPPRESS)
    try:
        a = p.parse_args(argv)
    except SystemExit as e:            # --help (0) or a bad option (2, said in one line)
        return e.code
    if a.method not in METHODS + ("all",):
        print(f"eval.bench: error: unknown method {a.method!r}: choose from {', '.join(METHODS)} or all",
              file=sys.stderr)
        return 2
    if a.memory_case:
        _memory_child(a.memory_case, a.method, a.width, a.target)
        return 0
    check_device(p, a.device)
    keep_freed_memory()        # timed as the eval runs run (eval.run.allocator); not the memory children
    print(f"# eval.bench on {device_name(a.device)}, torch {torch.__version__}, median of {a.repeats} runs")
    print("| method | quantity | value | goal |\n|---|---|---|---|")
    for method in METHODS if a.method == "all" else (a.method,):
        rows = (bench_backward if method in BACKWARD else bench_perturbation)(
            method, a.width, a.device, a.repeats)
        for quantity, value, goal in rows:
            print(f"| {method} | {quantity} | {'' if value is None else f'{value:.2f}'} | {goal} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
