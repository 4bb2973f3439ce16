"""One runner for every experiment: an experiment says what it measures, the runner does the rest once.

An experiment (a subclass of `Experiment`) declares

    name, layout                  the command (`python -m eval.<name>`) and what it owns in --out
    defaults, add_arguments, check   its options (the shared ones come from eval.run.cli)
    settings(ctx) -> dict         everything that determines its numbers (hashed)
    units(ctx) -> [unit]          its units of work, the same list on every rank
    expected(ctx, unit) -> {key: (unit id, [array names]) | None}
                                  the records a unit must leave, each with the arrays it needs
    cost(ctx, unit, missing) -> int   the unit's work still to do, in `unit_name`s (progress, ETA)
    weight(ctx, unit) -> float    the unit's relative run time, for sharing units among ranks (default 1)
    measure(ctx, unit, missing)   computes the unit's missing records (appends them, saves arrays)
    summarise(ctx) -> [paths]     on rank 0, once every record is there: tables, figures, its report
                                  section; returns the files written (relative to --out)

and `run` owns everything else: the arguments and their checks (one line, exit code 2); loading and
freezing the model; the settings hash; the folder's lock and manifest (a folder holds one settings
of an experiment: other settings are refused, never mixed); --fresh (what this experiment wrote, and
nothing else) and stale outputs; which keys are done (record written and its arrays readable);
sharding under torchrun (`shard`: the heaviest unit first, each to the rank with the least work;
each rank appends to its own part file; rank 0 merges); progress and ETA; Ctrl-C (exit code 130, saying how to resume); the completeness
check; and, on rank 0, the summary and the report page (eval.report.page stitches every section).
"""
import os
import signal
import sys
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from eval.run import cli
from eval.run.allocator import keep_freed_memory
from eval.store.files import differing, lock_folder, manifest, update_manifest
from eval.store import Layout, Store, read, settings_hash
from eval.run.timing import Progress, device_name

USER_ERRORS = (OSError, ValueError)       # reported in one line; anything else keeps its traceback


class IncompleteRun(ValueError):
    """Records are missing at the end of a run, so no summary may be written."""


@dataclass
class Context:
    """What every unit of a run shares. Experiments may keep their own state in `state`."""

    experiment: "Experiment"
    args: object
    device: torch.device
    rank: int = 0
    world: int = 1
    log: object = field(default_factory=lambda: sys.stderr)
    model: object = None
    settings: dict = field(default_factory=dict)
    digest: str = ""
    store: Store = None               # this rank's records (a part file under torchrun)
    main_store: Store = None          # the records file itself
    units: list = field(default_factory=list)
    progress: Progress = None
    state: dict = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return Path(self.args.out)

    def say(self, text: str) -> None:
        print(f"{self.experiment.prog}: {text}", file=self.log, flush=True)


class Experiment:
    """The base of every experiment (module docstring); subclasses fill in the hooks."""

    name = ""
    layout = Layout()
    unit_name = "samples"
    defaults: dict = {}
    legacy_kinds: tuple = ()          # kinds this experiment wrote into samples.jsonl before it had its own file
    description = ""

    @property
    def prog(self) -> str:
        return f"eval.{self.name}"

    def add_arguments(self, parser) -> None:
        pass

    def check(self, args) -> None:
        """Checks of the experiment's own options (ValueError naming the option)."""

    def load_model(self, ctx):
        import ssd
        return ssd.load(ctx.args.weights, device=ctx.device)

    def settings(self, ctx) -> dict:
        raise NotImplementedError

    def units(self, ctx) -> list:
        raise NotImplementedError

    def expected(self, ctx, unit) -> dict:
        raise NotImplementedError

    def cost(self, ctx, unit, missing: set) -> int:
        return 1

    def weight(self, ctx, unit) -> float:
        return 1.0

    def prepare(self, ctx, unit) -> None:
        """Called once, before the first unit this process measures (e.g. an untimed warm-up)."""

    def measure(self, ctx, unit, missing: set) -> None:
        raise NotImplementedError

    def summarise(self, ctx) -> list[str]:
        raise NotImplementedError

    def status(self, ctx) -> str:
        """Extra text for the progress line."""
        return ""

    def direct(self, args) -> bool:
        """A mode of the command that keeps no records (eval.hans --check-only): run it and return
        True, or return False for the experiment."""
        return False

    # --- the command line ---------------------------------------------------------------------
    def parser(self) -> cli.Parser:
        p = cli.Parser(prog=f"python -m {self.prog}", description=self.description)
        cli.add_arguments(p, {"out": self.name, **self.defaults})
        self.add_arguments(p)
        return p

    def main(self, argv=None) -> int:
        """`python -m eval.<name>`: run, errors in one line (exit code 2), Ctrl-C exit code 130."""
        try:
            args = self.parser().parse_args(argv)
        except SystemExit as e:            # --help (0) or a bad option (2, said in one line)
            return e.code
        try:
            cli.check(args)
            self.check(args)
            if not self.direct(args):
                if "," in args.weights:
                    raise ValueError(f"--weights {args.weights} names several models: {self.prog} explains one "
                                     "model (eval.compare compares several)")
                return launch(self, args)
        except USER_ERRORS as e:            # the same prefix as argparse's errors of the command
            print(f"python -m {self.prog}: error: {e}", file=sys.stderr, flush=True)
            return 2
        except KeyboardInterrupt:
            print(f"{self.prog}: interrupted; the finished records are kept in {args.out}: rerun the same "
                  "command to resume", file=sys.stderr, flush=True)
            return 130
        return 0


# --- the run ------------------------------------------------------------------------------------

def launch(experiment: Experiment, args) -> int:
    """`run`, in this process or (--processes N, not already under torchrun) in N local worker
    processes sharding the units as torchrun's ranks do (gloo on localhost); returns the exit code."""
    if args.processes <= 1 or "WORLD_SIZE" in os.environ:
        run(experiment, args)
        return 0
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spawn = mp.get_context("spawn")
    workers = [spawn.Process(target=_worker, args=(experiment, args, rank, args.processes, port))
               for rank in range(args.processes)]
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if on_main_thread else None
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.join()
    except KeyboardInterrupt:
        for w in workers:
            w.join(timeout=30)
        raise
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
        for w in workers:               # the launcher stops (SIGTERM, an error): no worker runs on alone
            if w.is_alive():
                w.terminate()
                w.join()
    codes = [w.exitcode for w in workers]
    return 0 if all(c == 0 for c in codes) else (130 if 130 in codes else 2)


def _terminated(signum, frame):
    """SIGTERM in `launch`: leave through its `finally`, which stops the workers (exit code 143)."""
    raise SystemExit(128 + signum)


def _worker(experiment: Experiment, args, rank: int, world: int, port: int) -> None:
    """One of `launch`'s processes: rank `rank` of `world`, its share of the CPU threads."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or world) // world))
    keep_freed_memory()
    try:
        run(experiment, args)
    except USER_ERRORS as e:
        if rank == 0:
            print(f"python -m {experiment.prog}: error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)

def setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device) under torchrun (gloo on CPU, NCCL on CUDA); (0, 1, device) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def _on_rank0(ctx: Context, fn):
    """fn() on rank 0; its user error, if any, raised on every rank (so that none waits forever)."""
    error = None
    if ctx.rank == 0:
        try:
            fn()
        except USER_ERRORS as e:
            error = e
    if ctx.world > 1:
        box = [None if error is None else f"{error}"]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None and error is None:
            error = ValueError(box[0])
    if error is not None:
        raise error


def _barrier(ctx: Context) -> None:
    if ctx.world > 1:
        dist.barrier()


def run(experiment: Experiment, args) -> Context:
    """The whole experiment (module docstring); returns its context."""
    device = torch.device(args.device)
    rank, world, device = setup_distributed(device)
    ctx = Context(experiment, args, device, rank, world)
    try:
        model = experiment.load_model(ctx)
        for p in model.parameters():                 # explanations need gradients of the input only
            p.requires_grad_(False)
        ctx.model = model
        ctx.settings = experiment.settings(ctx)
        ctx.digest = settings_hash(ctx.settings)
        holder = f"python -m {experiment.prog} --out {args.out}"
        with lock_folder(ctx.out, holder) if rank == 0 else nullcontext():
            _on_rank0(ctx, lambda: _prepare_folder(ctx))
            ctx.main_store = Store(ctx.out, ctx.digest, layout=experiment.layout)
            ctx.store = Store(ctx.out, ctx.digest, None if world == 1 else rank, experiment.layout)
            ctx.units = experiment.units(ctx)
            _measure_mine(ctx)
            _barrier(ctx)
            _on_rank0(ctx, lambda: _finish(ctx))
            _barrier(ctx)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return ctx


def _prepare_folder(ctx: Context) -> None:
    """Rank 0, holding the lock: --fresh, refusal of other settings, parts of an interrupted run,
    stale outputs, the notice about records of an earlier layout; the manifest entry."""
    exp, out = ctx.experiment, ctx.out
    store = Store(out, ctx.digest, layout=exp.layout)
    entry = manifest(out).get(exp.name, {})
    if ctx.args.fresh:
        store.clear()
        _remove_outputs(out, entry.get("outputs", []))
        entry = {}
    else:
        others = {r.get("settings_hash") for r in store.all_records()} - {ctx.digest}
        if others or (entry.get("outputs") and entry.get("settings_hash") != ctx.digest):    # results of others
            changed = differing(entry.get("settings", {}), ctx.settings) if entry.get("settings") else []
            what = f" ({', '.join(changed)} differ)" if changed else ""
            raise ValueError(f"{out} holds {exp.prog} results of other settings{what}: a folder holds one "
                             f"settings of an experiment; use another --out, or --fresh to replace them")
        store.merge_parts()
        _remove_outputs(out, entry.get("outputs", []))          # stale: they must not pass for this run's
    if exp.legacy_kinds and exp.layout.records != Layout().records:
        old = [r for r in read(out / Layout().records) if r.get("kind") in exp.legacy_kinds]
        if old:
            ctx.say(f"{len(old)} {exp.prog} records in {out / Layout().records} were written before each "
                    f"experiment had its own files; they are not resumed (they stay where they are)")
    update_manifest(out, exp.name, settings_hash=ctx.digest, settings=ctx.settings, outputs=[])
    _write_page(out)


def _remove_outputs(out: Path, names) -> None:
    for name in names:
        path = out / name
        if path.is_file() or path.is_symlink():
            path.unlink()


def _write_page(out: Path) -> None:
    from eval.report.page import write_page
    write_page(out)


def _needs(ctx: Context, unit) -> dict:
    return ctx.experiment.expected(ctx, unit)


def _missing(ctx: Context, store: Store, unit) -> set:
    needs = _needs(ctx, unit)
    return set(needs) - store.done(needs, needs.get)


def shard(weights: list[float], world: int) -> list[int]:
    """The rank of each unit: the heaviest first, each to the rank with the least weight so far
    (longest-processing-time first: the slowest rank within 4/3 of the best split). Ties go to the
    earlier unit and the lower rank, so every rank computes the same split; equal weights give unit
    i to rank i mod world."""
    load, rank_of = [0.0] * world, [0] * len(weights)
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        rank = min(range(world), key=lambda r: (load[r], r))
        rank_of[i], load[rank] = rank, load[rank] + weights[i]
    return rank_of


def _measure_mine(ctx: Context) -> None:
    exp = ctx.experiment
    ranks = shard([exp.weight(ctx, u) for u in ctx.units], ctx.world)
    mine = [u for u, r in zip(ctx.units, ranks) if r == ctx.rank]
    todo = [(u, _missing(ctx, ctx.main_store, u)) for u in mine]
    total = sum(exp.cost(ctx, u, set(_needs(ctx, u))) for u in mine)
    left = sum(exp.cost(ctx, u, m) for u, m in todo if m)
    ctx.progress = Progress(exp.prog, total, exp.unit_name, ctx.rank, ctx.world, done=total - left, log=ctx.log)
    ctx.progress.say(f"{total} {exp.unit_name} in {len(mine)} units on {device_name(ctx.device)}, "
                     f"{total - left} already done, {left} to do, settings {ctx.digest}")
    prepared = False
    for unit, missing in todo:
        if not missing:
            continue
        if not prepared:
            exp.prepare(ctx, unit)
            prepared = True
        exp.measure(ctx, unit, missing)
    ctx.progress.finish()


def _finish(ctx: Context) -> None:
    """Rank 0: merge the parts, check that every record is there, summarise, write the manifest and
    the report page."""
    exp, store = ctx.experiment, ctx.main_store
    if ctx.world > 1:
        store.merge_parts()
    lost = sorted(k for u in ctx.units for k in _missing(ctx, store, u))
    if lost:
        raise IncompleteRun(f"{len(lost)} records missing after the run (e.g. {lost[:3]}): no summary written")
    written = exp.summarise(ctx)
    update_manifest(ctx.out, exp.name, outputs=sorted(set(written)))
    _write_page(ctx.out)
