"""A table once: one value (`Table`) rendered to markdown, HTML and JSON by one renderer.

A table has a name (its id in the page and in JSON), a title, columns and rows. A row is a label
followed by one value per further column; a value is a *cell* {"mean", "ci95": [lo, hi], "n",
"n_images", …} (eval.stats), a paired difference {"mean_diff", …}, a number, a string or None. A
column may name a metric of `eval.metrics`: its header then carries the metric's direction
(↑ higher is better, ↓ lower is better), read from the registry, never typed into the header.

Cells are written by one formatter, `fmt_cell`: "mean [lo, hi] (n=…, k images)". In HTML every
value that is not text also carries its exact value as JSON in `data-value`, so a reader can
recompute anything shown.
"""
import html
import json
import math
from dataclasses import dataclass, field


def fmt_cell(cell, decimals: int = 3, scale: float = 1.0, unit: str = "", n_row: int | None = None) -> str:
    """'mean [lo, hi] (n=…, k images)' of a cell, '—' when empty. With `n_row`, n is shown only where
    it differs from the row's n (compact tables that give n in a column of their own)."""
    if not cell or cell.get("mean", cell.get("mean_diff")) is None:
        return "—"
    mean = cell.get("mean", cell.get("mean_diff")) * scale
    text = f"{mean:.{decimals}f}{unit}"
    if cell.get("ci95"):
        lo, hi = (v * scale for v in cell["ci95"])
        text += f" [{lo:.{decimals}f}, {hi:.{decimals}f}]"
    if n_row is None:
        text += f" (n={cell['n']}" + (f", {cell['n_images']} images" if cell.get("n_images") else "") + ")"
    elif cell.get("n") != n_row:
        text += f" (n={cell['n']})"
    return text + (f", {cell['undefined']} undefined" if cell.get("undefined") else "")


def fmt_value(value, decimals: int = 3) -> str:
    """Any table value as text: a cell by `fmt_cell`, a float to `decimals`, None as '—'."""
    if isinstance(value, dict) and ("mean" in value or "mean_diff" in value):
        return fmt_cell(value, decimals)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


@dataclass(frozen=True)
class Column:
    """A column: its header, the metric whose direction it shows (eval.metrics), and how its cells
    are written (decimals, scale, unit; `n_row`: give n only where it differs from the row's)."""

    header: str
    metric: str | None = None
    decimals: int = 3
    scale: float = 1.0
    unit: str = ""
    compact: bool = False

    def title(self) -> str:
        from eval.metrics import arrow
        mark = arrow(self.metric) if self.metric else ""
        return f"{self.header} {mark}".rstrip()

    def text(self, value, n_row=None) -> str:
        if isinstance(value, dict) and ("mean" in value or "mean_diff" in value):
            return fmt_cell(value, self.decimals, self.scale, self.unit, n_row if self.compact else None)
        return fmt_value(value, self.decimals)


@dataclass
class Table:
    """name, title, columns (the first one labels the rows) and rows [label, value, …]; `note`: a
    sentence under the title; `row_n`: each row's n, for compact columns (n shown where it differs)."""

    name: str
    title: str
    columns: list
    rows: list = field(default_factory=list)
    note: str = ""
    row_n: list | None = None

    def _columns(self) -> list[Column]:
        return [c if isinstance(c, Column) else Column(c) for c in self.columns]

    def _texts(self, i: int) -> list[str]:
        n_row = self.row_n[i] if self.row_n is not None else None
        return [c.text(v, n_row) for c, v in zip(self._columns(), self.rows[i])]

    def markdown(self, level: int = 3) -> str:
        cols = self._columns()
        lines = [f"{'#' * level} {self.title}", ""] + ([self.note, ""] if self.note else [])
        lines += ["| " + " | ".join(_md(c.title()) for c in cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_md(t) for t in self._texts(i)) + " |" for i in range(len(self.rows))]
        return "\n".join(lines)

    def html(self, level: int = 3) -> str:
        head = "".join(f"<th>{html.escape(c.title())}</th>" for c in self._columns())
        body = []
        for i, row in enumerate(self.rows):
            tds = [f'<td data-method="{html.escape(str(row[0]), quote=True)}">{html.escape(str(row[0]))}</td>']
            tds += [f"<td{_exact(v)}>{html.escape(t)}</td>" for v, t in zip(row[1:], self._texts(i)[1:])]
            body.append("<tr>" + "".join(tds) + "</tr>")
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return (f"<h{level}>{html.escape(self.title)}</h{level}>{note}"
                f'<table data-table="{html.escape(self.name, quote=True)}"><tr>{head}</tr>{"".join(body)}</table>')

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "columns": [c.title() for c in self._columns()],
                "rows": [list(r) for r in self.rows], "note": self.note}


def _exact(value) -> str:
    """The data-value attribute of a cell: its exact value as JSON (text is shown as it is)."""
    if isinstance(value, str):
        return ""
    return f' data-value="{html.escape(json.dumps(value, ensure_ascii=False), quote=True)}"'


def _md(text: str) -> str:
    """Text for a markdown table cell (| escaped, as in "ρ of |R|")."""
    return str(text).replace("|", "\\|")


def metric_name(entry: dict) -> str:
    where = ", ".join(v for v in (entry.get("operator"), entry.get("unit")) if v)
    return f"{entry['metric']}" + (f" ({where})" if where else "")


def claims(paired_rows: list[dict]) -> list[str]:
    """The differences the intervals support, in words (the winner first)."""
    out = []
    for e in paired_rows:
        if not e["better"]:
            continue
        winner, loser = (e["a"], e["b"]) if e["better"] == e["a"] else (e["b"], e["a"])
        sign = 1 if winner == e["a"] else -1
        lo, hi = (sign * v for v in e["ci95"])
        lo, hi = min(lo, hi), max(lo, hi)
        out.append(f"{winner} beats {loser} on {metric_name(e)}: difference {sign * e['mean_diff']:+.3f} "
                   f"[{lo:+.3f}, {hi:+.3f}], n={e['n']} ({e['n_images']} images)")
    return out
