"""Where the collector keeps what it received: sqlite3, in memory or in a private file.

Every message is stored with its verdicts: the tracking plan's (valid, and the
violations) when a plan checks it, and Segment's (the reason it would drop it).
Reads page through everything by row id, newest first, with filters.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..private_files import make_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    type TEXT NOT NULL,
    event TEXT,
    user_id TEXT,
    anonymous_id TEXT,
    message_id TEXT,
    payload BLOB NOT NULL,
    valid INTEGER,
    violations TEXT,
    dropped TEXT
);
CREATE INDEX IF NOT EXISTS events_message_id ON events(message_id);
"""
# files written by earlier versions lack these columns
_ADDED_COLUMNS = ("valid INTEGER", "violations TEXT", "dropped TEXT")
MAX_LIMIT = 10_000
# An in-memory store keeps at most this many payload bytes; past it the oldest tenth
# goes, so nothing sent to the collector (a web page on any origin can send) can take
# all the machine's memory. A 1,000,000-event backfill of typical events fits.
MEMORY_CAP_BYTES = 1024**3

Verdict = tuple[list[dict[str, str]] | None, str | None]  # (plan violations or None, drop reason)


def _flag(value: str) -> int | None:
    text = value.strip().lower()
    if text in {"true", "1", "yes"}:
        return 1
    if text in {"false", "0", "no"}:
        return 0
    return None


class EventStore:
    """Thread-safe append-only event log with filters and paging.

    ``max_bytes`` caps the stored payloads (default: 1 GiB in memory, none in a file);
    when a write goes past it, the oldest events are dropped down to 90 % of the cap
    and counted in ``trimmed``."""

    def __init__(self, path: str | Path | None = None, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes if max_bytes is not None or path else MEMORY_CAP_BYTES
        self.trimmed = 0
        if path:
            make_private(Path(path))
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)
            for column in _ADDED_COLUMNS:
                with contextlib.suppress(sqlite3.OperationalError):  # already there
                    self._db.execute(f"ALTER TABLE events ADD COLUMN {column}")
            if path:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            query = "SELECT COALESCE(SUM(length(payload)), 0) FROM events"
            self._bytes = int(self._db.execute(query).fetchone()[0])

    def add(
        self,
        messages: Sequence[tuple[dict[str, Any], bytes]],
        verdicts: Iterable[Verdict] | None = None,
        received_at: str = "",
    ) -> int:
        """Store (message, its JSON) pairs received at ``received_at``; each verdict is
        (plan violations or None when not checked, the reason Segment would drop it
        or None). The payload is kept as it came; receivedAt is added when read."""
        checks = list(verdicts) if verdicts is not None else [(None, None)] * len(messages)
        rows = []
        for (m, encoded), (violations, dropped) in zip(messages, checks, strict=True):
            label = m.get("event") or m.get("name") or m.get("groupId") or m.get("previousId")
            rows.append(
                (
                    received_at,
                    str(m.get("type", "")),
                    _text(label),
                    _text(m.get("userId")),
                    _text(m.get("anonymousId")),
                    _text(m.get("messageId")),
                    encoded,
                    None if violations is None else int(not violations),
                    None if violations is None else orjson.dumps(violations).decode(),
                    dropped,
                )
            )
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO events (received_at, type, event, user_id, anonymous_id, "
                "message_id, payload, valid, violations, dropped) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._bytes += sum(len(row[6]) for row in rows)
            if self.max_bytes and self._bytes > self.max_bytes:
                self._trim(self.max_bytes)
        return len(rows)

    def _trim(self, cap: int) -> None:
        """Drop the oldest events until the payloads fit in 90 % of ``cap`` (locked)."""
        excess = self._bytes - cap * 9 // 10
        found = self._db.execute(
            "SELECT id, running FROM (SELECT id, SUM(length(payload)) OVER (ORDER BY id) "
            "AS running FROM events) WHERE running >= ? ORDER BY id LIMIT 1",
            (excess,),
        ).fetchone()
        if found is None:
            return
        cutoff, freed = found
        self.trimmed += self._db.execute("DELETE FROM events WHERE id <= ?", (cutoff,)).rowcount
        self._bytes -= int(freed)

    def query(
        self,
        limit: int = 100,
        *,
        after: int | None = None,
        before: int | None = None,
        filters: Mapping[str, str] | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Matching count and up to ``limit`` events, newest first; ``after``/``before``
        are row ids (``_id``) for live updates and paging. ``filters``: type, event,
        userId (or anonymousId), messageId, valid, dropped, q (free text)."""
        where, args = _where(filters)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        page = list(where)
        page_args = list(args)
        if after is not None:
            page.append("id > ?")
            page_args.append(after)
        if before is not None:
            page.append("id < ?")
            page_args.append(before)
        page_clause = f" WHERE {' AND '.join(page)}" if page else ""
        with self._lock:
            (count,) = self._db.execute(f"SELECT COUNT(*) FROM events{clause}", args).fetchone()  # noqa: S608 - fixed column names
            rows = self._db.execute(
                "SELECT id, received_at, payload, valid, violations, dropped FROM events"  # noqa: S608
                f"{page_clause} ORDER BY id DESC LIMIT ?",
                [*page_args, max(0, min(limit, MAX_LIMIT))],
            ).fetchall()
        return count, [_event(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        """total / valid / invalid (plan-checked events) / dropped / trimmed (the oldest
        events let go to stay within ``max_bytes``)."""
        with self._lock:
            total, good, bad, dropped = self._db.execute(
                "SELECT COUNT(*), SUM(valid = 1), SUM(valid = 0), COUNT(dropped) FROM events"
            ).fetchone()
            trimmed = self.trimmed
        return {"total": total, "valid": good or 0, "invalid": bad or 0, "dropped": dropped or 0,
                "trimmed": trimmed}  # fmt: skip

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def message_ids(self, filters: Mapping[str, str] | None = None) -> set[str]:
        """The distinct messageIds of the matching events (no page limit)."""
        where, args = _where(filters)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT DISTINCT message_id FROM events{clause}",  # noqa: S608 - fixed columns
                args,
            ).fetchall()
        return {row[0] for row in rows}

    def reset(self) -> int:
        with self._lock, self._db:
            self._bytes = self.trimmed = 0
            return self._db.execute("DELETE FROM events").rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _event(
    row_id: int, received: str, payload: bytes | str, valid: int | None, violations: str | None,
    dropped: str | None,
) -> dict[str, Any]:  # fmt: skip
    event: dict[str, Any] = orjson.loads(payload)
    event["_id"] = row_id
    event["receivedAt"] = received
    if valid is not None:  # checked against the collector's plan
        event["_valid"] = bool(valid)
        event["_violations"] = orjson.loads(violations or "[]")
    if dropped is not None:
        event["_dropped"] = dropped
    return event


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _where(filters: Mapping[str, str] | None) -> tuple[list[str], list[Any]]:
    """SQL conditions (fixed column names) and their arguments for the event filters."""
    where: list[str] = []
    args: list[Any] = []
    for key, value in (filters or {}).items():
        if value is None or value == "":
            continue
        if key == "type":
            where.append("type = ?")
            args.append(value)
        elif key == "event":
            where.append("event = ?")
            args.append(value)
        elif key == "userId":
            where.append("(user_id = ? OR anonymous_id = ?)")
            args += [value, value]
        elif key == "messageId":
            where.append("message_id = ?")
            args.append(value)
        elif key == "valid":
            where.append("valid = ?")
            args.append(_flag(value))
        elif key == "dropped":
            where.append("dropped IS NOT NULL" if _flag(value) else "dropped IS NULL")
        elif key == "q":
            where.append("CAST(payload AS TEXT) LIKE ? ESCAPE '\\'")
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{escaped}%")
        else:
            raise KeyError(key)
    return where, args
