"""`report.html`: one self-contained page (images embedded as data URIs) stitched from the sections
the experiments wrote into an output folder. The page imports no experiment: each experiment writes
its own fragment, `OUT/sections/<experiment>.html`, when it finishes, and the page shows every
fragment found in OUT/sections/ and in OUT/*/sections/ (an eval.sanity or eval.hans run in a subfolder
of an eval.compare folder), eval.compare first, then eval.sanity, eval.hans and any other.

`python -m eval.report OUT` stitches the page again from what the folder holds; to redraw an
experiment's figures and section, rerun its command (every record is found, nothing is recomputed).
"""
import argparse
import base64
import sys
from pathlib import Path

from eval.store.files import write_text

ORDER = ("compare", "sanity", "hans")
STYLE = """
body{font-family:sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee} td:first-child,th:first-child{text-align:left}
figure{margin:1em 0} figcaption{font-size:.9em;color:#444;max-width:60em}
img{max-width:100%} .sample{border-top:1px solid #ccc;padding-top:.5em} li{margin:.2em 0}
"""


def data_uri(png_path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")


def section_path(out_dir, experiment: str) -> Path:
    """Where an experiment writes its fragment of the page."""
    return Path(out_dir) / "sections" / f"{experiment}.html"


def sections(out_dir) -> list[Path]:
    """The fragments of the folder and of its subfolders, in page order."""
    out_dir = Path(out_dir)
    found = sorted(out_dir.glob("sections/*.html")) + sorted(out_dir.glob("*/sections/*.html"))
    return sorted(found, key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem,
                                        len(p.relative_to(out_dir).parts)))


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n<title>{title}</title>\n'
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>")


def write_page(out_dir) -> str:
    """Write `out_dir/report.html` from the fragments found (module docstring); returns its path."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"no such output folder: {out_dir}")
    found = sections(out_dir)
    body = ["<h1>LRP, DeepLIFT, LIME and SHAP on SSD512: report</h1>"]
    if not found:
        body.append("<p>No finished experiment in this folder yet: a run writes its section when it completes "
                    "(rerun the same command to finish an interrupted one).</p>")
    body += [p.read_text(encoding="utf-8") for p in found]
    path = out_dir / "report.html"
    write_text(path, page("XAI for SSD: report", "\n".join(body)))
    return str(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.report",
                                description="Stitch report.html of an output folder from its experiments' sections.")
    p.add_argument("out", help="the --out folder of python -m eval.compare / sanity / hans")
    args = p.parse_args(argv)
    if not Path(args.out).is_dir():
        print(f"eval.report: error: no such output folder: {args.out}", file=sys.stderr)
        return 2
    print(f"eval.report: wrote {write_page(args.out)}", file=sys.stderr)
    return 0
