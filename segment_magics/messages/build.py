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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._version import __version__
from ..errors import ValidationError
from .ids import new_message_id
from .jsonsafe import copy_json_object, is_missing
from .timestamps import normalize_timestamp

MessageType = Literal["track", "identify", "page", "screen", "group", "alias"]
MESSAGE_TYPES: tuple[str, ...] = ("track", "identify", "page", "screen", "group", "alias")
MAX_MESSAGE_BYTES = 32 * 1024  # Segment's limit per message
MAX_BATCH_BYTES = 500_000  # Segment's limit per /v1/batch request
MAX_BATCH_MESSAGES = 2_500  # Segment's limit of messages per batch
MAX_MESSAGE_ID_LENGTH = 100
MAX_RECOMMENDED_DEPTH = 3
LIBRARY = {"name": "segment-magics", "version": __version__}

# Which optional arguments each call takes (besides ids, context, integrations,
# timestamp and message_id, which every call takes).
_SPECIFIC: dict[str, frozenset[str]] = {
    "track": frozenset({"event", "properties"}),
    "identify": frozenset({"traits", "email", "name"}),
    "page": frozenset({"name", "category", "properties"}),
    "screen": frozenset({"name", "category", "properties"}),
    "group": frozenset({"group_id", "traits"}),
    "alias": frozenset({"previous_id"}),
}
_COMMON = frozenset(
    {"user_id", "anonymous_id", "context", "integrations", "timestamp", "message_id"}
)
FIELDS: tuple[str, ...] = (
    "user_id", "anonymous_id", "event", "name", "category", "group_id", "previous_id",
    "email", "properties", "traits", "context", "integrations", "timestamp", "message_id",
)  # fmt: skip

# Segment's camelCase wire names <-> our snake_case arguments.
WIRE_NAMES = {
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "groupId": "group_id",
    "previousId": "previous_id",
    "messageId": "message_id",
}
_ACCEPTED_KEYS = {*FIELDS, *WIRE_NAMES, "type"}
_IGNORED_KEYS = {"sentAt", "receivedAt", "originalTimestamp", "version", "channel"}


@dataclass(frozen=True)
class Built:
    """A validated message, ready for the wire, with what was noticed on the way."""

    message: dict[str, Any]
    warnings: tuple[str, ...] = ()
    encoded: bytes = b""  # the compact JSON that goes on the wire

    @property
    def size(self) -> int:
        return len(self.encoded)

    @property
    def message_id(self) -> str:
        return str(self.message["messageId"])


@dataclass
class _Notes:
    warnings: list[str] = field(default_factory=list)


def _id(value: Any, name: str) -> str | None:
    """Ids are strings on the wire; ints (and integral floats from DataFrames) convert."""
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
    if value is None:
        return None
    if not isinstance(value, Mapping):
        kind = type(value).__name__
        raise ValidationError(
            name, f"must be a JSON object (a dict), got {kind}; wrap it, e.g. {{'items': ...}}"
        )
    safe, levels = copy_json_object(value, name, notes.warnings, copy=copy)
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
    if not isinstance(value, str):
        raise ValidationError(name, f"must be a string, got {type(value).__name__}")
    return value


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
    for key in ("event", "name", "groupId", "previousId"):
        if message.get(key):
            return str(message[key])
    return ""


def _serialize_stdlib(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


try:  # orjson writes the same compact UTF-8 JSON about ten times faster
    import orjson

    def serialize(message: Mapping[str, Any]) -> bytes:
        """Compact UTF-8 JSON, the form that is measured against Segment's limits."""
        return orjson.dumps(message)

except ImportError:  # pragma: no cover - orjson is a dependency; stay usable without it
    serialize = _serialize_stdlib


def _check_applicable(kind: str, given: Mapping[str, Any]) -> None:
    allowed = _COMMON | _SPECIFIC[kind]
    for name, value in given.items():
        if value is None or name in allowed:
            continue
        hint = {
            "properties": "traits" if "traits" in allowed else None,
            "traits": "properties" if "properties" in allowed else None,
        }.get(name)
        fix = f"; use {hint} instead" if hint else ""
        raise ValidationError(name, f"{kind} calls do not take {name}{fix}")


def build_message(
    kind: str,
    *,
    user_id: Any = None,
    anonymous_id: Any = None,
    event: Any = None,
    name: Any = None,
    category: Any = None,
    group_id: Any = None,
    previous_id: Any = None,
    email: Any = None,
    properties: Any = None,
    traits: Any = None,
    context: Any = None,
    integrations: Any = None,
    timestamp: Any = None,
    message_id: Any = None,
    copy: bool = True,
) -> Built:
    """Validate the arguments of one call and return the Segment message.

    Raises :class:`ValidationError` naming the field and the fix; nothing is
    partially built. ``copy=False`` lets plain nested values be shared with the
    caller's objects (bulk sends serialize at once and keep only the bytes).
    """
    if kind not in MESSAGE_TYPES:
        raise ValidationError("type", f"{kind!r} is not one of {', '.join(MESSAGE_TYPES)}")
    given = {
        "user_id": user_id, "anonymous_id": anonymous_id, "event": event, "name": name,
        "category": category, "group_id": group_id, "previous_id": previous_id,
        "email": email, "properties": properties, "traits": traits,
    }  # fmt: skip
    _check_applicable(kind, given)
    notes = _Notes()
    msg: dict[str, Any] = {"type": kind}

    uid = _id(user_id, "userId")
    aid = _id(anonymous_id, "anonymousId")
    if kind == "alias":
        prev = _id(previous_id, "previousId")
        if prev is None:
            raise ValidationError("previousId", "alias needs the previous id (the old id)")
        if uid is None:
            raise ValidationError("userId", "alias needs the new userId")
        msg["previousId"] = prev
    elif uid is None and aid is None:
        aid = new_message_id()
        notes.warnings.append(
            f"no userId or anonymousId given; generated anonymousId {aid} "
            "(pass a user id to tie this call to a user)"
        )
    if uid is not None:
        msg["userId"] = uid
    if aid is not None:
        msg["anonymousId"] = aid

    if kind == "track":
        ev = _text(event, "event")
        if ev is None or not ev.strip():
            raise ValidationError(
                "event", "track needs a non-empty event name, e.g. 'Order Completed'"
            )
        msg["event"] = ev
    elif kind in {"page", "screen"}:
        for key, value in (("name", name), ("category", category)):
            text = _text(value, key)
            if text is not None:
                msg[key] = text
    elif kind == "group":
        gid = _id(group_id, "groupId")
        if gid is None:
            raise ValidationError(
                "groupId", "group needs the id of the group (account), e.g. 'acme'"
            )
        msg["groupId"] = gid

    if kind in {"track", "page", "screen"}:
        msg["properties"] = _object(properties, "properties", notes, copy) or {}
    elif kind in {"identify", "group"}:
        merged = _object(traits, "traits", notes, copy) or {}
        if not copy and kind == "identify" and (email is not None or name is not None):
            merged = dict(merged)  # about to add keys: never the caller's dict
        if kind == "identify":
            for key, value in (("email", email), ("name", name)):
                text = _text(value, key)
                if text is not None:
                    merged[key] = text
        msg["traits"] = merged

    ctx = _object(context, "context", notes, copy) or {}
    msg["context"] = {**ctx, "library": LIBRARY} if not copy else {**ctx, "library": dict(LIBRARY)}
    integ = _object(integrations, "integrations", notes, copy)
    if integ is not None:
        msg["integrations"] = integ
    ts = normalize_timestamp(timestamp)
    if ts is not None:
        msg["timestamp"] = ts
    msg["messageId"] = _message_id(message_id)

    encoded = serialize(msg)
    size = len(encoded)
    if size > MAX_MESSAGE_BYTES:
        raise ValidationError(
            "message",
            f"is {size:,} bytes serialized; Segment's limit is {MAX_MESSAGE_BYTES:,} bytes "
            "(32 KB) per message: send fewer or smaller properties",
        )
    return Built(msg, tuple(notes.warnings), encoded)


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
    if kind not in MESSAGE_TYPES:
        raise ValidationError(
            f"{prefix}type", f"must be one of {', '.join(MESSAGE_TYPES)}, got {kind!r}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "type" or key in _IGNORED_KEYS:
            continue
        if key not in _ACCEPTED_KEYS:
            same_case = [k for k in sorted(_ACCEPTED_KEYS) if k.lower() == str(key).lower()]
            close = same_case or difflib.get_close_matches(str(key), sorted(_ACCEPTED_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError(f"{prefix}{key}", f"is not a Segment message field{hint}")
        kwargs[WIRE_NAMES.get(key, key)] = value
    return str(kind), kwargs


def build_from_segment_dict(data: Mapping[str, Any], where: str = "", copy: bool = True) -> Built:
    """Validate a Segment-shaped dict exactly like the matching single call."""
    kind, kwargs = arguments_from_segment_dict(data, where)
    try:
        return build_message(kind, copy=copy, **kwargs)
    except ValidationError as exc:
        if not where:
            raise
        raise ValidationError(f"{where}.{exc.field}", exc.problem) from None
