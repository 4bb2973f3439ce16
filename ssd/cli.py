"""What the ssd command lines share: argument types that check their range with `ssd.checks`
(argparse then reports `argument --lr: must be a finite number > 0, got -1.0` with exit code 2),
checks of paths and devices, and `one_line_errors`, which turns a user error into `PROG: error: …`
on stderr and exit code 2.
"""
import argparse
import functools
import os
import sys

import torch

from .checks import check_integer, check_real

# Errors of bad input (a file, a value): reported in one line. Anything else keeps its traceback.
USER_ERRORS = (OSError, ValueError)


def _checked(convert, check):
    """argparse type: `check(convert(text))`, or `check(text)` where the text is no number, so that the
    check (`ssd.checks`) judges and words every bad value; its ValueError becomes argparse's error."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = text
        try:
            return check(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def integer(low: int, high: int | None = None):
    """argparse type: an integer ≥ low (and ≤ high, if given) (`check_integer`)."""
    return _checked(int, lambda value: check_integer(value, "", low, high))


def real(within, interval: str):
    """argparse type: a finite number for which within(value) holds (`check_real`); `interval` says
    which, e.g. real(lambda v: v > 0, "> 0") or real(lambda v: 0 <= v < 1, "in [0, 1)")."""
    return _checked(float, lambda value: check_real(value, "", within, interval))


def check_device(parser: argparse.ArgumentParser, text: str) -> None:
    """parser.error unless `text` names a torch device that exists here."""
    try:
        device = torch.device(text)
    except RuntimeError as e:
        parser.error(f"--device {text!r}: {e}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {text}: CUDA is not available on this machine (use --device cpu)")


def check_folder(parser: argparse.ArgumentParser, option: str, path) -> None:
    """parser.error if `path` (to be created or reused as a folder) is an existing file."""
    if path is not None and os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"{option} {path} is a file, not a directory")


def check_output_file(parser: argparse.ArgumentParser, option: str, path) -> None:
    """parser.error if the file `path` cannot be written: a folder, or its folder is missing."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        parser.error(f"{option} {path} is a directory, not a file")
    if not os.path.isdir(folder):
        parser.error(f"{option} {path}: folder {folder} does not exist")


def one_line_errors(prog: str, interrupted: str = ""):
    """Decorator of a command line's main(argv) -> int: a USER_ERRORS exception becomes
    `PROG: error: message` on stderr and exit code 2; Ctrl-C prints `PROG: interrupted` (and the
    hint `interrupted`) and returns 130. main's own return value (None counts as 0) is passed on."""
    def decorate(main):
        @functools.wraps(main)
        def wrapped(argv=None) -> int:
            try:
                code = main(argv)
            except USER_ERRORS as e:
                print(f"{prog}: error: {e}", file=sys.stderr, flush=True)
                return 2
            except KeyboardInterrupt:
                print(f"{prog}: interrupted" + (f"; {interrupted}" if interrupted else ""), file=sys.stderr)
                return 130
            return 0 if code is None else code
        return wrapped
    return decorate
