"""What an audit found, grouped as Segment's Protocols view groups violations.

:class:`Tally` is what every engine fills (DuckDB's column checks, the row checker,
each Spark or Dask partition) and what merges; :class:`AuditReport` is what the
analyst reads: a table in the house style, ``to_pandas()``, and a per-day plot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..display import Cell, Rendered, Table, plural
from ..errors import require
from ..messages.timestamps import parse_iso8601

EXAMPLES = 5  # example messageIds a group keeps
BAD_LISTED = 100  # bad lines (and files) listed with where they are
_INDEX = re.compile(r"\[\d+\]")


# A timestamp written another way than the wire's UTC form (``...T10:00:00.000Z``): with
# an offset (``+05:30``, which text order and the first ten characters, the day, would
# misplace), without a zone (read as UTC, as stored history is), or as DuckDB writes a
# Parquet file's timestamps (``2024-01-01 04:30:00+00``). The column checks
# (:mod:`.audit_pass`) convert the same forms the same way.
STAMP = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)?"
_STAMP = re.compile(STAMP)


def utc_stamp(text: str) -> str:
    """A message's timestamp as the text an audit orders, windows and dates it by:
    as it is when it is already UTC's (``T`` and ``Z``) or no timestamp at all, else
    its UTC instant written ``2024-01-01T18:30:00.000Z``."""
    if (text[10:11] == "T" and text.endswith("Z")) or not _STAMP.fullmatch(text):
        return text
    try:  # C's parser first; ours reads what 3.10's does not (+0530, .12)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parse_iso8601(text)
        except ValueError:  # no such day or hour: left as it is
            return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def group_path(path: str) -> str:
    """A violation's path as groups show it: array positions folded (``products[].price``)."""
    return _INDEX.sub("[]", path)


@dataclass
class Group:
    event: str
    field: str
    kind: str
    count: int = 0
    first: str = ""
    last: str = ""
    examples: list[str] = dataclasses.field(default_factory=list)
    detail: str = ""

    def note(self, stamp: str, message_id: str, detail: str = "", count: int = 1) -> None:
        self.count += count
        if stamp and (not self.first or stamp < self.first):
            self.first = stamp
        if stamp and stamp > self.last:
            self.last = stamp
        if message_id and len(self.examples) < EXAMPLES:
            self.examples.append(message_id)
        if detail and not self.detail:
            self.detail = detail

    def merge(self, other: Group) -> None:
        self.count += other.count
        for stamp in (other.first, other.last):
            if stamp and (not self.first or stamp < self.first):
                self.first = stamp
            if stamp and stamp > self.last:
                self.last = stamp
        self.examples = (self.examples + other.examples)[:EXAMPLES]
        self.detail = self.detail or other.detail


@dataclass
class Tally:
    """Counts that add up: messages per event and day, violations grouped, bad input."""

    messages: int = 0
    broken: int = 0  # messages with at least one violation
    volume: Counter[str] = dataclasses.field(default_factory=Counter)  # messages per event
    per_day: Counter[tuple[str, str]] = dataclasses.field(
        default_factory=Counter
    )  # (event, day) violations
    groups: dict[tuple[str, str, str], Group] = dataclasses.field(default_factory=dict)
    bad_lines: int = 0
    bad_files: int = 0
    bad: list[tuple[str, int, str]] = dataclasses.field(
        default_factory=list
    )  # (file, line, why), listed

    def group(self, event: str, path: str, kind: str) -> Group:
        key = (event, group_path(path), kind)
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = Group(*key)
        return found

    def observe(self, message: dict[str, Any], violations: Iterable[Any]) -> None:
        """One message and the row checker's violations of it."""
        event = _label(message)
        stamp = utc_stamp(str(message.get("timestamp") or ""))
        message_id = str(message.get("messageId") or "")
        self.messages += 1
        self.volume[event] += 1
        found = False
        for violation in violations:
            found = True
            self.group(event, violation.field, violation.kind).note(
                stamp, message_id, violation.detail
            )
            self.per_day[(event, stamp[:10])] += 1
        self.broken += found

    def bad_line(self, where: str, line: int, why: str) -> None:
        self.bad_lines += 1
        if len(self.bad) < BAD_LISTED:
            self.bad.append((where, line, why))

    def bad_file(self, where: str, why: str) -> None:
        self.bad_files += 1
        if len(self.bad) < BAD_LISTED:
            self.bad.append((where, 0, why))

    def merge(self, other: Tally) -> Tally:
        self.messages += other.messages
        self.broken += other.broken
        self.volume.update(other.volume)
        self.per_day.update(other.per_day)
        for key, group in other.groups.items():
            mine = self.groups.get(key)
            if mine is None:
                self.groups[key] = group
            else:
                mine.merge(group)
        self.bad_lines += other.bad_lines
        self.bad_files += other.bad_files
        self.bad = (self.bad + other.bad)[:BAD_LISTED]
        return self


GROUPS_SHOWN = 50  # the table's rows; to_pandas() has every group


def _nothing_found(broken: int, messages: int) -> Cell:
    """The table's one row when no planned event broke a rule: all clear only when no
    message broke the plan at all (unplanned events are listed below the table), and
    some were checked."""
    if not messages:
        return Cell("nothing to check")
    if broken:
        return Cell("no violations of the planned events' rules")
    return Cell("no violations", status="ok")


def _label(message: dict[str, Any]) -> str:
    """What a message is called in the report: its event, else its call type."""
    return str(message.get("event") or message.get("type") or "")


@dataclass(eq=False)
class AuditReport(Rendered):
    """An audit of history against a plan: violations grouped by event, field path and
    kind (as Protocols groups them), unplanned events by volume, bad input listed."""

    plan: str
    source: str
    tally: Tally
    engine: str = ""  # how the messages were checked
    row_checked: tuple[str, ...] = ()  # events the row checker checked, and why
    elapsed: float = 0.0
    window: str = ""  # what since/until/events narrowed the audit to ("": everything)
    hints: tuple[str, ...] = ()  # what may be wrong with the question, when little matched

    @property
    def groups(self) -> list[Group]:
        """Most frequent first."""
        return sorted(self.tally.groups.values(), key=lambda g: (-g.count, g.event, g.field))

    @property
    def unplanned_events(self) -> list[tuple[str, int]]:
        return [(g.event, g.count) for g in self.groups if g.kind == "unplanned event"]

    @property
    def messages(self) -> int:
        return self.tally.messages

    def share(self, group: Group) -> float:
        """The group's count as a share of its event's volume."""
        volume = self.tally.volume.get(group.event, 0)
        return group.count / volume if volume else 0.0

    def table(self) -> Table:
        t = self.tally
        rows: list[list[Any]] = []
        planned = [g for g in self.groups if g.kind != "unplanned event"]
        for g in planned[:GROUPS_SHOWN]:
            seen = f"{g.first[:10]} … {g.last[:10]}" if g.first else "no timestamp"
            example = g.examples[0] if g.examples else ""
            rows.append([g.event, g.field, g.kind, f"{g.count:,}", f"{self.share(g):.1%}", seen,
                         example])  # fmt: skip
        broken = f"{plural(t.broken, 'message')} breaking the plan"
        if t.messages:
            notes = [f"{plural(t.messages, 'message')}, {broken} ({t.broken / t.messages:.1%})"]
        else:
            notes = ["no messages in the window" if self.window else "no messages read"]
        if self.window:
            notes.append(f"window: {self.window}")
        notes += self.hints
        if len(planned) > GROUPS_SHOWN:
            notes.append(f"showing the {GROUPS_SHOWN} largest of {len(planned):,} groups; "
                         "all of them: report.to_pandas()")  # fmt: skip
        unplanned = self.unplanned_events
        if unplanned:
            listed = ", ".join(f"{name} ({count:,})" for name, count in unplanned[:8])
            notes.append(f"{plural(len(unplanned), 'unplanned event')}, by volume: {listed}")
        if t.bad_lines or t.bad_files:
            where = "; ".join(f"{f}:{n}" if n else f for f, n, _ in t.bad[:5])
            parts = []
            if t.bad_lines:
                parts.append(
                    f"{plural(t.bad_lines, 'line')} not a message (not JSON, or not an object)"
                )
            if t.bad_files:
                parts.append(f"{plural(t.bad_files, 'file')} cut short or unreadable")
            notes.append(f"skipped: {' and '.join(parts)} ({where}); all: report.tally.bad")
        if self.row_checked:
            notes.append("checked row by row: " + "; ".join(self.row_checked[:5]))
        notes.append(f"{self.engine}, {self.elapsed:.1f} s · report.to_pandas(), report.plot()")
        return Table(
            title=f"Audit of {self.source} against {self.plan!r}",
            columns=("event", "field", "kind", "count", "share", "first … last seen", "example"),
            rows=rows or [[_nothing_found(t.broken, t.messages), "", "", "", "", "", ""]],
            notes=notes,
            wide=frozenset({1}),
        )

    def to_pandas(self) -> Any:
        """One row per group: event, field, kind, count, share, first, last, examples."""
        pd = require("pandas", "report.to_pandas()", "audit")

        return pd.DataFrame(
            [
                {
                    "event": g.event,
                    "field": g.field,
                    "kind": g.kind,
                    "count": g.count,
                    "share": self.share(g),
                    "first": g.first,
                    "last": g.last,
                    "examples": list(g.examples),
                }
                for g in self.groups
            ],
            columns=["event", "field", "kind", "count", "share", "first", "last", "examples"],
        )

    def per_day(self) -> Any:
        """Violations per day (rows) and event (columns), as a pandas DataFrame."""
        pd = require("pandas", "report.per_day()", "audit")

        frame = pd.Series(self.tally.per_day, dtype="int64")
        if frame.empty:
            return pd.DataFrame()
        frame.index = pd.MultiIndex.from_tuples(frame.index, names=["event", "day"])
        return frame.unstack("event", fill_value=0).sort_index()

    def plot(self, top: int = 8) -> Any:
        """Violations per day for the ``top`` events with the most (matplotlib). The
        figure is returned, not left with pyplot, which would draw it a second time
        under the cell's value in a notebook; ``.savefig()`` writes it to a file."""
        plt = require("matplotlib.pyplot", "report.plot()", "audit")

        table = self.per_day()
        figure, axes = plt.subplots(figsize=(9, 3.5))
        plt.close(figure)
        if table.empty:
            axes.set_title("No violations")
            return figure
        keep = table.sum().sort_values(ascending=False).index[:top]
        table[keep].plot(ax=axes, marker=".", linewidth=1)
        axes.set_ylabel("violations per day")
        axes.set_xlabel("")
        axes.set_title(f"Violations of {self.plan!r} per day")
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        figure.tight_layout()
        return figure
