"""How a backfill's rows become messages: one builder for the notebook and the workers.

A builder is ``build(row, position, now) -> Built``: it fills the ids the row lacks
(a messageId derived from the run and the row's position, or from its key column;
an anonymousId when the run may make one up) and validates the row like a single
call. ``now`` dates rows that have no timestamp (None: the current time).

Tables skip the row: :class:`MessageBuilder` builds a whole chunk of columns at
once on the fast path and sends only the rows it cannot vouch for down the careful
one. :func:`message_items` hands the sender every row's outcome in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..errors import ValidationError
from ..messages import BODY, Built, ColumnMap, build_from_segment_dict, call_of
from ..messages.build import build_from_arguments
from ..messages.fast_build import ChunkBuilder, fast_segment_dict
from ..messages.frames import Chunk, table_chunks
from ..messages.ids import RowIds, key_id
from ..messages.naive_time import NaiveTime
from ..messages.rows import chunk_labels, iter_rows
from ..messages.timestamps import now_iso
from .bulk_options import BulkOptions
from .identities import Identities
from .outbox_contract import Pending

Builder = Callable[[Any, int, "str | None"], Built]
DatedAt = Callable[[int], "str | None"]  # position -> when a resumed row was first dated
Item = tuple[Any, Any, "Built | Exception"]  # label, row, the message or why there is none


def make_builder(
    options: BulkOptions, scope: str, mapping: ColumnMap | None
) -> tuple[Builder, Identities]:
    """The builder for one run (``scope`` = its run id) or one partition of it (``scope``
    = ``run/part-N``), and the identities it hands out."""
    run_id = options.run_id or scope
    who = Identities(scope, anonymous=options.anonymous, fallback=options.anonymous_id)
    ids = RowIds(scope)
    if mapping is None:
        return segment_dict_builder(ids, who, options.naive), who
    keyed = (run_id, options.key_column) if options.key_column else None
    return MessageBuilder(mapping, ids, who, key=keyed, naive=options.naive), who


def message_items(
    rows: Any, build: Builder, mapping: ColumnMap | None, dated_at: DatedAt | None = None
) -> tuple[Iterator[Item], int | None, Any]:
    """Every row's outcome in order, the row count when known, and a table's labels."""
    table = None
    if mapping is not None:
        table = table_chunks(rows, mapping.written_body)
    if table is not None and isinstance(build, MessageBuilder):
        chunks, total, labels = table
        return _chunk_items(chunks, build, labels, dated_at), total, labels
    source, total, labels = iter_rows(rows, mapping)
    return _row_items(source, build, dated_at), total, labels


def _row_items(
    source: Iterator[tuple[Any, Any]], build: Builder, dated_at: DatedAt | None
) -> Iterator[Item]:
    for position, (label, row) in enumerate(source):
        built: Built | Exception
        try:
            built = build(row, position, dated_at(position) if dated_at else None)
        except Exception as exc:  # one bad row never stops a run
            built = exc
        yield label, row, built


def _chunk_items(
    chunks: Iterator[Chunk], build: MessageBuilder, labels: Any, dated_at: DatedAt | None
) -> Iterator[Item]:
    for chunk in chunks:
        outcomes = build.chunk(chunk, dated_at)
        for label, outcome in zip(chunk_labels(chunk, labels), outcomes, strict=True):
            yield label, None, outcome


class MessageBuilder:
    """Rows that are records of one call: columns map to its fields and body.

    ``key`` (run id, column): messageIds come from that column's value, not from the
    row's position. ``naive`` reads datetimes without a time zone.
    """

    def __init__(
        self,
        columns: ColumnMap,
        ids: RowIds | None = None,
        identities: Identities | None = None,
        key: tuple[str, str] | None = None,
        naive: NaiveTime | None = None,
    ) -> None:
        call = call_of(columns.kind)
        self.columns = columns
        self.ids = ids
        self.who = identities if call is not None and call.takes_anonymous_id else None
        self.key = key
        self.body = BODY.get(columns.kind)
        self.naive = naive
        self._fast: dict[tuple[str, ...], ChunkBuilder] = {}

    def __call__(self, row: Any, position: int, now: str | None) -> Built:
        """One row (a dict of columns) on the careful path."""
        return self.careful(self.columns.arguments(row), position, now)

    def careful(self, args: dict[str, Any], position: int, now: str | None) -> Built:
        """The careful path: a row's arguments, every value converted or named when it
        cannot be."""
        if self.who is not None:
            self.who.fill(args, position)
        if not args.get("message_id"):
            if self.key is not None:
                args["message_id"] = key_id(self.key[0], _key_value(args, self.body, self.key[1]))
            elif self.ids is not None:
                args["message_id"] = self.ids(position)
        return build_from_arguments(self.columns.kind, args, copy=False, now=now, naive=self.naive)

    def chunk(self, chunk: Chunk, dated_at: DatedAt | None = None) -> Iterator[Built | Exception]:
        """Every row of a chunk, one at a time: the fast path where it can vouch for a
        row, the careful path for the rest (and for every row of a resumed run, which
        keeps the dates of the first). Naive datetime columns are read first, and each
        row's message notes how."""
        if chunk.naive:
            chunk.read_naive(self.naive)
        if chunk.notes:
            yield from _noted(self._chunk(chunk, dated_at), chunk)
        else:
            yield from self._chunk(chunk, dated_at)

    def _chunk(self, chunk: Chunk, dated_at: DatedAt | None) -> Iterator[Built | Exception]:
        fast: Iterable[Built | None] = [None] * chunk.count
        if dated_at is None:
            names = tuple(chunk.names)
            builder = self._fast.get(names)
            if builder is None:
                builder = self._fast[names] = ChunkBuilder(self.columns, names)
            ids = self._chunk_ids(chunk)
            if ids is not None or self.key is None:
                fast = builder.build(chunk, ids, now_iso())
        for index, built in enumerate(fast):
            if built is not None:
                yield built
                continue
            position = chunk.start + index
            try:
                args = self.columns.chunk_row(chunk, index)
                yield self.careful(args, position, dated_at(position) if dated_at else None)
            except Exception as exc:  # one bad row never stops a run
                yield exc

    def _chunk_ids(self, chunk: Chunk) -> list[str] | None:
        """The messageIds of a chunk's rows (from the key column when there is one)."""
        if self.key is None:
            if self.ids is None:
                return None
            return self.ids.span(chunk.start, chunk.start + chunk.count)
        run, column = self.key
        if column not in chunk.names:
            return None
        index = chunk.names.index(column)
        if chunk.missing[index] is not None or index in chunk.json:
            return None  # rows without a key, or nested keys: the careful path says so
        return [key_id(run, value) for value in chunk.values[index]]


def _noted(outcomes: Iterator[Built | Exception], chunk: Chunk) -> Iterator[Built | Exception]:
    """Each row's outcome with the notes on how its naive datetimes were read."""
    for row, outcome in enumerate(outcomes):
        if isinstance(outcome, Built):
            notes = chunk.row_notes(row)
            if notes:
                outcome = outcome._replace(warnings=outcome.warnings + notes)
        yield outcome


def segment_dict_builder(
    ids: Callable[[int], str] | None = None,
    identities: Identities | None = None,
    naive: NaiveTime | None = None,
) -> Builder:
    """Rows that are Segment-shaped dicts (a ``type`` and the message's fields)."""

    def build(row: Any, position: int, now: str | None) -> Built:
        if ids is not None:
            built = fast_segment_dict(row, position, ids, now)
            if built is not None:
                return built

        def fill(args: dict[str, Any]) -> None:
            if ids is not None and not args.get("message_id"):
                args["message_id"] = ids(position)
            call = call_of(row.get("type"))
            if identities is not None and call is not None and call.takes_anonymous_id:
                identities.fill(args, position)

        return build_from_segment_dict(row, copy=False, now=now, extra=fill, naive=naive)

    return build


def _key_value(args: Mapping[str, Any], body: str | None, column: str) -> Any:
    values = args.get(body) if body else None
    if isinstance(values, Mapping) and column in values:
        return values[column]
    if column in args:
        return args[column]
    raise ValidationError(column, "the key column is empty in this row; every row needs a key")


def stored_builder(pending: Pending, position: int, now: str | None) -> Built:
    """A kept message, exactly as it was built the first time (no second serialization);
    the stand-in message carries what the bookkeeping reads: type, id and label."""
    stand_in = {"type": pending.type, "messageId": pending.message_id}
    return Built(stand_in, (), pending.payload, False, pending.label)
