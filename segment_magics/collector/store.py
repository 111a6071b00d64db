"""Where the collector keeps what it received: sqlite3, in memory or in a private file.

Every message is stored as it came (its JSON, whole) and, beside it, the collector's
own verdicts: the tracking plan's (valid, and the violations) when a plan checks it,
and Segment's (the reason it would drop it: a message it cannot accept, or a messageId
it has already seen). Nothing a sender writes into a payload can pass for a verdict.
Reads page through everything by row id, newest first, with filters, and a page is
bounded in bytes as well as in rows.
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
    dropped TEXT,
    duplicate INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_message_id ON events(message_id);
"""
# files written by earlier versions lack these columns
_ADDED_COLUMNS = ("valid INTEGER", "violations TEXT", "dropped TEXT",
                  "duplicate INTEGER NOT NULL DEFAULT 0")  # fmt: skip
MAX_LIMIT = 10_000
MAX_PAGE_BYTES = 1024**2  # a read answers at most this many payload bytes (page on)
# An in-memory store holds at most this many bytes, all it keeps counted (sqlite's own
# pages: payloads, columns, index); past it the oldest events go, so nothing sent to
# the collector (a web page on any origin can send) can take the machine's memory.
MEMORY_CAP_BYTES = 1024**3
DUPLICATE = "duplicate messageId (Segment drops a message whose messageId it has seen)"
# Filters that ask for what the default listing leaves out (copies Segment would drop
# as duplicates).
_SEES_DUPLICATES = {"dropped", "duplicate", "messageId"}

Verdict = tuple[list[dict[str, str]] | None, str | None]  # (plan violations or None, drop reason)


def _flag(value: str) -> int | None:
    text = value.strip().lower()
    if text in {"true", "1", "yes"}:
        return 1
    if text in {"false", "0", "no"}:
        return 0
    return None


class Record(dict):
    """One stored event as the read API gives it: ``id``, ``receivedAt``, the collector's
    ``verdict`` and the ``payload`` as it came (raw JSON until :meth:`parsed`)."""

    def parsed(self) -> Record:
        payload = self["payload"]
        if isinstance(payload, bytes | str):
            self["payload"] = orjson.loads(payload)
        return self


class EventStore:
    """Thread-safe append-only event log with filters and paging.

    ``max_bytes`` caps what the store holds (default: 1 GiB in memory, none in a file);
    when a write goes past it, the oldest events are dropped down to 90 % of the cap
    and counted in ``trimmed``. A message whose messageId was stored before is kept,
    marked as Segment would treat it (a duplicate it drops), and left out of the
    default listing and the counts."""

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
            self._page = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            self._counts = self._count_all()
        self.version = 0  # goes up with every change: a viewer knows when to look again

    # -- writing ----------------------------------------------------------------------------
    def add(
        self,
        messages: Sequence[tuple[dict[str, Any], bytes]],
        verdicts: Iterable[Verdict] | None = None,
        received_at: str = "",
    ) -> int:
        """Store (message, its JSON) pairs received at ``received_at``; each verdict is
        (plan violations or None when not checked, the reason Segment would drop it
        or None). The payload is kept as it came; the verdicts beside it."""
        checks = list(verdicts) if verdicts is not None else [(None, None)] * len(messages)
        rows: list[list[Any]] = []
        for (m, encoded), (violations, dropped) in zip(messages, checks, strict=True):
            label = m.get("event") or m.get("name") or m.get("groupId") or m.get("previousId")
            rows.append(
                [
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
                    0,
                ]
            )
        with self._lock, self._db:
            self._mark_duplicates(rows)
            self._db.executemany(
                "INSERT INTO events (received_at, type, event, user_id, anonymous_id, "
                "message_id, payload, valid, violations, dropped, duplicate) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            for row in rows:
                self._tally(row[7], row[9], row[10], 1)
            if self.max_bytes and self._held() > self.max_bytes:
                self._trim(self.max_bytes)
            self.version += 1
        return len(rows)

    def _mark_duplicates(self, rows: list[list[Any]]) -> None:
        """Mark the rows whose messageId is already stored, or came earlier in the same
        write, as the duplicates Segment would drop (locked)."""
        ids = {row[5] for row in rows if row[5]}
        seen: set[str] = set()
        listed = list(ids)
        for start in range(0, len(listed), 500):  # within sqlite's limit of parameters
            chunk = listed[start : start + 500]
            marks = ",".join("?" * len(chunk))
            seen.update(
                mid for (mid,) in self._db.execute(
                    f"SELECT message_id FROM events WHERE message_id IN ({marks})", chunk  # noqa: S608
                )
            )  # fmt: skip
        for row in rows:
            message_id = row[5]
            if not message_id:
                continue
            if message_id in seen:
                row[9], row[10] = DUPLICATE, 1
            seen.add(message_id)

    def _tally(self, valid: int | None, dropped: object, duplicate: int, sign: int) -> None:
        """Add (``sign`` 1) or take away (-n) events of one kind from the counts."""
        counts = self._counts
        if duplicate:
            counts["duplicates"] += sign
            return
        counts["total"] += sign
        if valid == 1:
            counts["valid"] += sign
        elif valid == 0:
            counts["invalid"] += sign
        if dropped is not None:
            counts["dropped"] += sign

    def _held(self) -> int:
        """The bytes the database really holds: its pages in use (locked)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * self._page)

    def _trim(self, cap: int) -> None:
        """Drop the oldest events until the store holds at most 90 % of ``cap`` (locked);
        freed pages are reused by later writes, so the cap is what memory stays at."""
        target = cap * 9 // 10
        for _ in range(64):
            held = self._held()
            if held <= target:
                return
            rows = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            if not rows:
                return
            share = (held - target) / held
            cutoff_rows = max(1, int(rows * share) + 1)
            cutoff = self._db.execute(
                "SELECT id FROM events ORDER BY id LIMIT 1 OFFSET ?", (cutoff_rows - 1,)
            ).fetchone()[0]
            for valid, dropped, duplicate, count in self._db.execute(
                "SELECT valid, dropped IS NOT NULL, duplicate, COUNT(*) FROM events "
                "WHERE id <= ? GROUP BY 1, 2, 3",
                (cutoff,),
            ).fetchall():
                self._tally(valid, dropped or None, duplicate, -count)
            self.trimmed += self._db.execute("DELETE FROM events WHERE id <= ?", (cutoff,)).rowcount

    # -- reading ----------------------------------------------------------------------------
    def query(
        self,
        limit: int = 100,
        *,
        after: int | None = None,
        before: int | None = None,
        filters: Mapping[str, str] | None = None,
        max_bytes: int = MAX_PAGE_BYTES,
    ) -> tuple[int, list[Record]]:
        """Matching count and up to ``limit`` records, newest first (fewer when their
        payloads pass ``max_bytes``: page on with ``before``); ``after``/``before`` are
        record ids for live updates and paging. ``filters``: type, event, userId (or
        anonymousId), messageId, valid, dropped, duplicate, q (free text). Copies that
        Segment would drop as duplicates are listed only when a filter asks for them."""
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
        out: list[Record] = []
        with self._lock:
            (count,) = self._db.execute(f"SELECT COUNT(*) FROM events{clause}", args).fetchone()  # noqa: S608 - fixed column names
            cursor = self._db.execute(
                "SELECT id, received_at, payload, valid, violations, dropped, duplicate "  # noqa: S608
                f"FROM events{page_clause} ORDER BY id DESC LIMIT ?",
                [*page_args, max(0, min(limit, MAX_LIMIT))],
            )
            budget = max_bytes
            for row in cursor:
                budget -= len(row[2])
                if budget < 0 and out:
                    break
                out.append(_record(*row))
            cursor.close()
        return count, out

    def record(self, record_id: int) -> Record | None:
        """One stored event by its id (None when it is gone)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, received_at, payload, valid, violations, dropped, duplicate "
                "FROM events WHERE id = ?",
                (record_id,),
            ).fetchone()
        return _record(*row) if row is not None else None

    def violation_groups(self, limit: int = 200) -> list[dict[str, Any]]:
        """The plan's violations grouped as Segment's Protocols view groups them: by event,
        then field and kind; with counts, first and last seen and one example event."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.type, e.event, json_extract(j.value, '$.field'), "
                "json_extract(j.value, '$.kind'), COUNT(*), MIN(e.received_at), "
                "MAX(e.received_at), MIN(e.id), json_extract(j.value, '$.detail') "
                "FROM events AS e, json_each(e.violations) AS j "
                "WHERE e.valid = 0 AND e.duplicate = 0 GROUP BY 1, 2, 3, 4 "
                "ORDER BY 5 DESC, 2, 3 LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {"type": kind, "event": event or "", "field": field or "", "kind": what or "",
             "count": count, "first": first, "last": last, "example": example,
             "detail": detail or ""}
            for kind, event, field, what, count, first, last, example, detail in rows
        ]  # fmt: skip

    def counts(self) -> dict[str, int]:
        """total / valid / invalid (plan-checked events) / dropped (by Segment's rules) /
        duplicates (copies of a messageId already stored: not in the other counts) /
        trimmed (the oldest events let go to stay within ``max_bytes``)."""
        with self._lock:
            return {**self._counts, "trimmed": self.trimmed}

    def count(self) -> int:
        """Events stored, the copies Segment would drop as duplicates left out."""
        with self._lock:
            return self._counts["total"]

    def held_bytes(self) -> int:
        with self._lock:
            return self._held()

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
            self.trimmed = 0
            deleted = self._db.execute("DELETE FROM events").rowcount
            self._counts = self._count_all()
            self.version += 1
            return int(deleted)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _count_all(self) -> dict[str, int]:
        total, good, bad, dropped, duplicates = self._db.execute(
            "SELECT SUM(duplicate = 0), SUM(valid = 1 AND duplicate = 0), "
            "SUM(valid = 0 AND duplicate = 0), SUM(dropped IS NOT NULL AND duplicate = 0), "
            "SUM(duplicate = 1) FROM events"
        ).fetchone()
        return {"total": total or 0, "valid": good or 0, "invalid": bad or 0,
                "dropped": dropped or 0, "duplicates": duplicates or 0}  # fmt: skip


def _record(
    row_id: int, received: str, payload: bytes | str, valid: int | None, violations: str | None,
    dropped: str | None, duplicate: int,
) -> Record:  # fmt: skip
    """A record with the payload still raw (the read API embeds it as it is)."""
    verdict: dict[str, Any] = {
        "checked": valid is not None,
        "valid": None if valid is None else bool(valid),
        "violations": orjson.loads(violations) if violations else [],
        "dropped": dropped,
        "duplicate": bool(duplicate),
    }
    raw = payload.encode() if isinstance(payload, str) else payload
    return Record(id=row_id, receivedAt=received, verdict=verdict, payload=raw)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _where(filters: Mapping[str, str] | None) -> tuple[list[str], list[Any]]:
    """SQL conditions (fixed column names) and their arguments for the event filters;
    duplicates are left out unless a filter asks for them."""
    where: list[str] = []
    args: list[Any] = []
    if not _SEES_DUPLICATES & {k for k, v in (filters or {}).items() if v}:
        where.append("duplicate = 0")
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
        elif key == "duplicate":
            where.append("duplicate = ?")
            args.append(_flag(value) or 0)
        elif key == "field":  # a plan violation at this path
            where.append(
                "EXISTS (SELECT 1 FROM json_each(violations) "
                "WHERE json_extract(value, '$.field') = ?)"
            )
            args.append(value)
        elif key == "q":
            where.append("CAST(payload AS TEXT) LIKE ? ESCAPE '\\'")
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{escaped}%")
        else:
            raise KeyError(key)
    return where, args
