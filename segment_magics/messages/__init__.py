"""The pure message layer: build, validate and JSON-convert Segment messages."""

from .build import (
    FIELDS,
    LIBRARY,
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_ID_LENGTH,
    MESSAGE_TYPES,
    Built,
    MessageType,
    arguments_from_segment_dict,
    build_from_segment_dict,
    build_message,
    message_label,
    serialize,
)
from .jsonsafe import format_datetime, is_missing, to_json_safe
from .rows import BODY, CALL_COLUMNS, ColumnMap, frame_records, iter_rows
from .timestamps import normalize_timestamp, parse_iso8601

__all__ = [
    "BODY",
    "CALL_COLUMNS",
    "FIELDS",
    "LIBRARY",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_MESSAGES",
    "MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_ID_LENGTH",
    "MESSAGE_TYPES",
    "Built",
    "ColumnMap",
    "MessageType",
    "arguments_from_segment_dict",
    "build_from_segment_dict",
    "build_message",
    "format_datetime",
    "frame_records",
    "is_missing",
    "iter_rows",
    "message_label",
    "normalize_timestamp",
    "parse_iso8601",
    "serialize",
    "to_json_safe",
]
