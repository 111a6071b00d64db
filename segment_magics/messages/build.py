"""Build and validate Segment messages (track, identify, page, screen, group, alias).

Pure functions: no I/O, no clock except for generated ids. The caller's dicts are
never mutated; every nested value is copied while it is made JSON-safe.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .._version import __version__
from ..errors import ValidationError
from .calls import ALL_FIELDS, CALL_KINDS, CALLS, LABEL_WIRES, WIRE_NAMES, Call
from .ids import new_message_id
from .jsonsafe import CheckedDict, as_mapping, copy_json_object, is_missing, to_json_safe
from .naive_time import NaiveTime
from .timestamps import WireTime, normalize_timestamp, now_iso

MAX_MESSAGE_BYTES = 32 * 1024  # Segment's limit per message
MAX_BATCH_BYTES = 500_000  # Segment's limit per /v1/batch request
MAX_BATCH_MESSAGES = 2_500  # Segment's limit of messages per batch
MAX_MESSAGE_ID_LENGTH = 100
MAX_RECOMMENDED_DEPTH = 3
LIBRARY = {"name": "segment-magics", "version": __version__}

_ACCEPTED_KEYS = {*ALL_FIELDS, *WIRE_NAMES, "type"}
_ARGUMENT = {key: WIRE_NAMES.get(key, key) for key in (*ALL_FIELDS, *WIRE_NAMES)}  # -> keyword
# what Segment adds to a message it stores (an export's lines, a warehouse's rows): read
# from there to be checked or sent again, a message keeps only what a call sets
_IGNORED_KEYS = {"sentAt", "receivedAt", "originalTimestamp", "version", "channel",
                 "_metadata", "projectId", "writeKey"}  # fmt: skip


class Built(NamedTuple):
    """A validated message, ready for the wire, with what was noticed on the way.

    A named tuple: bulk sends build one per row, and tuples are cheap to make.
    """

    message: dict[str, Any]
    warnings: tuple[str, ...] = ()
    encoded: bytes = b""  # the compact JSON that goes on the wire
    dated: bool = False  # no timestamp was given: dated when built
    label: str = ""  # what a person calls it: the event, page name, group id, previous id

    @property
    def size(self) -> int:
        return len(self.encoded)

    def as_sent(self) -> dict[str, Any]:
        """The message as the wire carries it. A table's fast path puts bodies and
        nested cells in as JSON text (orjson fragments), which a plan cannot read;
        read back, they are plain values, and a plan checks exactly what is sent."""
        sent: dict[str, Any] = _loads(self.encoded)
        return sent

    @property
    def message_id(self) -> str:
        return str(self.message["messageId"])


class _Notes:
    """What was noticed while building one message."""

    __slots__ = ("naive", "warnings")

    def __init__(self, naive: NaiveTime | None = None) -> None:
        self.warnings: list[str] = []
        self.naive = naive  # how naive datetimes are read (None: the SDK's guess)


def _id(value: Any, name: str) -> str | None:
    """Ids are strings on the wire; ints (and integral floats from DataFrames) convert."""
    if type(value) is str:
        return value if value.strip() else None
    _refuse_a_time(value, name, "a string or an integer")
    if is_missing(value):
        return None
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        raise ValidationError(name, f"must be a string or an integer, got {value!r}")
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    raise ValidationError(name, f"must be a string or an integer, got {type(value).__name__}")


def _object(value: Any, name: str, notes: _Notes, copy: bool = True) -> dict[str, Any] | None:
    """A dict (or a Series, namedtuple or dataclass standing for one), made JSON-safe.

    With ``copy=False`` (bulk sends) plain dicts are left for orjson to check when
    the message is serialized; only NaN, which orjson would silently write as
    null, is looked for here, among the top-level values.
    """
    if value is None:
        return None
    if type(value) is CheckedDict:  # a default shared by every row, checked once
        return value
    mapping = as_mapping(value)
    if mapping is None:
        kind = type(value).__name__
        hint = (
            "; wrap it, e.g. {'items': ...}"
            if isinstance(value, list | tuple | set)
            else "; pass a dict (a DataFrame row, a namedtuple or a dataclass works too)"
        )
        raise ValidationError(name, f"must be a JSON object (a dict), got {kind}{hint}")
    if not copy and type(mapping) is dict:
        for item in mapping.values():
            if type(item) is float and item - item != 0.0:  # NaN or infinity
                safe_nan = to_json_safe(mapping, name, notes.warnings, notes.naive)
                assert isinstance(safe_nan, dict)
                return safe_nan
        return mapping
    safe, levels = copy_json_object(mapping, name, notes.warnings, copy=copy, naive=notes.naive)
    assert isinstance(safe, dict)
    if levels > MAX_RECOMMENDED_DEPTH:
        notes.warnings.append(
            f"{name} nests {levels} levels deep; Segment recommends at most "
            f"{MAX_RECOMMENDED_DEPTH} (some destinations flatten or drop deeper values)"
        )
    return safe


def _text(value: Any, name: str) -> str | None:
    if is_missing(value):
        return None
    _refuse_a_time(value, name, "a string")
    if not isinstance(value, str):
        raise ValidationError(name, f"must be a string, got {type(value).__name__}")
    return value


def _refuse_a_time(value: Any, name: str, wanted: str) -> None:
    """A table's datetime cell reaches the fields as its wire text (a WireTime): an id
    or a name it is not, as a datetime in a dict is not."""
    if type(value) is WireTime:
        raise ValidationError(name, f"must be {wanted}, got datetime")


def _message_id(value: Any) -> str:
    if is_missing(value) or value == "":
        return new_message_id()
    text = _id(value, "messageId")
    assert text is not None
    if len(text) > MAX_MESSAGE_ID_LENGTH:
        raise ValidationError(
            "messageId",
            f"is {len(text)} characters; Segment allows at most {MAX_MESSAGE_ID_LENGTH}",
        )
    return text


def message_label(message: Mapping[str, Any]) -> str:
    """What a person calls a message: its event, page name, group id or previous id."""
    for key in LABEL_WIRES:
        if message.get(key):
            return str(message[key])
    return ""


def _serialize_stdlib(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


try:  # orjson writes the same compact UTF-8 JSON about ten times faster
    import orjson

    _STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

    def serialize(message: Mapping[str, Any]) -> bytes:
        """Compact UTF-8 JSON, the form that is measured against Segment's limits.

        Strict: anything that is not plain JSON (a datetime, numpy value, set,
        non-string key, an integer beyond 64 bits, a lone surrogate, a structure
        nested too deep) raises TypeError, so that the caller converts it the
        way :func:`to_json_safe` says, with a warning or an error naming its path.

        The JSON is copied into bytes of its own size: orjson's bytes keep the
        buffer it wrote into, 4 KB for a message of 20 bytes and 8 KB for one of
        900 (more for long strings), and a backfill keeps thousands of payloads
        at once (a batch's, a chunk's). The copy costs 0.1 µs.
        """
        return _join((_dumps(message, option=_STRICT), b""))

    _dumps, _join = orjson.dumps, b"".join

    _loads: Callable[[bytes], Any] = orjson.loads

except ImportError:  # pragma: no cover - orjson is a dependency; stay usable without it
    serialize = _serialize_stdlib
    _loads = json.loads


def _unknown(kind: str, name: str) -> ValidationError:
    call = CALLS[kind]
    if name in ALL_FIELDS:
        body = call.body
        hint = f"; use {body} instead" if name in {"properties", "traits"} and body else ""
        return ValidationError(name, f"{kind} calls do not take {name}{hint}")
    close = difflib.get_close_matches(name, call.names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (fields: {', '.join(call.names)})"
    return ValidationError(name, f"is not a field of {kind} calls{hint}")


Converter = Callable[[Any, str, "_Notes", bool], Any]


def _id_field(value: Any, wire: str, notes: _Notes, copy: bool) -> str | None:
    return value if type(value) is str and value.strip() else _id(value, wire)


def _text_field(value: Any, wire: str, notes: _Notes, copy: bool) -> str | None:
    return value if type(value) is str else _text(value, wire)


def _time_field(value: Any, wire: str, notes: _Notes, copy: bool) -> str | None:
    if type(value) is WireTime:
        return value
    return normalize_timestamp(value, wire, notes.naive, notes.warnings)


_CONVERTERS: dict[str, Converter] = {
    "id": _id_field,
    "text": _text_field,
    "object": _object,
    "timestamp": _time_field,
}


@dataclass(frozen=True)
class _Recipe:
    """A call record compiled for the hot path of bulk sends."""

    names: frozenset[str]
    steps: tuple[tuple[str, str, Converter], ...]  # plain fields: name, wire, converter
    merges: tuple[tuple[str, str], ...]  # fields merged into the body: name, wire
    body: str | None
    required: tuple[tuple[str, str], ...]  # wire name, what to say when it is missing
    anonymous: bool  # the call takes an anonymousId (all but alias)
    label: str | None  # the wire field a person calls the message by


def _recipe(call: Call) -> _Recipe:
    special = {"context", "message_id", call.body}
    return _Recipe(
        names=frozenset(call.names),
        steps=tuple(
            (f.name, f.wire, _CONVERTERS[f.kind])
            for f in call.fields
            if f.name not in special and f.into is None
        ),
        merges=tuple((f.name, f.wire) for f in call.fields if f.into is not None),
        body=call.body,
        required=tuple((call.field(n).wire, problem) for n, problem in call.required.items()),
        anonymous=call.takes_anonymous_id,
        label=call.label_wire,
    )


_RECIPES = {kind: _recipe(call) for kind, call in CALLS.items()}


def build_message(
    kind: str,
    *,
    copy: bool = True,
    now: str | None = None,
    naive: NaiveTime | None = None,
    **fields: Any,
) -> Built:
    """Validate the arguments of one call and return the Segment message.

    ``fields`` are the call's keyword arguments (:data:`CALLS` lists them).
    Raises :class:`ValidationError` naming the field and the fix; nothing is
    partially built. ``copy=False`` lets plain nested values be shared with the
    caller's objects (bulk sends serialize at once and keep only the bytes).
    Without a timestamp the message is dated ``now`` (default: the current time),
    so that a message resent later still says when it happened. ``naive`` reads
    datetimes without a time zone (default: the official SDK's guess).
    """
    return build_from_arguments(kind, fields, copy=copy, now=now, naive=naive)


def build_from_arguments(
    kind: str,
    fields: Mapping[str, Any],
    *,
    copy: bool = True,
    now: str | None = None,
    naive: NaiveTime | None = None,
) -> Built:
    """:func:`build_message` for arguments already in a dict (bulk rows: no unpacking)."""
    recipe = _RECIPES.get(kind)
    if recipe is None:
        raise ValidationError("type", f"{kind!r} is not one of {', '.join(CALL_KINDS)}")
    if not recipe.names.issuperset(fields):
        for name in fields:
            if name not in recipe.names and fields[name] is not None:
                raise _unknown(kind, name)
    notes = _Notes(naive)
    get = fields.get
    msg: dict[str, Any] = {"type": kind}
    for name, wire, convert in recipe.steps:
        raw = get(name)
        if raw is not None:
            value = convert(raw, wire, notes, copy)
            if value is not None:
                msg[wire] = value
    for wire, problem in recipe.required:
        value = msg.get(wire)
        if value is None or (type(value) is str and not value.strip()):
            raise ValidationError(wire, problem)
    if recipe.anonymous and "userId" not in msg and "anonymousId" not in msg:
        aid = msg["anonymousId"] = new_message_id()
        notes.warnings.append(
            f"no userId or anonymousId given; generated anonymousId {aid} "
            "(pass a user id to tie this call to a user)"
        )
    body_name = recipe.body
    if body_name is not None:
        raw = get(body_name)
        body = _object(raw, body_name, notes, copy) if raw is not None else None
        for name, wire in recipe.merges:
            text = _text(get(name), wire)
            if text is not None:
                if body is None or (not copy and body is raw):
                    body = dict(body or {})  # never the caller's dict
                before = body.get(wire)
                if before is not None and before != text:
                    notes.warnings.append(
                        f"{body_name}.{wire} {before!r} was replaced by the {name} given ({text!r})"
                    )
                body[wire] = text
        msg[body_name] = {} if body is None else body
    raw = get("context")
    if type(raw) is CheckedDict:  # a context shared by every row: its final form made once
        msg["context"] = raw.with_library(LIBRARY)
    else:
        ctx = _object(raw, "context", notes, copy) if raw is not None else None
        msg["context"] = {**ctx, "library": LIBRARY} if ctx else {"library": LIBRARY}
        if copy:
            msg["context"]["library"] = dict(LIBRARY)
    dated = "timestamp" not in msg
    if dated:
        msg["timestamp"] = now or now_iso()
    msg["messageId"] = _message_id(get("message_id"))
    try:
        encoded = serialize(msg)
    except TypeError:
        encoded = _encode_converted(msg, notes)
    size = len(encoded)
    if size > MAX_MESSAGE_BYTES:
        raise ValidationError(
            "message",
            f"is {size:,} bytes serialized; Segment's limit is {MAX_MESSAGE_BYTES:,} bytes "
            "(32 KB) per message: send fewer or smaller properties",
        )
    label = msg.get(recipe.label) if recipe.label else None
    return Built(msg, tuple(notes.warnings), encoded, dated, label or "")


def _encode_converted(msg: dict[str, Any], notes: _Notes) -> bytes:
    """The slow path: convert what orjson refused (numpy, datetimes, sets, ...), or raise
    a ValidationError that names the path of what cannot be sent at all."""
    safe = to_json_safe(msg, "", notes.warnings, notes.naive)
    assert isinstance(safe, dict)
    msg.clear()
    msg.update(safe)
    try:
        return serialize(msg)
    except TypeError as exc:  # pragma: no cover - to_json_safe rejects what orjson would
        raise ValidationError("message", f"cannot be serialized: {exc}") from None


def arguments_from_segment_dict(
    data: Mapping[str, Any], where: str = ""
) -> tuple[str, dict[str, Any]]:
    """Split a Segment-shaped dict (``{"type": "track", "userId": ...}``) into a call.

    camelCase and snake_case keys are both accepted; an unknown key is an error
    that suggests the closest valid one.
    """
    prefix = f"{where}." if where else ""
    if not isinstance(data, Mapping):
        raise ValidationError(where or "message", f"must be a dict, got {type(data).__name__}")
    kind = data.get("type")
    if kind not in CALL_KINDS:
        raise ValidationError(
            f"{prefix}type", f"must be one of {', '.join(CALL_KINDS)}, got {kind!r}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = _ARGUMENT.get(key)
        if name is None:
            if key == "type" or key in _IGNORED_KEYS:
                continue
            same_case = [k for k in sorted(_ACCEPTED_KEYS) if k.lower() == str(key).lower()]
            close = same_case or difflib.get_close_matches(str(key), sorted(_ACCEPTED_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError(f"{prefix}{key}", f"is not a Segment message field{hint}")
        kwargs[name] = value
    return str(kind), kwargs


def build_from_segment_dict(
    data: Mapping[str, Any],
    where: str = "",
    copy: bool = True,
    now: str | None = None,
    extra: Callable[[dict[str, Any]], None] | None = None,
    naive: NaiveTime | None = None,
) -> Built:
    """Validate a Segment-shaped dict exactly like the matching single call.

    ``extra`` may fill in arguments first (a derived messageId, a fallback id)."""
    kind, kwargs = arguments_from_segment_dict(data, where)
    if extra is not None:
        extra(kwargs)
    try:
        return build_from_arguments(kind, kwargs, copy=copy, now=now, naive=naive)
    except ValidationError as exc:
        if not where:
            raise
        raise ValidationError(f"{where}.{exc.field}", exc.problem) from None
