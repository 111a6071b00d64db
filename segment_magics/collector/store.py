"""Where the collector keeps what it received: sqlite3, in memory or in a file."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..private_files import create_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    type TEXT NOT NULL,
    event TEXT,
    user_id TEXT,
    anonymous_id TEXT,
    message_id TEXT,
    payload TEXT NOT NULL,
    valid INTEGER,
    violations TEXT
);
CREATE INDEX IF NOT EXISTS events_type ON events(type);
CREATE INDEX IF NOT EXISTS events_message_id ON events(message_id);
"""
_ADDED_COLUMNS = ("valid INTEGER", "violations TEXT")  # files written before plans existed

FILTERS = {"type": "type", "event": "event", "userId": "user_id", "messageId": "message_id",
           "valid": "valid"}  # fmt: skip


class EventStore:
    """Thread-safe append-only event log with simple filters."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path:
            create_private(Path(path))
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)
            for column in _ADDED_COLUMNS:
                with contextlib.suppress(sqlite3.OperationalError):  # already there
                    self._db.execute(f"ALTER TABLE events ADD COLUMN {column}")
            if path:
                self._db.execute("PRAGMA journal_mode=WAL")

    def add(
        self,
        messages: Iterable[dict[str, Any]],
        verdicts: Iterable[list[dict[str, str]] | None] | None = None,
    ) -> int:
        """Store messages; ``verdicts`` holds each one's plan violations (None: not checked)."""
        checks = list(verdicts) if verdicts is not None else None
        rows = []
        for index, m in enumerate(messages):
            verdict = checks[index] if checks is not None else None
            rows.append(
                (
                    m["receivedAt"],
                    str(m.get("type", "")),
                    _text(
                        m.get("event") or m.get("name") or m.get("groupId") or m.get("previousId")
                    ),
                    _text(m.get("userId")),
                    _text(m.get("anonymousId")),
                    _text(m.get("messageId")),
                    json.dumps(m, ensure_ascii=False),
                    None if verdict is None else int(not verdict),
                    None if verdict is None else json.dumps(verdict, ensure_ascii=False),
                )
            )
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO events (received_at, type, event, user_id, anonymous_id, "
                "message_id, payload, valid, violations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def query(self, limit: int = 100, **filters: str) -> tuple[int, list[dict[str, Any]]]:
        """Matching count and up to ``limit`` payloads, newest first."""
        where: list[str] = []
        args: list[Any] = []
        for key, value in filters.items():
            if value is None or value == "":
                continue
            where.append(f"{FILTERS[key]} = ?")
            args.append(
                int(str(value).lower() in {"true", "1", "yes"}) if key == "valid" else value
            )
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            (count,) = self._db.execute(f"SELECT COUNT(*) FROM events{clause}", args).fetchone()  # noqa: S608 - columns from FILTERS
            rows = self._db.execute(
                f"SELECT payload, valid, violations FROM events{clause} ORDER BY id DESC LIMIT ?",  # noqa: S608
                [*args, max(0, limit)],
            ).fetchall()
        return count, [
            _with_verdict(payload, valid, violations) for payload, valid, violations in rows
        ]

    def counts(self) -> dict[str, int]:
        """total / valid / invalid (the last two only count events a plan checked)."""
        with self._lock:
            total, good, bad = self._db.execute(
                "SELECT COUNT(*), SUM(valid = 1), SUM(valid = 0) FROM events"
            ).fetchone()
        return {"total": total, "valid": good or 0, "invalid": bad or 0}

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def reset(self) -> int:
        with self._lock, self._db:
            return self._db.execute("DELETE FROM events").rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _with_verdict(payload: str, valid: int | None, violations: str | None) -> dict[str, Any]:
    event = json.loads(payload)
    if valid is not None:  # checked against the collector's plan
        event["_valid"] = bool(valid)
        event["_violations"] = json.loads(violations or "[]")
    return event


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
