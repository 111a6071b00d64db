"""Validate many messages without sending: lists of dicts, DataFrames, a session's history."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import ValidationError
from ..messages import ColumnMap, build_from_segment_dict, build_message, iter_rows
from .report import CheckReport
from .validate import PlanValidator

_TRACK_ROWS = ColumnMap("track")
MAX_LISTED = 1_000


def as_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """The message a row would be sent as: Segment dicts as they are, flat rows as track
    calls (``event`` column, other columns as properties). Raises ValidationError."""
    if not isinstance(row, Mapping):
        raise ValidationError("row", f"expected a dict, got {type(row).__name__}")
    if "type" in row:
        return build_from_segment_dict(row, copy=False).message
    return build_message("track", copy=False, **_TRACK_ROWS.arguments(row)).message


def iter_messages(source: Any) -> Iterator[dict[str, Any]]:
    """Messages from a source, skipping rows that are not valid messages."""
    for _, row in iter_rows(source)[0]:
        try:
            yield as_message(row)
        except ValidationError:
            continue


def check_messages(
    validator: PlanValidator, source: Iterable[Any] | Any, display_limit: int = 20
) -> CheckReport:
    """Check every message of ``source`` against the plan; nothing is sent."""
    report = CheckReport(display_limit=display_limit)
    for label, row in iter_rows(source)[0]:
        try:
            message = as_message(row)
        except ValidationError as exc:
            report.invalid_rows.append((label, str(exc)))
            continue
        report.checked += 1
        violations = validator.check(message)
        if not violations:
            report.valid += 1
            continue
        for violation in violations:
            report.by_kind[violation.kind] += 1
            if len(report.violations) < MAX_LISTED:
                report.violations.append((label, violation))
    return report
