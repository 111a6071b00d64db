"""The durable outbox: messages that could not be delivered, kept for a resend.

A sqlite file (``SEGMENT_MAGICS_OUTBOX``, else the user data directory) that
survives kernel restarts. Each message keeps its exact payload, so a resend
carries the original messageId and Segment deduplicates any earlier delivery.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_VAR = "SEGMENT_MAGICS_OUTBOX"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    type TEXT NOT NULL,
    label TEXT,
    row TEXT,
    payload BLOB NOT NULL,
    error TEXT,
    failed_at TEXT NOT NULL,
    PRIMARY KEY (endpoint, message_id)
);
"""


def default_outbox_path() -> Path:
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "segment-magics" / "outbox.sqlite"


@dataclass(frozen=True)
class Pending:
    """One undelivered message as kept in the outbox."""

    message_id: str
    endpoint: str
    type: str
    label: str
    row: str
    payload: bytes
    error: str
    failed_at: str


class Outbox:
    """Thread-safe sqlite store; the file is only created when something is kept."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_outbox_path()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def shown_path(self) -> str:
        """The location to show people: under the home directory as ``~/...``."""
        try:
            return "~/" + str(self.path.resolve().relative_to(Path.home().resolve()))
        except ValueError:
            return str(self.path)

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            if not create and not self.path.exists():
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._db.executescript(_SCHEMA)
        return self._db

    def add(
        self, entries: Iterable[tuple[str, str, str, Any, bytes]], endpoint: str, error: str
    ) -> int:
        """Keep ``(message_id, type, label, row, payload)`` entries; returns how many."""
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        rows = [
            (mid, endpoint, kind, label, str(row), payload, error, now)
            for mid, kind, label, row, payload in entries
        ]
        if not rows:
            return 0
        with self._lock:
            db = self._connect(create=True)
            assert db is not None
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
        return len(rows)

    def pending(self, endpoint: str | None = None) -> list[Pending]:
        with self._lock:
            db = self._connect(create=False)
            if db is None:
                return []
            if endpoint:
                cursor = db.execute(
                    "SELECT * FROM outbox WHERE endpoint = ? ORDER BY failed_at, rowid", (endpoint,)
                )
            else:
                cursor = db.execute("SELECT * FROM outbox ORDER BY failed_at, rowid")
            rows = cursor.fetchall()
        return [Pending(*row) for row in rows]

    def __iter__(self) -> Iterator[Pending]:
        return iter(self.pending())

    def count(self, endpoint: str | None = None) -> int:
        with self._lock:
            db = self._connect(create=False)
            if db is None:
                return 0
            if endpoint:
                cursor = db.execute("SELECT COUNT(*) FROM outbox WHERE endpoint = ?", (endpoint,))
            else:
                cursor = db.execute("SELECT COUNT(*) FROM outbox")
            return int(cursor.fetchone()[0])

    def remove(self, endpoint: str, message_ids: Iterable[str]) -> None:
        with self._lock:
            db = self._connect(create=False)
            if db is None:
                return
            with db:
                db.executemany(
                    "DELETE FROM outbox WHERE endpoint = ? AND message_id = ?",
                    [(endpoint, mid) for mid in message_ids],
                )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __repr__(self) -> str:
        return f"<Outbox {self.path.name} ({self.count()} waiting)>"
