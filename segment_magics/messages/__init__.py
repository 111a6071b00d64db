"""The pure message layer: build, validate and JSON-convert Segment messages."""

from .build import (
    FIELDS,
    LIBRARY,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_ID_LENGTH,
    MESSAGE_TYPES,
    Built,
    MessageType,
    arguments_from_segment_dict,
    build_from_segment_dict,
    build_message,
    serialize,
)
from .jsonsafe import format_datetime, is_missing, to_json_safe
from .timestamps import normalize_timestamp, parse_iso8601

__all__ = [
    "FIELDS",
    "LIBRARY",
    "MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_ID_LENGTH",
    "MESSAGE_TYPES",
    "Built",
    "MessageType",
    "arguments_from_segment_dict",
    "build_from_segment_dict",
    "build_message",
    "format_datetime",
    "is_missing",
    "normalize_timestamp",
    "parse_iso8601",
    "serialize",
    "to_json_safe",
]
