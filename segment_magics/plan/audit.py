"""Audit history against a plan: Segment's exports, NDJSON, Parquet, DataFrames.

``audit(plan, source)`` reads a path, a glob or a directory of Segment's S3/GCS export
(``segment-logs/<source-id>/<day>/*.gz``, newline-delimited JSON), plain NDJSON or
Parquet files, or a pandas or Polars DataFrame of messages; Spark and Dask DataFrames
are checked where they live (``segment_magics.client.distributed`` registers that).

Files are read and checked by DuckDB, on every core, in one pass per chunk of files:
the plan is compiled into slots (:mod:`.audit_sql`) and checked as columns
(:mod:`.audit_pass`); the messages of the events that need more go to the row checker.
ISA-L inflates the text files and streams their lines to DuckDB (:mod:`.audit_feed`);
without it, DuckDB reads them itself.
Measured on a million export events (``make bench``): DuckDB read gzipped NDJSON about
3x faster than decompressing and ``orjson.loads`` in Python, and Polars, which cannot
read gzipped NDJSON itself, was no faster once Python decompressed for it; the whole
audit takes less time than that reading alone. Lines that are not JSON and files cut
short are counted and listed (file and line); they never stop an audit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from ..display import progress_bar
from ..errors import ValidationError
from ..messages import EVENT_RULE
from .audit_documents import document_by_rows, split_documents
from .audit_duckdb import MEMORY_LIMIT, connect, ctrl_c, fetch
from .audit_feed import DAMAGED, Lines, feedable, file_size
from .audit_feed import SQL as FEED_SQL
from .audit_files import file_source, find_files, nameable, parquet_lines
from .audit_lines import (
    file_by_rows,
    list_bad_lines,
    reads_cut_files_whole,
    salvaged,
    whole_files,
)
from .audit_pass import BAD, ROWS, SQL, UNPLANNED, pass_sql
from .audit_report import AuditReport, Tally
from .audit_sql import Compiled, compile_plan, sql_text
from .audit_window import When, Window
from .load import PlanSource, load_plan
from .model import Plan
from .tables import message_rows
from .validate import PlanValidator

Engine = Callable[..., AuditReport]
_ENGINES: dict[str, Engine] = {}  # module prefix -> an engine (Spark, Dask)


def register_engine(module_prefix: str, engine: Engine) -> None:
    """Let ``audit`` check DataFrames of another library where they live (the client's
    distributed package registers Spark's and Dask's)."""
    _ENGINES[module_prefix] = engine


def audit(
    plan: PlanSource,
    source: Any,
    *,
    since: When | None = None,
    until: When | None = None,
    events: str | Sequence[str] | None = None,
    progress: bool = True,
) -> AuditReport:
    """Check every message of ``source`` against ``plan``; see the module's docstring.

    ``since``/``until`` (ISO dates or times as text, dates or datetimes; ``until``
    inclusive, UTC unless they carry an offset) and ``events`` (event names, or call
    types such as ``identify``) narrow it.
    ``source``: a path, glob or directory of files (or a list of them), a table of
    messages (pandas, Polars, Arrow, Spark, Dask) or a list of messages.
    ``progress``: files that take more than two seconds to read show a progress bar.
    """
    started = time.monotonic()
    the_plan = load_plan(plan)
    window = Window(since, until, events)
    module = type(source).__module__
    engine = next((e for prefix, e in _ENGINES.items() if module.startswith(prefix)), None)
    paths = file_source(source)
    if engine is not None:
        report = engine(the_plan, source, window=window)
    elif paths is not None:
        report = _audit_files(the_plan, paths, window, progress)
    else:
        report = audit_messages(the_plan, message_rows(source), str(type(source).__name__),
                                window)  # fmt: skip
    report.elapsed = time.monotonic() - started
    report.window = window.describe()
    if window.events:
        report.hints = tuple(window.unknown_events(the_plan.events, report.tally.volume))
    return report


# -- messages in memory (DataFrames, lists), and the row checker ---------------------------
def audit_messages(
    plan: Plan, messages: Iterable[Any], source: str, window: Window | None = None
) -> AuditReport:
    """The row checker over messages in memory (a DataFrame's rows, a list)."""
    validator = PlanValidator(plan)
    tally = Tally()
    for position, message in enumerate(messages):
        if not isinstance(message, dict):
            tally.bad_line(source, position + 1, "not a message object")
            continue
        if window is None or window.takes(message):
            tally.observe(message, validator.check(message))
    return AuditReport(plan.name, source, tally, engine="checked row by row")


# -- files ---------------------------------------------------------------------------------
def _listed(sources: list[str]) -> str:
    """A list of paths as a report names it."""
    return sources[0] if len(sources) == 1 else f"{sources[0]} and {len(sources) - 1} more"


def _audit_files(
    plan: Plan, sources: str | list[str], window: Window, progress: bool
) -> AuditReport:
    text, parquet = find_files(sources, window)
    source = sources if isinstance(sources, str) else _listed(sources)
    with _bar(text + parquet, progress) as advance:
        return _audit_found(plan, source, text, parquet, window, advance)


BAR_AFTER = 2.0  # seconds of reading before a progress bar is shown


@contextmanager
def _bar(files: list[str], shown: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar over the files' bytes, made once reading them has taken
    :data:`BAR_AFTER` seconds and some are left (made sooner, importing tqdm alone would
    cost a short audit 5 %; made at the end, it would only flash); advanced from this
    thread (a notebook's widget is best shown from the cell's), a pass of files at a
    time. Yields the function that advances it."""
    total = sum(file_size(name) for name in files)
    started, done = time.monotonic(), 0
    bar: Any = None

    def advance(count: int) -> None:
        nonlocal bar, done
        done += count
        if bar is not None:
            bar.update(count)
        elif shown and done < total and time.monotonic() - started >= BAR_AFTER:
            bar = progress_bar(total, "audit", unit="B", unit_scale=True, unit_divisor=1024,
                               leave=False, initial=min(done, total))  # fmt: skip

    try:
        yield advance
        if bar is not None:
            bar.update(total - bar.n)  # what was read outside the passes (set aside, ...)
    finally:
        if bar is not None:
            bar.close()


def _audit_found(
    plan: Plan, source: str, text: list[str], parquet: list[str], window: Window,
    advance: Callable[[int], None],
) -> AuditReport:  # fmt: skip
    documents, text = split_documents(text)
    try:
        import duckdb  # noqa: F401 - an optional extra: the row checker reads without it
    except ImportError:
        return _audit_files_by_rows(plan, source, text, parquet, window, advance, documents)
    validator = PlanValidator(plan)
    compiled = compile_plan(plan, validator.unchecked)
    tally = Tally()
    for name, items in documents:
        document_by_rows(name, items, tally, validator, window)
    fed = feedable(text)
    if fed:
        taken = set(fed)
        text = [f for f in text if f not in taken]  # the rest: DuckDB's own reader
    for name in [f for f in text + parquet if not nameable(f)]:  # DuckDB cannot open it
        if name in text:
            file_by_rows(name, tally, validator, window)
        else:
            tally.bad_file(name, "DuckDB cannot open a file whose name is not UTF-8: rename it")
    text, parquet = [f for f in text if nameable(f)], [f for f in parquet if nameable(f)]
    if text and reads_cut_files_whole():  # what DuckDB does not see, found before it reads
        text = whole_files(text, tally, validator, window)
    for files, kind in ((fed, FED), (text, "text"), (parquet, "parquet")):
        if files:
            _duckdb_pass(files, kind, compiled, validator, window, tally, advance)
    rows = tuple(f"{event} ({why})" for event, why in sorted(compiled.reasons.items()))
    engine = rows_checked_engine(compiled, _threads(), inflated=bool(fed))
    return AuditReport(plan.name, source, tally, engine, rows)


def rows_checked_engine(compiled: Compiled, threads: int, inflated: bool = False) -> str:
    share = f"{len(compiled.events)} events as column checks"
    if compiled.by_rows or compiled.rows_for_all:
        share += f", {len(compiled.by_rows) or 'all'} row by row"
    by = ", files read by ISA-L" if inflated else ""
    return f"DuckDB on {threads} threads{by} ({share})"


def _threads() -> int:
    import os

    return os.cpu_count() or 1


def _audit_files_by_rows(
    plan: Plan, source: str, text: list[str], parquet: list[str], window: Window,
    advance: Callable[[int], None] = lambda _: None,
    documents: Sequence[tuple[str, list[Any]]] = (),
) -> AuditReport:  # fmt: skip
    """Without DuckDB: every line through the row checker (slower, the same verdicts)."""
    if parquet:
        raise ValidationError(
            "source", "Parquet files need DuckDB: pip install 'segment-magics[audit]'"
        )
    tally = Tally()
    validator = PlanValidator(plan)
    for name, items in documents:
        document_by_rows(name, items, tally, validator, window)
    for name in text:
        file_by_rows(name, tally, validator, window)
        advance(file_size(name))
    return AuditReport(plan.name, source, tally, engine="checked row by row (no DuckDB)")


# -- DuckDB ----------------------------------------------------------------------------------
# Input per pass: a file cut short costs its pass a second go, and the lines a pass leaves
# to the row checker wait in memory till it ends; fewer, larger passes start less often.
PASS_BYTES = 64 << 20  # compressed, when every message is checked as columns
PASS_BYTES_ROWS = 8 << 20  # when some go to the row checker
PASS_FILES = 2048
FED = "fed"  # files read through :mod:`.audit_feed`


def _duckdb_pass(
    files: list[str], kind: str, compiled: Compiled, validator: PlanValidator, window: Window,
    tally: Tally, advance: Callable[[int], None],
) -> None:  # fmt: skip
    """DuckDB reads each chunk of files once, checks it and aggregates what it found
    (:func:`.audit_pass.pass_sql`): memory follows the groups found, not the export."""
    import duckdb

    others = _others_need_rows(validator)
    con = connect(memory_limit=MEMORY_LIMIT, preserve_insertion_order=False)
    budget = PASS_BYTES_ROWS if others or compiled.by_rows or compiled.rows_for_all else PASS_BYTES
    try:
        if kind != FED:
            for chunk, size in _passes(files, budget):
                _read(con, chunk, kind, compiled, validator, window, tally, others)
                advance(size)
            return
        for chunk, size in _passes(files, budget):
            lines = Lines(chunk)
            try:
                with ctrl_c():
                    con.register("lines", lines.stream())
                rows = fetch(con, pass_sql(compiled, FEED_SQL, window.sql(), others, window.timed))
            except duckdb.Error:
                if lines.stopped is not None:  # Ctrl-C, or a fault of ours: not the files'
                    raise lines.stopped from None
                _read(con, chunk, "text", compiled, validator, window, tally, others)
                continue  # DuckDB's own reader says which file it could not read, and why
            finally:
                try:
                    con.unregister("lines")
                finally:
                    lines.close()
            _fold(rows, compiled, validator, tally, chunk)
            for name, why in lines.aside:  # as when DuckDB's own reader stops on them
                (salvaged if why == DAMAGED else file_by_rows)(name, tally, validator,
                                                                     window)  # fmt: skip
            advance(size)
    finally:
        con.close()


def _read(
    con: Any, files: list[str], kind: str, compiled: Compiled, validator: PlanValidator,
    window: Window, tally: Tally, others: bool,
) -> None:  # fmt: skip
    """One pass of DuckDB's own reader over ``files``."""
    import duckdb

    pending = [files]
    while pending:  # a file DuckDB cannot read is set aside, the rest read again
        part = pending.pop()
        try:
            query = pass_sql(compiled, _source_sql(con, part, kind), window.sql(), others,
                             window.timed)  # fmt: skip
            rows = fetch(con, query)
        except duckdb.Error as exc:
            pending += _set_aside(exc, part, kind, tally, validator, window)
            continue
        _fold(rows, compiled, validator, tally)


def _set_aside(
    exc: Exception, files: list[str], kind: str, tally: Tally, validator: PlanValidator,
    window: Window,
) -> list[list[str]]:  # fmt: skip
    """What DuckDB could not read: a file cut short or not gzip (listed, and its
    complete lines checked row by row), or one with a line DuckDB refuses (not UTF-8,
    longer than its line limit), which the row checker reads line by line; a Parquet
    file DuckDB cannot read is listed. The file
    named in DuckDB's error is set aside; unnamed, the files are halved until it is
    found. Returns the files still to read."""
    import duckdb

    text = str(exc)
    named = re.search(r"^\s*file = (.+?)\s*$", text, re.MULTILINE)
    culprit = named.group(1) if named and named.group(1) in files else None
    if culprit is None:
        culprit = next((f for f in files if f in text), None)
    if culprit is None and len(files) > 1:
        return [files[: len(files) // 2], files[len(files) // 2 :]]
    culprit = culprit or files[0]
    if kind == "parquet":
        tally.bad_file(culprit, f"not a Parquet file DuckDB can read ({text.splitlines()[0]})")
    elif isinstance(exc, duckdb.IOException):
        salvaged(culprit, tally, validator, window)
    else:
        file_by_rows(culprit, tally, validator, window)
    rest = [f for f in files if f != culprit]
    return [rest] if rest else []


def _passes(files: list[str], budget: int) -> Iterator[tuple[list[str], int]]:
    """The files in passes of about ``budget`` bytes each, with each pass's bytes."""
    chunk: list[str] = []
    size = 0
    for name in files:
        chunk.append(name)
        size += file_size(name)
        if size >= budget or len(chunk) >= PASS_FILES:
            yield chunk, size
            chunk, size = [], 0
    if chunk:
        yield chunk, size


def _fold(rows: list[tuple[Any, ...]], compiled: Compiled, validator: PlanValidator,
          tally: Tally, numbered: list[str] | None = None) -> None:  # fmt: skip
    """Add one pass's aggregated rows to the tally (see :func:`.audit_pass.pass_sql`).
    A fed pass names its files by their number in ``numbered``."""
    layouts = compiled.layouts()
    width = compiled.width
    bad_files = set()
    decoded: dict[tuple[Any, ...], list[tuple[str, str]]] = {}  # few distinct codes recur
    for row in rows:
        route, number, label, day = row[:4]
        codes = row[4 : 5 + width]
        keys, raw, where, count, first, last, examples = row[5 + width :]
        if numbered is not None and where is not None:
            where = numbered[where]
        if route == BAD:
            bad_files.add(where)
        elif route == ROWS:
            message = orjson.loads(raw)
            if not isinstance(message, dict) and where:
                bad_files.add(where)  # listed with their line numbers below
                continue
            for _ in range(count):
                if isinstance(message, dict):
                    tally.observe(message, validator.check(message))
                else:
                    tally.bad_line(where or "", 0, "not a message object")
        elif route in (SQL, UNPLANNED):
            tally.messages += count
            tally.volume[label] += count
            if route == UNPLANNED:
                _note(tally, label, day, "event", "unplanned event", count, first, last, examples)
                tally.broken += count
                continue
            layout = layouts[number] if number is not None else None
            if layout is None:
                failed = []
            elif (number, codes) in decoded:
                failed = decoded[number, codes]
            else:
                failed = decoded[number, codes] = layout.failures(codes)
            if failed or keys:
                tally.broken += count
            for field_, kind in failed:
                _note(tally, label, day, field_, kind, count, first, last, examples)
            for key in keys or ():
                body = layout.body if layout is not None else "properties"
                _note(tally, label, day, f"{body}.{key}", "unplanned property", count, first,
                      last, examples)  # fmt: skip
    for name in sorted(bad_files):
        list_bad_lines(name, tally)  # rare: find where the bad lines are, to list them


def _note(tally: Tally, label: str, day: str, field_: str, kind: str, count: int, first: str,
          last: str, examples: list[str] | None) -> None:  # fmt: skip
    group = tally.group(label, field_, kind)
    group.note(first, "", count=count)
    group.note(last, "", count=0)
    group.examples = (group.examples + [e for e in examples or () if e])[:5]
    tally.per_day[(label, day)] += count


def _source_sql(con: Any, files: list[str], kind: str) -> str:
    """A chunk's lines: ``f`` the file, ``l`` the text of one message."""
    listed = "[" + ", ".join(sql_text(f) for f in files) + "]"
    if kind == "parquet":
        return f"SELECT '' AS f, l FROM ({parquet_lines(con, listed)})"
    return (
        "SELECT filename AS f, l FROM read_csv("
        f"{listed}, columns={{'l': 'VARCHAR'}}, delim='\\x1f', quote='', escape='', "
        "header=false, filename=true, auto_detect=false, compression='auto') "
        "WHERE l IS NOT NULL"
    )


def _others_need_rows(validator: PlanValidator) -> bool:
    """Messages other than track events need the row checker when the plan has rules
    for them (identify, group, page, screen)."""
    return any(kind != EVENT_RULE for kind, _ in validator._rules)
