"""Parse the timestamp forms analysts have at hand into aware UTC datetimes."""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from typing import Any

from ..errors import ValidationError
from .jsonsafe import aware_datetime, format_datetime, is_missing
from .naive_time import GUESS, NaiveTime


class WireTime(str):
    """A timestamp already in the wire form, made from a datetime64 column: trusted as is."""

    __slots__ = ()


EXAMPLE = "2024-01-15T10:30:00Z or 2024-01-15T10:30:00.000-08:00"

_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def _parse_offset(text: str) -> dt.timezone:
    if text in {"Z", "z"}:
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def parse_iso8601(text: str) -> dt.datetime:
    """Parse ISO 8601 (``Z``, ``±HH:MM``, ``±HHMM``, up to nanoseconds); without an
    offset the datetime is naive."""
    match = _ISO.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    date = dt.date.fromisoformat(match["date"])
    frac = (match["frac"] or "").ljust(6, "0")[:6]
    tz = _parse_offset(match["tz"]) if match["tz"] else None
    return dt.datetime(
        date.year,
        date.month,
        date.day,
        int(match["h"] or 0),
        int(match["m"] or 0),
        int(match["s"] or 0),
        int(frac or 0),
        tzinfo=tz,
    )


def normalize_timestamp(
    value: Any,
    field: str = "timestamp",
    naive: NaiveTime | None = None,
    warnings: list[str] | None = None,
) -> str | None:
    """Return ISO 8601 UTC with milliseconds, ``None`` when absent, or raise.

    A value without a time zone (a naive datetime or ``numpy.datetime64``, text
    without an offset) is read by ``naive`` and noted in ``warnings``."""
    kind = type(value)
    if kind is WireTime:  # made from a datetime64 column: already the wire form
        return value
    if kind is dt.datetime:  # the common case first
        return format_datetime(aware_datetime(value, field, naive, warnings))
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return format_datetime(aware_datetime(value, field, naive, warnings))
    if isinstance(value, dt.date):
        return format_datetime(_midnight(value, field, naive, warnings))
    if isinstance(value, str):
        if _CANONICAL.fullmatch(value):  # already what we send: only check it is a real date
            try:
                dt.datetime.fromisoformat(value[:-1])
                return value
            except ValueError:
                pass
        if len(value) == 10 and _ISO.fullmatch(value):  # a date, as a date is read
            return format_datetime(_midnight(_parsed(value, field).date(), field, naive, warnings))
        return format_datetime(aware_datetime(_parsed(value, field), field, naive, warnings,
                                              "an ISO 8601 time without an offset"))  # fmt: skip
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.datetime64):  # NaT was missing, above
        moment = value.astype("datetime64[us]").item()
        if isinstance(moment, dt.datetime):
            return format_datetime(aware_datetime(moment, field, naive, warnings,
                                                  "a numpy datetime64"))  # fmt: skip
    raise ValidationError(
        field,
        f"got a {type(value).__name__}; pass a datetime, a date, a pandas Timestamp, a "
        f"numpy datetime64 or an ISO 8601 string such as {EXAMPLE}",
    )


def _midnight(
    day: dt.date, field: str, naive: NaiveTime | None, warnings: list[str] | None
) -> dt.datetime:
    """A day as an event time: its midnight where values without a zone are read. Under
    the SDK's guess that is UTC, as Segment reads a bare date, and nothing is noted; a
    zone the user set (``local``, ``Europe/Berlin``) is their days' zone too, and noted."""
    midnight = dt.datetime(day.year, day.month, day.day)
    if naive is None or naive.setting == GUESS:
        return midnight.replace(tzinfo=dt.timezone.utc)
    return aware_datetime(midnight, field, naive, warnings, "a date")


def _parsed(value: str, field: str) -> dt.datetime:
    if _ISO.fullmatch(value):  # C parser first (3.11+ takes "Z"); ours covers the rest
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    try:
        return parse_iso8601(value)
    except ValueError:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ValidationError(
            field, f"{shown!r} is not an ISO 8601 timestamp; use e.g. {EXAMPLE}"
        ) from None


_clock: tuple[int, str] = (0, "")


def now_iso() -> str:
    """The current time in the wire form; computed once per millisecond (bulk sends
    date thousands of rows a second)."""
    global _clock
    ms = time.time_ns() // 1_000_000
    cached_ms, text = _clock
    if ms != cached_ms:
        seconds, millis = divmod(ms, 1000)
        stamp = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)
        text = f"{stamp.isoformat(timespec='seconds')}.{millis:03d}Z"
        _clock = (ms, text)
    return text
