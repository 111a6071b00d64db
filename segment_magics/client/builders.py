"""How a backfill's rows become messages: one builder for the notebook and the workers.

A builder is ``build(row, position, now) -> Built``: it fills the ids the row lacks
(a messageId derived from the run and the row's position, or from its key column;
an anonymousId when the run may make one up) and validates the row like a single
call. ``now`` dates rows that have no timestamp (None: the current time).

Tables skip the row: :class:`MessageBuilder` builds a whole chunk of columns at
once on the fast path and sends only the rows it cannot vouch for down the careful
one. :func:`message_items` hands the sender every row's outcome in order; rows
that need nothing but packing (no plan reads them, no resumed run dates them) come
as spans (:class:`Span`), which the sender packs a batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from typing import Any, NamedTuple

from ..errors import ValidationError
from ..messages import BODY, Built, ColumnMap, build_from_segment_dict, call_of
from ..messages.build import build_from_arguments
from ..messages.fast_build import ChunkBuilder, Encoded, fast_segment_dict
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
    rows: Any,
    build: Builder,
    mapping: ColumnMap | None,
    dated_at: DatedAt | None = None,
    spans: bool = False,
) -> tuple[Iterator[Item | Span], int | None, Any]:
    """Every row's outcome in order, the row count when known, and a table's labels.
    With ``spans``, rows that need nothing but packing come as spans (:class:`Span`) of
    them (not for a resumed run, whose rows keep the dates of the first)."""
    spans = spans and dated_at is None
    table = None
    if mapping is not None:
        table = table_chunks(rows, mapping.written_body)
    if table is not None and isinstance(build, MessageBuilder):
        chunks, total, labels = table
        return _chunk_items(chunks, build, labels, dated_at, spans), total, labels
    source, total, labels = iter_rows(rows, mapping)
    if spans:
        return _row_spans(source, build), total, labels
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


SPAN_ROWS = 1_000  # rows of a list built at a time (dated alike when they have no timestamp)


def _row_spans(source: Iterator[tuple[Any, Any]], build: Builder) -> Iterator[Item | Span]:
    """Rows a group at a time: each group built with one current time, its plain
    messages (no warnings) handed on as spans, the others one at a time. Rows read
    before the input fails are handed on before its error."""
    position = 0
    while True:
        group: list[tuple[Any, Any]] = []
        try:
            group.extend(islice(source, SPAN_ROWS))  # (what was read stays when it fails)
        except BaseException:
            yield from _group_pieces(group, position, build)
            raise
        if not group:
            return
        yield from _group_pieces(group, position, build)
        position += len(group)


def _group_pieces(
    group: list[tuple[Any, Any]], position: int, build: Builder
) -> Iterator[Item | Span]:
    now = now_iso()
    outcomes: dict[int, Item] = {}
    payloads: list[bytes | None] = []
    ids: list[str] = []
    names: list[str] = []
    dated: list[bool] = []
    payload, message_id, name, dates = payloads.append, ids.append, names.append, dated.append
    for offset, (label, row) in enumerate(group):
        built: Built | Exception
        try:
            built = build(row, position + offset, now)
        except Exception as exc:  # one bad row never stops a run
            built = exc
        if isinstance(built, Exception) or built.warnings:
            outcomes[offset] = (label, row, built)
            built = _NOTHING
        payload(built.encoded)
        message_id(built.message["messageId"])
        name(built.label)
        dates(built.dated)
    for offset in outcomes:
        payloads[offset] = None
    encoded = Encoded(payloads, list(outcomes), ids, names, dated, now)
    yield from _split(encoded, position, [label for label, _ in group], outcomes.__getitem__)


_NOTHING = Built({"messageId": ""})  # the stand-in for a row handed on on its own


def _split(
    encoded: Encoded, start: int, labels: Sequence[Any], alone: Callable[[int], Item]
) -> Iterator[Item | Span]:
    """Rows ``start ..`` in order: spans of those ``encoded`` wrote, and ``alone(i)`` for
    each row ``i`` it did not."""
    count, done = len(encoded.payloads), 0
    for index in [*encoded.careful, count]:
        if index > done:
            yield Span(start + done, start + index, done, labels, encoded)
        if index < count:
            yield alone(index)
        done = index + 1


def _chunk_items(
    chunks: Iterator[Chunk],
    build: MessageBuilder,
    labels: Any,
    dated_at: DatedAt | None,
    spans: bool,
) -> Iterator[Item | Span]:
    for chunk in chunks:
        yield from build.pieces(chunk, chunk_labels(chunk, labels), dated_at, spans)


class Span(NamedTuple):
    """Consecutive rows that need nothing but packing, written by the fast path: the
    sender packs their payloads as they are, a batch at a time, with no object per
    row (handing on and packing one row at a time was 23 % of a pandas dry run)."""

    start: int  # the first row's position in the input
    stop: int  # after the last row
    offset: int  # the first row's place in ``encoded``
    labels: Sequence[Any]  # the rows' labels (a DataFrame's index, else positions)
    encoded: Encoded


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

    def pieces(
        self,
        chunk: Chunk,
        labels: Sequence[Any],
        dated_at: DatedAt | None = None,
        spans: bool = False,
    ) -> Iterator[Item | Span]:
        """A chunk's rows in order: the fast path's where it can vouch for a row, the
        careful path's for the rest (and for every row of a resumed run, which keeps
        the dates of the first). With ``spans`` (and no notes), the fast path's rows
        come as spans. Naive datetime columns are read first, and each row's message
        notes how."""
        if chunk.naive:
            chunk.read_naive(self.naive)
        encoded = self._encoded(chunk) if dated_at is None else None
        if encoded is None:
            for index in range(chunk.count):
                yield labels[index], None, self._careful_row(chunk, index, dated_at)
            return
        if spans and not chunk.notes:
            careful = partial(self._careful_item, chunk, labels)
            yield from _split(encoded, chunk.start, labels, careful)
            return
        careful_rows = set(encoded.careful)
        for index in range(chunk.count):
            if index in careful_rows:
                yield self._careful_item(chunk, labels, index)
            else:
                notes = chunk.row_notes(index) if chunk.notes else ()
                yield labels[index], None, encoded.built(index, notes)

    def _careful_item(self, chunk: Chunk, labels: Sequence[Any], index: int) -> Item:
        return labels[index], None, self._careful_row(chunk, index, None)

    def _encoded(self, chunk: Chunk) -> Encoded | None:
        names = tuple(chunk.names)
        builder = self._fast.get(names)
        if builder is None:
            builder = self._fast[names] = ChunkBuilder(self.columns, names)
        ids = self._chunk_ids(chunk)
        if ids is None and self.key is not None:
            return None
        return builder.encode(chunk, ids, now_iso())

    def _careful_row(self, chunk: Chunk, index: int, dated_at: DatedAt | None) -> Built | Exception:
        position = chunk.start + index
        try:
            args = self.columns.chunk_row(chunk, index)
            built = self.careful(args, position, dated_at(position) if dated_at else None)
        except Exception as exc:  # one bad row never stops a run
            return exc
        notes = chunk.row_notes(index) if chunk.notes else ()
        return built._replace(warnings=built.warnings + notes) if notes else built

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
