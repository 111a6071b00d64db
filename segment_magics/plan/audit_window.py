"""What an audit is asked to take: a time window (``since``/``until``) and some events,
read the same way by the row checker (:meth:`Window.takes`), DuckDB (:meth:`Window.sql`)
and the export's day folders (:meth:`Window.takes_day`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ValidationError
from ..messages import CALL_KINDS
from ..messages.arguments import checked_names
from ..messages.timestamps import parse_iso8601
from .audit_report import utc_stamp
from .audit_sql import sql_text
from .validate import closest

When = str | dt.date  # a date or time: ISO text, a date, or a datetime (pandas' too)


class Window:
    """The messages an audit takes: a time window and some events."""

    def __init__(
        self, since: When | None, until: When | None, events: str | Sequence[str] | None
    ) -> None:
        self.since = _instant(since, "since") if since else ""
        self.until = _instant(until, "until", end=True) if until else ""
        self._asked = (_shown(since), _shown(until))  # as the user gave them, for the report
        # one name is one event, not the letters of its name
        self.events = (
            (events,) if isinstance(events, str) else checked_names("events", events) or ()
        )
        if self.since and self.until and _moment(self.since) >= _moment(self.until):
            raise ValidationError(
                "until",
                f"{until!r} is not after since={since!r}: the window holds nothing; "
                "give the earlier date as since",
            )

    def takes(self, message: dict[str, Any]) -> bool:
        stamp = utc_stamp(str(message.get("timestamp") or ""))
        if self.since and stamp < self.since:
            return False
        if self.until and stamp >= self.until:
            return False
        if self.events:
            name = message.get("event") or message.get("type")
            return name in self.events or message.get("type") in self.events
        return True

    @property
    def timed(self) -> bool:
        """Whether the window asks for a time (every message's timestamp is read)."""
        return bool(self.since or self.until)

    def describe(self) -> str:
        """The window as the report names it ("" when it takes everything)."""
        parts = []
        if self.since:
            parts.append(f"since {self._asked[0]}")
        if self.until:  # a date takes its whole day; a time is where the window ends
            whole_day = " (inclusive)" if len(self._asked[1]) == len("2024-01-31") else ""
            parts.append(f"until {self._asked[1]}{whole_day}")
        if self.events:
            parts.append("events " + ", ".join(repr(e) for e in self.events))
        return "; ".join(parts)

    def unknown_events(self, planned: list[str], seen: Iterable[str]) -> list[str]:
        """Hints for asked-for events that are neither planned, a call type nor found:
        most likely a misspelt name."""
        known = {*planned, *seen, *CALL_KINDS}
        hints = []
        for name in self.events:
            if name not in known:
                close = closest(name, planned)
                hint = f"; did you mean {close!r}?" if close else ""
                hints.append(f"events: no message is {name!r}, nor does the plan list it{hint}")
        return hints

    def takes_day(self, day: dt.date) -> bool:
        """Whether an export's folder of the messages Segment received on ``day`` (UTC)
        may hold some in the window. One received before ``since`` cannot: a message
        arrives after its ``timestamp`` (Segment corrects a device's clock by it). One
        received after ``until`` can: a phone offline for a week sends its events late,
        and they land in the folder of the day they arrived."""
        return not (self.since and day.isoformat() < self.since[:10])

    def sql(self) -> str:
        """The same window as a SQL condition on ``ts``, ``ev`` and ``ty``."""
        parts = []
        if self.since:
            parts.append(f"ts >= {sql_text(self.since)}")
        if self.until:
            parts.append(f"ts < {sql_text(self.until)}")
        if self.events:
            listed = ", ".join(sql_text(e) for e in self.events)
            parts.append(f"(ev IN ({listed}) OR ty IN ({listed}))")
        return " AND ".join(parts) or "TRUE"


def _shown(value: When | None) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value or "").strip()


def _moment(instant: str) -> dt.datetime:
    return dt.datetime.fromisoformat(instant)


def _instant(value: When, name: str, end: bool = False) -> str:
    """An ISO date or time (text, a date or a datetime) as the text timestamps compare
    with (``until``: the end of that day when only a date is given)."""
    if isinstance(value, str):
        value = _parsed(value.strip(), name)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date):
        return (value + dt.timedelta(days=1)).isoformat() if end else value.isoformat()
    raise ValidationError(
        name,
        f"give a date or time such as '2024-01-31' (or a datetime), not {type(value).__name__}",
    )


def _parsed(text: str, name: str) -> dt.date:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return parse_iso8601(text)  # (as messages are read, on every Python we support)
    except ValueError:
        raise ValidationError(
            name, f"{text!r} is not a date or time; use e.g. 2024-01-31"
        ) from None
