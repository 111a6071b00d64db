"""Validate many messages without sending: lists of dicts, DataFrames, a session's history."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from ..messages import (
    BODY,
    CALL_KINDS,
    DEFAULT_KIND,
    ColumnMap,
    build_from_segment_dict,
    build_message,
    iter_rows,
)
from ..messages.frames import is_table
from .load import PlanSource
from .report import CheckReport, Where
from .tables import (
    OBJECT_FIELDS,
    holds_structs,
    json_or_text,
    message_rows,
    nest_dotted,
    without_nulls,
)
from .validate import PlanValidator

MAX_LISTED = 1_000
_ROWS = {kind: ColumnMap(kind) for kind in CALL_KINDS}


def as_message(row: Mapping[str, Any], kind: str | None = None) -> dict[str, Any]:
    """The message a row would be sent as. Raises ValidationError.

    A Segment dict (a ``type`` and its ``properties``/``traits`` object) is read as it
    is. A flat row is a call of ``kind``, else of its ``type`` column, else a track
    call: its columns are the call's fields (``event``, ``userId``, ...) and the rest
    its properties or traits.
    """
    if not isinstance(row, Mapping):
        raise ValidationError("row", f"expected a dict, got {type(row).__name__}")
    call = kind or row.get("type")
    if call is None:
        call = DEFAULT_KIND
    if not isinstance(call, str) or call.lower() not in _ROWS:
        raise ValidationError("type", f"{call!r} is not a call; use {', '.join(CALL_KINDS)}")
    call = call.lower()
    if kind is None and "type" in row and _nested(row, call):
        return build_from_segment_dict(row, copy=False).message
    flat = {k: v for k, v in row.items() if k != "type"} if "type" in row else row
    return build_message(call, copy=False, **_ROWS[call].arguments(flat)).message


def _nested(row: Mapping[str, Any], call: str) -> bool:
    """True for a Segment dict: its body is an object, or it has no flat columns."""
    body = BODY.get(call)
    return body is None or isinstance(row.get(body), Mapping) or "messageId" in row


def iter_messages(source: Any, kind: str | None = None) -> Iterator[dict[str, Any]]:
    """Messages from a source (any table :func:`.tables.table_rows` reads, a list of
    dicts), skipping rows that are not valid messages."""
    for _, row in labelled_rows(source):
        try:
            yield as_message(row, kind)
        except ValidationError:
            continue


@dataclass(frozen=True)
class Labelled:
    """Rows that come with their labels, as (label, row) pairs: an export's messages
    by file and line (:func:`.audit_files.export_rows`), where a position would say nothing.
    A report shows such a label as it is (a row's label is shown as ``row <label>``)."""

    pairs: Iterable[tuple[Any, Any]]


def labelled_rows(source: Any) -> Iterator[tuple[Any, Any]]:
    """(label, row) pairs: the rows as a send reads them (:func:`iter_rows`, with a
    DataFrame's own labels), or, for what only :func:`.tables.message_rows` reads (a
    LazyFrame, Arrow batches, Spark, Dask), by position. In a table, a message's object
    fields given as JSON text (as exports hold them) are read as the objects they are."""
    if isinstance(source, Labelled):
        yield from ((Where(label), row) for label, row in source.pairs)
        return
    module = type(source).__module__
    lazy = module.startswith("polars") and hasattr(source, "collect_batches")
    batches = module.startswith("pyarrow") and not hasattr(source, "to_batches")  # not a Table
    if module.startswith(("pyspark", "dask")) or lazy or batches:
        pairs: Iterator[tuple[Any, Any]] = enumerate(message_rows(source))
    else:
        pairs = iter_rows(source)[0]
    if not is_table(source):
        yield from pairs  # messages built in Python: as they are (the checks' own speed)
        return
    structs = holds_structs(source)
    for label, row in pairs:
        yield label, _objects_read(row, structs)


def _objects_read(row: Any, structs: bool = False) -> Any:
    """A message-shaped row whose object fields are JSON text, with them parsed, its
    dotted columns (:func:`.tables.nest_dotted`) nested, and, from a table of structs,
    its null members left out (:func:`.tables.without_nulls`)."""
    if not isinstance(row, Mapping) or "type" not in row:
        return row
    if structs:
        row = {key: without_nulls(value) if isinstance(value, dict | list) else value
               for key, value in row.items()}  # fmt: skip
    row = nest_dotted(row)
    texts = [k for k in OBJECT_FIELDS if isinstance(row.get(k), str) and row[k][:1] == "{"]
    if not texts:
        return row
    row = dict(row)
    for key in texts:
        row[key] = json_or_text(row[key])
    return row


def check_messages(
    validator: PlanValidator | PlanSource,
    source: Iterable[Any] | Any,
    display_limit: int = 20,
    kind: str | None = None,
) -> CheckReport:
    """Check every message of ``source`` against the plan; nothing is sent.

    ``kind`` reads every flat row as that call (identify rows: columns are traits)."""
    if not isinstance(validator, PlanValidator):
        validator = PlanValidator(validator)  # a plan, a file or a template's name
    report = CheckReport(display_limit=display_limit)
    for label, row in labelled_rows(source):
        try:
            message = as_message(row, kind)
        except ValidationError as exc:
            report.invalid_rows.append((label, str(exc)))
            continue
        report.checked += 1
        violations = validator.check(message)
        if not violations:
            report.valid += 1
            continue
        for violation in violations:
            report.by_kind[violation.kind] += 1
            if len(report.violations) < MAX_LISTED:
                report.violations.append((label, violation))
    return report
