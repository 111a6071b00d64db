"""The pure message layer: build, validate and JSON-convert Segment messages."""

from .build import (
    LIBRARY,
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_ID_LENGTH,
    Built,
    build_from_segment_dict,
    build_message,
    message_label,
    serialize,
)
from .calls import BODY, CALL_KINDS, CALLS, Call, CallKind, Field
from .jsonsafe import format_datetime, is_missing, to_json_safe
from .rows import ColumnMap, iter_rows
from .timestamps import normalize_timestamp

__all__ = [
    "BODY",
    "CALLS",
    "CALL_KINDS",
    "LIBRARY",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_MESSAGES",
    "MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_ID_LENGTH",
    "Built",
    "Call",
    "CallKind",
    "ColumnMap",
    "Field",
    "build_from_segment_dict",
    "build_message",
    "format_datetime",
    "is_missing",
    "iter_rows",
    "message_label",
    "normalize_timestamp",
    "serialize",
    "to_json_safe",
]
