"""The fast path of a backfill: messages put together straight from a table's columns,
or from Segment dicts, with no argument dict per row.

It takes only what it can vouch for: ids and names that are non-empty strings,
timestamps already in the wire form, bodies of plain JSON without NaN or infinity
(found per column in tables, per value in dicts). orjson then refuses anything
that is not plain JSON, and a message over 32 KB is left alone. Every row the fast path
leaves alone (``None`` in its answer) goes down the careful path,
:func:`~.build.build_from_arguments`, which converts what can be converted and
names what cannot; both give the same message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from ..errors import ValidationError
from .build import LIBRARY, MAX_MESSAGE_BYTES, MAX_MESSAGE_ID_LENGTH, Built, serialize
from .calls import CALLS, Call
from .frames import Chunk
from .jsonsafe import CheckedDict, format_datetime, utc_text
from .rows import ColumnMap
from .timestamps import WireTime, normalize_timestamp, now_iso

_UTC = dt.timezone.utc


def _good_id(value: Any) -> bool:
    return type(value) is str and bool(value.strip())


def _vouched(kind: str, value: Any) -> Any:
    """A field's value as the fast path can send it, or None (the careful path decides)."""
    if kind == "id":
        if type(value) is int:
            return str(value)
        return value if _good_id(value) else None
    if kind == "timestamp":
        return _fast_time(value)
    return value if type(value) is str else None


def _fast_time(value: Any) -> str | None:
    """A timestamp the fast path can take as it is, or None."""
    if type(value) is WireTime:
        return value
    if type(value) is dt.datetime and value.tzinfo is _UTC:
        return format_datetime(value)
    return None


class ChunkBuilder:
    """Builds a table's rows into messages of one call, one chunk at a time.

    ``usable`` is False when the mapping asks for something only the careful path
    does (object columns, fields merged into the body, a default that does not
    convert); every row then goes the careful way.
    """

    def __init__(self, mapping: ColumnMap, names: Sequence[str]) -> None:
        call = CALLS[mapping.kind]
        self.call = call
        self.usable = True
        fields, body_columns = mapping.layout(tuple(names))
        column_of = dict(fields)
        self.index = {name: i for i, name in enumerate(names)}
        self.body_columns = [self.index[c] for c in body_columns]
        self.body_names = list(body_columns)
        self.default_body: Mapping[str, Any] | None = None
        self.context: dict[str, Any] = {"library": LIBRARY}
        self.message_id: int | None = None
        consts: dict[str, Any] = {}
        for name, value in mapping.defaults.items():
            self._default(call, name, value, consts)
        self.steps: list[tuple[str, str, int | None, Any]] = []  # wire, kind, column, const
        for f in call.fields:
            if f.name == "message_id":
                column = column_of.get(f.name)
                self.message_id = self.index[column] if column is not None else None
            elif f.name in ("context", call.body) or f.into is not None:
                if f.name in column_of:
                    self.usable = False  # dict columns: converted with care
            elif f.name in column_of:
                if f.kind == "object":
                    self.usable = False
                self.steps.append((f.wire, f.kind, self.index[column_of[f.name]], None))
            elif f.wire in consts:
                self.steps.append((f.wire, f.kind, None, consts[f.wire]))
        self.required = [call.field(n).wire for n in call.required]
        # the fields every row shares, in the order a message lists them
        self.consts = {wire: const for wire, _, column, const in self.steps if column is None}
        if any(not _has_all(self.consts, [w]) for w in self.required if w in self.consts):
            self.usable = False  # an empty default: the careful path names it
        self.written_context = _written(self.context)

    def _default(self, call: Call, name: str, value: Any, consts: dict[str, Any]) -> None:
        """A value every row shares, converted once (or the fast path steps aside)."""
        if name not in call.names:
            self.usable = False
            return
        field = call.field(name)
        try:
            if name == call.body:
                self.default_body = value if isinstance(value, CheckedDict) else None
                self.usable = self.usable and self.default_body is not None
            elif name == "context":
                if not isinstance(value, CheckedDict):
                    self.usable = False
                else:
                    self.context = value.with_library(LIBRARY)
            elif field.into is not None or name == "message_id":
                self.usable = False
            elif field.kind == "id":
                consts[field.wire] = value if _good_id(value) else _not_fast()
            elif field.kind == "text":
                consts[field.wire] = value if type(value) is str else _not_fast()
            elif field.kind == "timestamp":
                consts[field.wire] = normalize_timestamp(value)
            elif isinstance(value, CheckedDict):
                consts[field.wire] = value
            else:
                self.usable = False
        except (ValidationError, _NotFast):
            self.usable = False

    def encode(self, chunk: Chunk, ids: list[str] | None, now: str) -> Encoded:
        """The chunk's rows written as JSON, a list for the chunk: the sender packs
        them as they are, with no per-row object between (handing on and packing
        one row at a time was 23 % of a pandas dry run). The rows the careful path
        must build are listed in ``careful``, their payloads None.

        What can be checked for a whole column is checked before the rows are put
        together: each row then only looks up whether it is one to leave alone."""
        count = chunk.count
        if not self.usable:
            return Encoded([None] * count, list(range(count)), ids or [], "", True, now)
        call, body = self.call, self.call.body
        values, missing, odd = chunk.values, chunk.missing, chunk.odd
        careful: list[bool] = [False] * count
        columns: list[tuple[str, list[Any]]] = []
        present: set[str] = set()
        for wire, kind, column, _ in self.steps:
            if column is None:
                present.add(wire)
                continue
            cleaned, bad = _vouched_column(kind, values[column], column in chunk.times)
            _mark(careful, bad)
            if kind != "timestamp" and column in chunk.times:  # a datetime as an id or a name:
                _mark(careful, [True] * count)  # the careful path says it is not
            gaps = missing[column]
            if wire in self.required:  # empty: the careful path says what is missing
                _mark(careful, gaps)
                _mark(careful, [type(v) is str and not v.strip() for v in cleaned])
            if gaps is None and bad is None:
                present.add(wire)
            columns.append((wire, _with_gaps(cleaned, gaps)))
        if not _has_all_wires(present, self.required, self.consts):
            _mark(careful, [True] * count)
        for column in self.body_columns:
            if odd[column] is not None:
                _mark(careful, odd[column])
        if self.message_id is not None:
            mids, bad = _vouched_column("id", values[self.message_id], False)
            _mark(careful, bad)
            _mark(careful, missing[self.message_id])
            _mark(careful, [len(m) > MAX_MESSAGE_ID_LENGTH if m else False for m in mids])
        else:
            mids = ids or []
        if call.takes_anonymous_id and not present & _USER_IDS:
            # no id column is always filled: a row with neither goes the careful way
            id_columns = [vals for wire, vals in columns if wire in _USER_IDS]
            unknown = (
                [all(v is _GAP for v in row) for row in zip(*id_columns, strict=True)]
                if id_columns
                else [True] * count
            )
            _mark(careful, unknown)
        written = chunk.body_json if body is not None else None
        dense = [c for c in self.body_columns if missing[c] is None and written is None]
        dense_names = [chunk.names[c] for c in dense]
        sparse: list[tuple[str, list[Any], list[bool]]] = [
            (chunk.names[c], values[c], gaps)
            for c in self.body_columns
            if (gaps := missing[c]) is not None and written is None
        ]
        head = {"type": call.kind, **self.consts}
        rows: Iterator[tuple[Any, ...]] = (
            zip(*(values[c] for c in dense), strict=True) if dense else iter([()] * count)
        )
        context, default_body = self.written_context, self.default_body
        gap, fragment, loads = _GAP, orjson.Fragment, orjson.loads
        payloads: list[bytes | None] = []
        keep = payloads.append
        for i, body_row in enumerate(rows):
            if careful[i]:
                keep(None)
                continue
            msg = head.copy()
            for wire, cells in columns:
                value = cells[i]
                if value is not gap:
                    msg[wire] = value
            if body is None:
                pass
            elif written is not None:  # (with defaults, merged as the careful path merges)
                msg[body] = (
                    {**default_body, **loads(written[i])} if default_body else fragment(written[i])
                )
            else:
                # (same length; zip's keyword cost a quarter of building the dict)
                props = dict(zip(dense_names, body_row))  # noqa: B905
                for name, cells, gaps in sparse:
                    if not gaps[i]:
                        props[name] = cells[i]
                msg[body] = {**default_body, **props} if default_body else props
            msg["context"] = context
            if "timestamp" not in msg:
                msg["timestamp"] = now
            msg["messageId"] = mids[i]
            try:
                encoded = serialize(msg)
            except TypeError:  # not plain JSON: the careful path converts or names it
                encoded = None
            keep(encoded if encoded is None or len(encoded) <= MAX_MESSAGE_BYTES else None)
        left = [i for i, p in enumerate(payloads) if p is None]
        return Encoded(payloads, left, mids, self._labels(columns), self._dated(columns), now)

    def _labels(self, columns: list[tuple[str, list[Any]]]) -> list[Any] | str:
        """Each message's label (the event, the page's name, ...), or the one they share."""
        label = self.call.label_wire
        if label is None:
            return ""
        if label in self.consts:
            return str(self.consts[label])
        for wire, cells in columns:
            if wire == label:
                return ["" if cell is _GAP else cell for cell in cells]
        return ""

    def _dated(self, columns: list[tuple[str, list[Any]]]) -> list[bool] | bool:
        """Which messages were dated when built (no timestamp given), or whether all were."""
        if "timestamp" in self.consts:
            return False
        for wire, cells in columns:
            if wire == "timestamp":
                flags = [cell is _GAP for cell in cells]
                return flags if any(flags) else False
        return True


@dataclass
class Encoded:
    """A chunk's messages as the fast path wrote them (see :meth:`ChunkBuilder.encode`)."""

    payloads: list[bytes | None]  # each row's JSON; None: the careful path builds it
    careful: list[int]  # the rows whose payload is None, in order
    message_ids: list[str]  # each row's messageId (for the rows the fast path wrote)
    labels: list[Any] | str  # each message's label, or the label every message shares
    dated: list[bool] | bool  # dated when built (no timestamp given), per row or for all
    now: str  # the time dated messages carry

    @cached_property
    def sizes(self) -> list[int]:
        """What each row adds to a batch (its JSON and a comma), 0 for careful rows."""
        return [len(p) + 1 if p is not None else 0 for p in self.payloads]

    def is_dated(self, row: int) -> bool:
        return self.dated if type(self.dated) is bool else self.dated[row]

    def dated_count(self, low: int, high: int) -> int:
        """How many of rows ``low .. high`` were dated when built."""
        if type(self.dated) is bool:
            return (high - low) if self.dated else 0
        return sum(self.dated[low:high])

    def labels_of(self, low: int, high: int) -> list[Any]:
        labels = self.labels
        if isinstance(labels, str):
            return [labels] * (high - low)
        return labels[low:high]

    def built(self, row: int, warnings: tuple[str, ...] = ()) -> Built:
        """One row's message as a ``Built`` (for a plan to check, or with notes). Its
        message is a stand-in that carries what the bookkeeping reads: the messageId
        and, when dated, the timestamp; the payload is what is sent."""
        dated = self.is_dated(row)
        label = self.labels if isinstance(self.labels, str) else self.labels[row]
        stand_in = {"messageId": self.message_ids[row]}
        if dated:
            stand_in["timestamp"] = self.now
        payload = self.payloads[row]
        assert payload is not None
        return Built(stand_in, warnings, payload, dated, label)


def _written(context: Mapping[str, Any]) -> Any:
    """The context every row shares, as JSON written once (orjson copies it into each
    message: writing it again per row was a tenth of a row's time)."""
    try:
        return orjson.Fragment(serialize(context))
    except TypeError:  # not plain JSON: each message's serialize says so
        return context


_GAP = object()  # a missing cell: the field is left out
_USER_IDS = frozenset({"userId", "anonymousId"})


def _mark(careful: list[bool], flags: list[bool] | None) -> None:
    """Add the rows flagged in ``flags`` to the rows for the careful path."""
    if flags is None:
        return
    for index, flag in enumerate(flags):
        if flag:
            careful[index] = True


def _with_gaps(cells: list[Any], gaps: list[bool] | None) -> list[Any]:
    if gaps is None:
        return cells
    return [_GAP if gap else cell for cell, gap in zip(cells, gaps, strict=True)]


def _vouched_column(
    kind: str, cells: list[Any], wire_times: bool
) -> tuple[list[Any], list[bool] | None]:
    """A column's cells as the fast path sends them, and the cells it cannot vouch for
    (None: every cell is fine; missing cells are judged by the caller)."""
    if kind == "timestamp" and wire_times:
        return cells, None
    # the usual column: text in every cell, vouched for at C speed (a call per cell was
    # a tenth of a table row's time); an id must not be blank
    texts = kind in ("id", "text") and all(type(cell) is str for cell in cells)
    if texts and (kind == "text" or all(map(str.strip, cells))):
        return cells, None
    vouched = [_vouched(kind, cell) if cell is not None else None for cell in cells]
    bad = [v is None and c is not None for v, c in zip(vouched, cells, strict=True)]
    return vouched, bad if any(bad) else None


def _has_all_wires(present: set[str], required: Sequence[str], consts: Mapping[str, Any]) -> bool:
    """Every required field is a column or a default (empty defaults were refused)."""
    return all(wire in present or wire in consts for wire in required)


def _has_all(msg: Mapping[str, Any], wires: Sequence[str]) -> bool:
    for wire in wires:
        value = msg.get(wire)
        if value is None or (type(value) is str and not value.strip()):
            return False
    return True


class _NotFast(Exception):
    pass


def _not_fast() -> Any:
    raise _NotFast


@dataclass(frozen=True)
class _DictSpec:
    """What the fast path needs of a call to vouch for a Segment dict of it."""

    keys: frozenset[str]  # the wire names it may carry as they are, and "type"
    ids: tuple[str, ...]  # userId, anonymousId, groupId, ... and messageId
    texts: tuple[str, ...]  # event, name, category
    objects: tuple[str, ...]  # properties or traits, context, integrations
    required: tuple[str, ...]
    anonymous: bool
    body: str | None
    label: str | None


def _dict_spec(call: Call) -> _DictSpec:
    fields = [f for f in call.fields if f.into is None]
    return _DictSpec(
        frozenset({"type", *(f.wire for f in fields)}),
        tuple(f.wire for f in fields if f.kind in ("id", "message_id")),
        tuple(f.wire for f in fields if f.kind == "text"),
        tuple(f.wire for f in fields if f.kind == "object"),
        tuple(call.field(n).wire for n in call.required),
        call.takes_anonymous_id,
        call.body,
        call.label_wire,
    )


# Anything a Segment dict carries that is not in ``keys`` (snake_case names, sentAt,
# unknown keys) sends it the careful way, which names or drops it.
_DICTS = {kind: _dict_spec(call) for kind, call in CALLS.items()}


def fast_segment_dict(
    row: Mapping[str, Any], position: int, ids: Callable[[int], str], now: str | None
) -> Built | None:
    """A Segment-shaped dict as its message when it is plain enough to vouch for (the
    messageId, when it has none, is ``ids(position)``; ``now`` dates it when it has no
    timestamp, None: the current time). None when the careful path must build it."""
    if type(row) is not dict:
        return None
    spec = _DICTS.get(str(row.get("type")))
    if spec is None or not row.keys() <= spec.keys:
        return None
    msg = dict(row)
    if None in msg.values():  # a field given as None is a field not given
        msg = {key: value for key, value in msg.items() if value is not None}
    get = msg.get
    for wire in spec.ids:  # text that is not blank, or an integer
        value = get(wire)
        if value is None or (type(value) is str and value.strip()):
            continue
        if type(value) is not int:
            return None
        msg[wire] = str(value)
    for wire in spec.texts:
        value = get(wire)
        if value is not None and type(value) is not str:
            return None
    for wire in spec.objects:
        value = get(wire)
        if value is not None and type(value) is not dict:
            return None
    stamp = get("timestamp")
    if stamp is not None:
        # (the usual case written out: two calls less a row)
        if type(stamp) is dt.datetime and stamp.tzinfo is _UTC:
            stamp = utc_text(stamp)
        else:
            stamp = _fast_time(stamp)
            if stamp is None:
                return None
        msg["timestamp"] = stamp
    mid = get("messageId")
    if mid is not None and len(mid) > MAX_MESSAGE_ID_LENGTH:
        return None
    if not _has_all(msg, spec.required) or (
        spec.anonymous and "userId" not in msg and "anonymousId" not in msg
    ):
        return None
    body = spec.body
    if body is not None and body not in msg:
        msg[body] = {}
    context = get("context")
    msg["context"] = {**context, "library": LIBRARY} if context else {"library": LIBRARY}
    dated = stamp is None
    if dated:
        msg["timestamp"] = now or now_iso()
    if mid is None:
        msg["messageId"] = ids(position)
    try:
        encoded = serialize(msg)
    except TypeError:  # not plain JSON: the careful path converts it or names it
        return None
    if len(encoded) > MAX_MESSAGE_BYTES:
        return None
    # orjson writes NaN and infinity as null: where there is no null, there was none
    if b"null" in encoded and not _all_finite(msg, spec.objects):
        return None
    label = spec.label
    return tuple.__new__(Built, (msg, (), encoded, dated, msg.get(label, "") if label else ""))


def _all_finite(msg: Mapping[str, Any], objects: tuple[str, ...]) -> bool:
    """No NaN or infinity among the top-level values of a message's objects (the careful
    path writes them as null with a warning; nested ones are left to orjson, as the
    careful path does)."""
    for wire in objects:
        value = msg.get(wire)
        if value is None:
            continue
        for item in value.values():
            if type(item) is float and item - item != 0.0:
                return False
    return True
