"""Segment's rules for what arrives at the Tracking API, and what it would drop.

Segment's HTTP API documents 400 for bodies it cannot read at all (bad JSON, a
message over 32 KB, a request over 500 KB) and answers 200 to everything else, then
silently drops the messages it cannot accept. The collector answers the same way,
but keeps what Segment would drop with the reason, so nobody is fooled by a 200: a
``type`` that does not match the path, a ``context`` that is not an object, a
message without a type. JSON that no parser reads the same way (an integer beyond
64 bits, a lone surrogate, nesting deeper than a JSON writer allows) is a JSON error:
400, so that senders do not retry it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

from ..messages import CALL_KINDS, CALLS, MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES
from ..messages import MAX_MESSAGE_ID_LENGTH as MAX_ID

# /v1/<call>, /v1/batch and /v1/import, and the one-letter paths analytics.js and the
# mobile SDKs use through proxies (/v1/t for track, /v1/b for batch, ...).
ROUTES = {**{kind: kind for kind in CALL_KINDS}, **{kind[0]: kind for kind in CALL_KINDS},
          "batch": "batch", "b": "batch", "import": "batch"}  # fmt: skip
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
# Integers of 19 digits or more may be outside 64 bits (-2**63 has 19): checked exactly.
_LONG_NUMBER = b"0" * 19
_INT_RANGE = (-(2**63), 2**64 - 1)


class Rejected(Exception):
    """A request Segment would answer with an error: ``status``, ``code``, ``message``."""

    def __init__(self, status: int, code: str, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.close = close  # the connection cannot be trusted to stay in step


def bad(message: str, code: str = "invalid_request") -> Rejected:
    return Rejected(400, code, message)


def decode(raw: bytes, encoding: str = "") -> dict[str, Any]:
    """The JSON object a request carries, or :class:`Rejected`."""
    if encoding.strip().lower() == "gzip":
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = inflater.decompress(raw, MAX_BATCH_BYTES + 1)
        except zlib.error:
            raise bad("body is not valid gzip", "invalid_gzip") from None
        if not inflater.eof and len(raw) <= MAX_BATCH_BYTES:  # (over the limit: too large)
            raise bad("body is not valid gzip (it is cut short)", "invalid_gzip")
    elif encoding.strip() and encoding.strip().lower() != "identity":
        raise bad(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    if len(raw) > MAX_BATCH_BYTES:
        raise Rejected(
            400,
            "payload_too_large",
            f"request is over {MAX_BATCH_BYTES:,} bytes (Segment's 500 KB limit)",
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:  # NaN, Infinity, lone surrogates, depth, syntax
        raise bad(f"invalid JSON: {exc}", "invalid_json") from None
    if _LONG_NUMBER in raw.translate(_DIGITS_AS_ZERO):  # orjson reads big integers as floats:
        _check_integers(raw)  # check them exactly (rare: only with a run of 20+ digits)
    if not isinstance(body, dict):
        raise bad("body must be a JSON object", "invalid_json")
    return body


def _check_integers(raw: bytes) -> None:
    def integer(text: str) -> int:
        value = int(text)
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise bad(
                f"integer {text[:30]}{'...' if len(text) > 30 else ''} does not fit in 64 bits; "
                "send it as a string",
                "invalid_json",
            )
        return value

    try:
        json.loads(raw, parse_int=integer)
    except RecursionError:
        raise bad("invalid JSON: nested too deep", "invalid_json") from None


def strip_write_keys(value: Any) -> None:
    """Remove every ``writeKey`` (in place), at any depth: keys are never stored."""
    if isinstance(value, dict):
        value.pop("writeKey", None)
        for item in value.values():
            strip_write_keys(item)
    elif isinstance(value, list):
        for item in value:
            strip_write_keys(item)


Messages = list[tuple[dict[str, Any], bytes]]


def messages_of(route: str, body: dict[str, Any]) -> tuple[Messages, dict[int, str]]:
    """The messages in a request, each with its compact JSON: one for ``/v1/<type>``,
    the items of ``/v1/batch`` (with the envelope's context, integrations and sentAt
    applied to each); and, by position, why Segment would drop a message that it
    accepts with a 200 (a type that does not match the path, a context that is not an
    object, no type at all)."""
    refused: dict[int, str] = {}
    if route != "batch":
        body.setdefault("type", route)
        if body["type"] != route:
            refused[0] = f"type {body['type']!r} sent to /v1/{route}"
        items = [body]
    else:
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise bad("batch must be a list of messages")
        shared = {k: body[k] for k in ("context", "integrations") if isinstance(body.get(k), dict)}
        sent_at = body.get("sentAt")
        for index, item in enumerate(batch):
            if not isinstance(item, dict):
                raise bad(f"batch[{index}] must be an object", "invalid_json")
            if not isinstance(item.get("type"), str) or not item["type"]:
                refused[index] = f"no type ({', '.join(CALL_KINDS)})"
            for name, value in shared.items():
                own = item.get(name)
                item[name] = {**value, **(own if isinstance(own, dict) else {})}
            if sent_at and "sentAt" not in item:
                item["sentAt"] = sent_at
        items = batch
    out = []
    for index, item in enumerate(items):
        if "context" in item and not isinstance(item["context"], dict):
            refused.setdefault(index, "context is not an object")
        try:
            encoded = orjson.dumps(item)
        except orjson.JSONEncodeError:  # deeper than a JSON writer goes (254 levels)
            raise bad(f"message {index} is nested too deep to store", "invalid_json") from None
        if len(encoded) > MAX_MESSAGE_BYTES:
            raise Rejected(
                400,
                "payload_too_large",
                f"message {index} is {len(encoded):,} bytes; "
                f"the limit is {MAX_MESSAGE_BYTES:,} (32 KB)",
            )
        out.append((item, encoded))
    return out, refused


def _text(message: Mapping[str, Any], key: str) -> bool:
    value = message.get(key)
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value) != ""


# Per call: the wire names it requires, each with whether it must be non-blank text
# (worked out once: every message of every batch asks).
_REQUIRED = {
    kind: tuple((call.field(name).wire, call.field(name).kind == "text") for name in call.required)
    for kind, call in CALLS.items()
}
_ANONYMOUS = frozenset(kind for kind, call in CALLS.items() if call.takes_anonymous_id)


def drop_reason(message: Mapping[str, Any], batch_size: int = 1) -> str | None:
    """Why Segment would accept this message with a 200 and then drop it (None: it keeps it)."""
    kind = message.get("type")
    if batch_size > MAX_BATCH_MESSAGES:
        return f"the batch had {batch_size:,} messages; Segment drops batches over 2,500"
    required = _REQUIRED.get(kind) if isinstance(kind, str) else None
    if required is None:
        return f"type {kind!r} is not one of {', '.join(CALL_KINDS)}"
    if kind in _ANONYMOUS and not (_text(message, "userId") or _text(message, "anonymousId")):
        return "no userId or anonymousId"
    for wire, text in required:
        value = message.get(wire)
        given = isinstance(value, str) and bool(value.strip()) if text else _text(message, wire)
        if not given:
            return f"{kind} without {wire}"
    message_id = message.get("messageId")
    if isinstance(message_id, str) and len(message_id) > MAX_ID:
        return f"messageId is {len(message_id)} characters; Segment allows {MAX_ID}"
    return None
