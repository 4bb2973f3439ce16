"""The machinery every experiment runs on (its output folder: eval.store).

    runner    `Experiment` (what an experiment declares) and `run` (everything else, written once:
              model, settings hash, lock, resume, --fresh, progress, Ctrl-C, completeness, torchrun)
    cli       the command-line options every command shares, declared and checked once
    samples   the images and the deterministic selection of detections to explain
    timing    honest wall-clock timing (CUDA synchronised), progress and ETA
"""
