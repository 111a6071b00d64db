"""Tables for notebooks (escaped HTML) and terminals (plain text).

Generic on purpose: results, history and summaries all render through
:class:`Table`, so truncation, escaping and the "showing N of M" footer live in
one place. Every value is HTML-escaped; nothing here imports IPython.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

CellStatus = Literal["ok", "fail"]

CELL_TEXT_LIMIT = 60  # characters of a cell shown in text tables

_STYLE = (
    "<style>"
    ".sm-table{border-collapse:collapse;font-size:13px;margin:4px 0}"
    ".sm-table th,.sm-table td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;"
    "vertical-align:top}"
    ".sm-table th{background:#f6f8fa}"
    ".sm-table caption{text-align:left;font-weight:600;padding:2px 0}"
    ".sm-table pre{margin:0;font-size:12px;white-space:pre-wrap}"
    ".sm-ok{color:#1a7f37;font-weight:600}.sm-fail{color:#cf222e;font-weight:600}"
    ".sm-fail-row td{background:#fff5f5}"
    ".sm-footer{color:#57606a;font-size:12px}"
    "</style>"
)


@dataclass(frozen=True)
class Cell:
    """A value plus how to show it: ``pre`` for JSON blocks, ``status`` for ok/fail marks."""

    value: Any
    pre: bool = False
    status: CellStatus | None = None
    link: str | None = None  # an http(s) URL the value opens in HTML

    @property
    def text(self) -> str:
        return to_text(self.value)


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _cell(value: Any) -> Cell:
    return value if isinstance(value, Cell) else Cell(value)


def _shorten(text: str, limit: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Table:
    """Rows under a header, or label/value pairs when ``columns`` is empty."""

    title: str
    rows: Sequence[Sequence[Any]]
    columns: Sequence[str] = ()
    total: int | None = None  # rows that exist; more than len(rows) means truncated
    notes: Sequence[str] = ()
    failed_rows: frozenset[int] = field(default_factory=frozenset)

    @property
    def footer(self) -> str | None:
        if self.total is not None and self.total > len(self.rows):
            return f"showing {len(self.rows)} of {self.total} rows"
        return None

    def to_html(self) -> str:
        parts = [_STYLE, '<table class="sm-table">']
        parts.append(f"<caption>{html.escape(self.title)}</caption>")
        if self.columns:
            head = "".join(f"<th{_LEFT}>{html.escape(c)}</th>" for c in self.columns)
            parts.append(f"<thead><tr>{head}</tr></thead>")
        parts.append("<tbody>")
        for index, row in enumerate(self.rows):
            cls = ' class="sm-fail-row"' if index in self.failed_rows else ""
            cells = [_cell(v) for v in row]
            if not self.columns and cells:
                label, *rest = cells
                tds = f"<th{_LEFT}>{html.escape(label.text)}</th>" + "".join(
                    _html_td(c) for c in rest
                )
            else:
                tds = "".join(_html_td(c) for c in cells)
            parts.append(f"<tr{cls}>{tds}</tr>")
        parts.append("</tbody></table>")
        lines = [*self.notes, *([self.footer] if self.footer else [])]
        parts.extend(f'<div class="sm-footer">{html.escape(line)}</div>' for line in lines)
        return "".join(parts)

    def to_text(self) -> str:
        if not self.columns:
            return self._pairs_text()
        grid = [[_shorten(_cell(v).text, CELL_TEXT_LIMIT) for v in row] for row in self.rows]
        widths = [len(c) for c in self.columns]
        for row in grid:
            widths = [max(w, len(v)) for w, v in zip(widths, row, strict=False)]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=False)).rstrip()

        out = [self.title, line(self.columns), line(["-" * w for w in widths])]
        out.extend(line(row) for row in grid)
        out.extend(self.notes)
        if self.footer:
            out.append(self.footer)
        return "\n".join(out)

    def _pairs_text(self) -> str:
        labels = [_cell(row[0]).text for row in self.rows]
        width = max((len(label) for label in labels), default=0)
        out = [self.title]
        for label, row in zip(labels, self.rows, strict=True):
            value = " ".join(_cell(v).text for v in row[1:])
            first, *more = value.splitlines() or [""]
            out.append(f"  {label.ljust(width)}  {first}")
            out.extend(f"  {' ' * width}  {extra}" for extra in more)
        out.extend(self.notes)
        return "\n".join(out)


# Inline, because JupyterLab's rendered-HTML stylesheet right-aligns table cells
# with selectors that beat a <style> block.
_LEFT = ' style="text-align:left;vertical-align:top"'


def _html_td(cell: Cell) -> str:
    text = html.escape(cell.text)
    if cell.link and cell.link.startswith(("http://", "https://")):
        href = html.escape(cell.link, quote=True)
        return f'<td{_LEFT}><a href="{href}" target="_blank" rel="noopener">{text}</a></td>'

    if cell.pre:
        return f'<td{_LEFT}><pre style="text-align:left;margin:0">{text}</pre></td>'
    if cell.status:
        return f'<td{_LEFT}><span class="sm-{cell.status}">{text}</span></td>'
    return f"<td{_LEFT}>{text}</td>"


class Rendered:
    """Mixin: anything with ``table()`` renders in notebooks and terminals.

    Every subclass gets ``_repr_pretty_`` in its own ``__dict__``, because IPython's
    pretty printer stops at the first class in the MRO that defines ``__repr__``
    (dataclasses always do).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._repr_pretty_ = Rendered._repr_pretty_  # type: ignore[method-assign]

    def table(self) -> Table:  # pragma: no cover - overridden
        raise NotImplementedError

    def tables(self) -> list[Table]:
        """Everything shown, in order; most objects have one table."""
        return [self.table()]

    def _repr_html_(self) -> str:
        return "".join(table.to_html() for table in self.tables())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __str__(self) -> str:
        return "\n\n".join(table.to_text() for table in self.tables())


@dataclass(eq=False)
class ConnectionSummary(Rendered):
    """What ``%segment_connect`` shows: where calls go and where the key comes from."""

    endpoint: str
    key: str
    debugger: str | None
    dry_run: bool

    def table(self) -> Table:
        rows: list[list[Any]] = [["Endpoint", self.endpoint], ["Write key", self.key]]
        if self.debugger:
            rows.append(["Debugger", Cell(self.debugger, link=self.debugger)])
        if self.dry_run:
            rows.append(["Dry run", "on: calls are validated, nothing is sent"])
        return Table(title="Segment connection", rows=rows)
