"""The machinery every experiment runs on.

    runner    `Experiment` (what an experiment declares) and `run` (everything else, written once:
              model, settings hash, lock, resume, --fresh, progress, Ctrl-C, completeness, torchrun)
    store     an output folder: each experiment's records and arrays, the lock, the manifest
    cli       the command-line options every command shares, declared and checked once
    samples   the images and the deterministic selection of detections to explain
    timing    honest wall-clock timing (CUDA synchronised), progress and ETA
"""
