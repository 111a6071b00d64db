"""Tables for notebooks (escaped HTML) and terminals (plain text).

Generic on purpose: results, history and summaries all render through
:class:`Table`, so truncation, escaping and the "showing N of M" footer live in
one place. Every value is HTML-escaped; nothing here imports IPython.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .errors import printable

if TYPE_CHECKING:
    from tqdm import tqdm as Tqdm

CellStatus = Literal["ok", "fail", "muted"]
View = Literal["compact", "full"]
VIEWS: tuple[View, ...] = ("compact", "full")


@dataclass(frozen=True)
class Style:
    """How an object is shown, chosen where it is displayed and never stored on it:
    the ``view`` of a result, and the words for a suggested next step (``phrase``
    turns a remedy into a magic or a method call; None: the object's own words)."""

    view: View = "compact"
    phrase: Callable[[Any], str] | None = None


PLAIN = Style()

CELL_TEXT_LIMIT = 60  # characters of a cell shown in text tables

# Colours come from JupyterLab's theme variables, so tables read in light and dark
# themes alike; the fallbacks (VS Code's variables, then neutral translucent greys)
# serve the classic notebook, VS Code and nbconvert HTML. Selectors are doubled
# (.sm-table.sm-table) to outrank JupyterLab's rendered-HTML table rules.
_STYLE = (
    "<style>"
    ".sm-table.sm-table{border-collapse:collapse;margin:4px 0;background:transparent;"
    "font-size:var(--jp-content-font-size1,13px);"
    "color:var(--jp-content-font-color1,var(--vscode-editor-foreground,inherit))}"
    ".sm-table.sm-table th,.sm-table.sm-table td{padding:3px 8px;text-align:left;"
    "vertical-align:top;color:inherit;background:transparent;"
    "border:1px solid var(--jp-border-color2,rgba(128,128,128,.35))}"
    ".sm-table.sm-table th{font-weight:600;"
    "background:var(--jp-layout-color2,rgba(128,128,128,.14))}"
    ".sm-table.sm-table caption{text-align:left;font-weight:600;padding:2px 0;color:inherit}"
    ".sm-table.sm-table pre{margin:0;font-size:12px;white-space:pre-wrap;color:inherit;"
    "background:transparent}"
    ".sm-table.sm-table td.sm-nowrap{white-space:nowrap}"
    # a clipped cell keeps its whole text (copying takes all of it), shows the start
    ".sm-table.sm-table td .sm-clip{display:inline-block;max-width:7em;overflow:hidden;"
    "text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom;user-select:all}"
    ".sm-muted{opacity:.72;font-style:italic}"
    ".sm-line{font-weight:600;margin:4px 0;color:var(--jp-content-font-color1,inherit)}"
    ".sm-table.sm-table td.sm-wide{min-width:14em}"
    # status colours are mixed toward the text colour: darker on light themes, lighter
    # on dark ones, so they keep 4.5:1 contrast (the first value: browsers without
    # color-mix)
    ".sm-ok{font-weight:600;color:#1a7f37;color:color-mix(in srgb,"
    "var(--jp-success-color1,var(--vscode-testing-iconPassed,#1a7f37)) 60%,currentColor)}"
    ".sm-fail{font-weight:600;color:#cf222e;color:color-mix(in srgb,"
    "var(--jp-error-color1,var(--vscode-errorForeground,#cf222e)) 60%,currentColor)}"
    ".sm-table.sm-table tr.sm-fail-row td{background:rgba(220,50,50,.13)}"
    ".sm-footer{font-size:12px;opacity:.75;color:var(--jp-content-font-color1,inherit)}"
    ".sm-details{margin:2px 0 6px 0;color:var(--jp-content-font-color1,inherit)}"
    ".sm-details summary{cursor:pointer;font-size:12px;opacity:.8}"
    ".sm-details pre{margin:4px 0 0 0;padding:6px 8px;font-size:12px;white-space:pre-wrap;"
    "color:inherit;background:var(--jp-layout-color2,rgba(128,128,128,.10));"
    "border:1px solid var(--jp-border-color2,rgba(128,128,128,.3))}"
    "</style>"
)


@dataclass(frozen=True)
class Section:
    """A block of preformatted text under a table, collapsed in HTML (``<details>``)."""

    title: str
    text: str
    open: bool = False


@dataclass(frozen=True)
class Cell:
    """A value plus how to show it: ``pre`` for JSON blocks, ``status`` for ok/fail marks."""

    value: Any
    pre: bool = False
    status: CellStatus | None = None
    link: str | None = None  # an http(s) URL (or a server path) the value opens in HTML
    clip: bool = False  # HTML: cut short to fit, the whole value on hover and when copied

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


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,000 messages``: every count shown goes through here."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


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
    more: str = ""  # how to see them all, when truncated
    notes: Sequence[str] = ()
    failed_rows: frozenset[int] = field(default_factory=frozenset)
    nowrap: frozenset[int] = field(default_factory=frozenset)  # column indices kept on one line
    wide: frozenset[int] = field(default_factory=frozenset)  # text columns that get room
    sections: Sequence[Section] = ()

    @property
    def footer(self) -> str | None:
        if self.total is not None and self.total > len(self.rows):
            how = f" ({self.more})" if self.more else ""
            return f"showing {len(self.rows)} of {self.total:,} rows{how}"
        return None

    def to_html(self) -> str:
        if not self.rows and not self.columns:  # a one-line message: no empty table under it
            lines = [f'<div class="sm-line">{html.escape(self.title)}</div>']
            lines += [f'<div class="sm-footer">{html.escape(n)}</div>' for n in self.notes]
            return _STYLE + "".join(lines)
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
                tds = "".join(_html_td(c, self._column_class(i)) for i, c in enumerate(cells))
            parts.append(f"<tr{cls}>{tds}</tr>")
        parts.append("</tbody></table>")
        lines = [*self.notes, *([self.footer] if self.footer else [])]
        parts.extend(f'<div class="sm-footer">{html.escape(line)}</div>' for line in lines)
        for section in self.sections:
            opened = " open" if section.open else ""
            parts.append(
                f'<details class="sm-details"{opened}><summary>{html.escape(section.title)}'
                f"</summary><pre>{html.escape(section.text)}</pre></details>"
            )
        return "".join(parts)

    def _column_class(self, index: int) -> str:
        return "sm-nowrap" if index in self.nowrap else "sm-wide" if index in self.wide else ""

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
        return "\n".join(out + self._sections_text())

    def _sections_text(self) -> list[str]:
        out = []
        for section in self.sections:
            out.append(f"{section.title}:")
            out.extend(f"  {line}" for line in section.text.splitlines())
        return out

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
        return "\n".join(out + self._sections_text())


# Inline, because JupyterLab's rendered-HTML stylesheet right-aligns table cells
# with selectors that beat a <style> block.
_LEFT = ' style="text-align:left;vertical-align:top"'


def _html_td(cell: Cell, css: str = "") -> str:
    text = html.escape(cell.text)
    td = f'<td class="{css}"{_LEFT}>' if css else f"<td{_LEFT}>"
    # an http(s) URL, or a path on the notebook server (never javascript: or data:)
    if cell.link and (
        cell.link.startswith(("http://", "https://"))
        or (cell.link.startswith("/") and not cell.link.startswith("//"))
    ):
        href = html.escape(cell.link, quote=True)
        return f'{td}<a href="{href}" target="_blank" rel="noopener">{text}</a></td>'
    if cell.pre:
        return f'{td}<pre style="text-align:left;margin:0">{text}</pre></td>'
    if cell.clip:
        whole = html.escape(cell.text, quote=True)
        return f'{td}<span class="sm-clip" title="{whole}">{text}</span></td>'
    if cell.status:
        return f'{td}<span class="sm-{cell.status}">{text}</span></td>'
    return f"{td}{text}</td>"


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

    def tables(self, style: Style = PLAIN) -> list[Table]:
        """Everything shown, in order; most objects have one table."""
        return [self.table()]

    def to_html(self, style: Style = PLAIN) -> str:
        return printable("".join(table.to_html() for table in self.tables(style)))

    def to_text(self, style: Style = PLAIN) -> str:
        return printable("\n\n".join(table.to_text() for table in self.tables(style)))

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __str__(self) -> str:
        return self.to_text()


@dataclass(eq=False)
class ConnectionSummary(Rendered):
    """What ``%segment_connect`` shows: where calls go and where the key comes from."""

    endpoint: str
    key: str
    debugger: str | None
    dry_run: bool
    proxied: str | None = None  # the debugger page through jupyter-server-proxy

    def table(self) -> Table:
        rows: list[list[Any]] = [["Endpoint", self.endpoint], ["Write key", self.key]]
        if self.debugger:
            rows.append(["Debugger", Cell(self.debugger, link=self.debugger)])
            rows.append(["", "in the notebook, wherever the kernel runs: %segment_debugger"])
        if self.proxied:
            rows.append(["Through Jupyter", Cell(self.proxied, link=self.proxied)])
        if self.dry_run:
            rows.append(["Dry run", "on: calls are validated, nothing is sent"])
        return Table(title="Segment connection", rows=rows)


def progress_bar(total: int | None, what: str, unit: str = " events", **options: Any) -> Tqdm:
    """A progress bar for a long run (a backfill, an audit), tqdm's (a widget in a
    notebook), ``segment <what>``. ``smoothing=0``: the rate shown is the average
    since the start, as the run's summary gives it."""
    from tqdm.auto import tqdm

    return tqdm(**{"total": total, "unit": unit, "desc": f"segment {what}", "smoothing": 0,
                   "mininterval": 0.5, **options})  # fmt: skip
