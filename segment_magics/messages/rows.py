"""Rows (DataFrame records, dicts) to call arguments: the column mapping for bulk sends.

Pure: every id/timestamp/... column is found by its Segment or snake_case name (or
an explicit column), every other column becomes a property (track, page, screen)
or a trait (identify, group), and missing cells (NaN, NA, NaT, None) are omitted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from .jsonsafe import is_missing

# field -> the column names it is read from by default
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "user_id": ("userId", "user_id"),
    "anonymous_id": ("anonymousId", "anonymous_id"),
    "timestamp": ("timestamp",),
    "message_id": ("messageId", "message_id"),
    "context": ("context",),
    "integrations": ("integrations",),
    "event": ("event",),
    "name": ("name",),
    "category": ("category",),
    "group_id": ("groupId", "group_id"),
    "previous_id": ("previousId", "previous_id"),
}
# which of those fields each call reads from columns (others stay ordinary columns)
_IDS = ("user_id", "anonymous_id", "timestamp", "message_id", "context", "integrations")
CALL_COLUMNS: dict[str, tuple[str, ...]] = {
    "track": (*_IDS, "event"),
    "page": (*_IDS, "name", "category"),
    "screen": (*_IDS, "name", "category"),
    "identify": _IDS,
    "group": (*_IDS, "group_id"),
    "alias": ("user_id", "timestamp", "message_id", "context", "integrations", "previous_id"),
}
BODY = {"track": "properties", "page": "properties", "screen": "properties",
        "identify": "traits", "group": "traits"}  # fmt: skip


@dataclass(frozen=True)
class ColumnMap:
    """How a row becomes a call: explicit column names and the body columns to keep."""

    kind: str
    rename: Mapping[str, str] = field(
        default_factory=dict
    )  # field -> column, e.g. user_id -> customer
    body_columns: Sequence[str] | None = None  # None: every column not used for a field
    defaults: Mapping[str, Any] = field(default_factory=dict)  # e.g. event, context for all rows

    def __post_init__(self) -> None:
        if self.kind not in CALL_COLUMNS:
            raise ValidationError(
                "type", f"bulk sends take {', '.join(CALL_COLUMNS)}, got {self.kind!r}"
            )
        unknown = set(self.rename) - set(CALL_COLUMNS[self.kind])
        if unknown:
            raise ValidationError(
                sorted(unknown)[0],
                f"{self.kind} rows have no such field; columns can name "
                f"{', '.join(CALL_COLUMNS[self.kind])}",
            )

    def arguments(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of the call this row stands for."""
        args = dict(self.defaults)
        used: set[str] = set()
        for name in CALL_COLUMNS[self.kind]:
            explicit = self.rename.get(name)
            if explicit is not None:
                if explicit not in row:
                    raise ValidationError(
                        explicit, f"column {explicit!r} (for {name}) is not in the row"
                    )
                candidates: tuple[str, ...] = (explicit,)
            else:
                candidates = DEFAULT_COLUMNS[name]
            for column in candidates:
                if column in row:
                    used.add(column)
                    value = row[column]
                    if not is_missing(value):
                        args[name] = value
                    break
        body_name = BODY.get(self.kind)
        if body_name is not None:
            if self.body_columns is not None:
                missing = [c for c in self.body_columns if c not in row]
                if missing:
                    raise ValidationError(missing[0], f"column {missing[0]!r} is not in the row")
                keys: Iterator[str] | Sequence[str] = self.body_columns
            else:
                keys = (k for k in row if k not in used)
            body = {}
            for key in keys:
                value = row[key]
                if not is_missing(value):
                    body[str(key)] = value
            args[body_name] = {**args.get(body_name, {}), **body} if body_name in args else body
        return args
