"""The durable outbox: every message not yet acknowledged, and the ledger of bulk runs.

A sqlite file (``SEGMENT_MAGICS_OUTBOX``, else the user data directory; 0600 in
a 0700 directory) that survives kernel restarts and kill -9. Each message keeps
its exact payload, so a resend carries the original messageId and timestamp,
and Segment deduplicates any earlier delivery. A message is in one state:

- ``in_flight``: being sent by a live process. It is written *before* the
  request leaves, so a process that dies mid-request leaves it here; once that
  process is gone, anyone may claim it again.
- ``pending``: not delivered (an outage, 5xx/429 after the retries, a timeout,
  Ctrl-C). A retry resends it.
- ``rejected``: the server refused it for good (a 4xx other than 408/429); kept
  with the server's answer and resent only on request.

A resend *claims* messages inside one ``BEGIN IMMEDIATE`` transaction, so two
kernels retrying the same outbox never send the same message at once, and a
message leaves the outbox only when its delivery was acknowledged.

Bulk runs write much less: before each batch leaves, the range of input rows it
holds is recorded (one small row per ~2,500 messages) and removed when the
server acknowledges the batch. What is left after a crash says which rows may
have been in flight and where reading stopped; rerunning the backfill with the
same run id resends exactly those with the same messageIds.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..private_files import make_private
from .outbox_contract import Entry, OutboxUnavailable, Pending, State
from .outbox_ledger import RunLedger, now
from .owners import current_owner, owner_alive

ENV_VAR = "SEGMENT_MAGICS_OUTBOX"
BUSY_SECONDS = 10.0  # how long a write waits for another process's lock on the file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    endpoint TEXT NOT NULL,
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    label TEXT,
    row TEXT,
    payload BLOB NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    error TEXT,
    status INTEGER,
    run_id TEXT,
    kept_at TEXT NOT NULL,
    claimed_at REAL,
    PRIMARY KEY (endpoint, message_id)
);
CREATE INDEX IF NOT EXISTS messages_state ON messages(endpoint, state);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT,
    owner TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    rows_total INTEGER,
    rows_read INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ranges (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    first_row INTEGER NOT NULL,
    stop_row INTEGER NOT NULL,
    dated_at TEXT,
    PRIMARY KEY (run_id, seq)
);
"""
_COLUMNS = "message_id, endpoint, type, label, row, payload, state, error, status, kept_at, run_id"


def default_outbox_path() -> Path:
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "segment-magics" / "outbox.sqlite"


_REASONS = (  # sqlite's words -> what a person can act on
    ("disk is full", "the disk is full"),
    ("database is locked", "another process holds its lock"),
    ("not a database", "it is not an outbox (a corrupt or foreign file)"),
    ("malformed", "the file is corrupt"),
    ("readonly", "it is read-only"),
    ("unable to open", "it cannot be created or opened there"),
    ("disk i/o error", "the disk refused the write"),
)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    for words, reason in _REASONS:
        if words in lowered:
            return reason
    if isinstance(exc, PermissionError):
        return "no permission to write there"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return text[:120] or type(exc).__name__


class Outbox(RunLedger):
    """Thread-safe sqlite store; the file is only created when something is kept."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_outbox_path()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._pid = os.getpid()

    @property
    def shown_path(self) -> str:
        """The location to show people: under the home directory as ``~/...``."""
        try:
            return "~/" + str(self.path.resolve().relative_to(Path.home().resolve()))
        except ValueError:
            return str(self.path)

    # -- the connection -------------------------------------------------------------
    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is not None and self._pid != os.getpid():  # forked: never share a handle
            self._db = None
        if self._db is None:
            if not create and not self.path.exists():
                return None
            make_private(self.path)  # or tighten an existing file to 0600
            db = sqlite3.connect(
                str(self.path), check_same_thread=False, timeout=BUSY_SECONDS,
                isolation_level=None,
            )  # fmt: skip
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                _migrate(db)
            except BaseException:
                db.close()
                raise
            self._db, self._pid = db, os.getpid()
        return self._db

    def _unavailable(self, exc: BaseException) -> OutboxUnavailable:
        """One error for every way the file can fail us; the next call reconnects."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        return OutboxUnavailable(self.shown_path, _reason(exc))

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that takes the database lock up front (two kernels
        claiming at once serialize here instead of failing half-way). Any failure of
        the file is an :class:`OutboxUnavailable`; nothing half-written stays."""
        with self._lock:
            try:
                db = self._connect(create=True)
                assert db is not None
                db.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                raise self._unavailable(exc) from None
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error | OSError):
                    raise self._unavailable(exc) from None
                raise

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                db = self._connect(create=False)
                if db is None:
                    return []
                return db.execute(sql, args).fetchall()
            except (sqlite3.Error, OSError) as exc:
                raise self._unavailable(exc) from None

    # -- messages -------------------------------------------------------------------
    def keep(
        self,
        entries: Iterable[Entry],
        endpoint: str,
        state: State,
        error: str = "",
        status: int | None = None,
        run_id: str | None = None,
    ) -> int:
        """Keep (or update) ``(message_id, type, label, row, payload)`` entries in ``state``.

        ``in_flight`` entries are claimed by this process."""
        kept_at = now()
        owner = current_owner() if state == "in_flight" else None
        claimed = time.time() if owner else None
        rows = [
            (e.message_id, endpoint, e.type, e.label, str(e.row), e.payload, state, owner, error,
             status, run_id, kept_at, claimed)
            for e in entries
        ]  # fmt: skip
        if not rows:
            return 0
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO messages (message_id, endpoint, type, label, row, "
                "payload, state, owner, error, status, run_id, kept_at, claimed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def settle(
        self,
        endpoint: str,
        message_ids: Iterable[str],
        state: State | None,
        error: str = "",
        status: int | None = None,
    ) -> None:
        """After an attempt: ``state=None`` removes acknowledged messages; otherwise they
        wait again as ``pending`` or ``rejected`` with the server's answer."""
        keys = [(endpoint, mid) for mid in message_ids]
        if not keys:
            return
        with self._write() as db:
            if state is None:
                db.executemany("DELETE FROM messages WHERE endpoint = ? AND message_id = ?", keys)
            else:
                db.executemany(
                    "UPDATE messages SET state = ?, owner = NULL, claimed_at = NULL, "
                    "error = ?, status = ?, kept_at = ? WHERE endpoint = ? AND message_id = ?",
                    [(state, error, status, now(), *key) for key in keys],
                )

    def claim(self, endpoint: str, *, rejected: bool = False) -> list[Pending]:
        """Take the messages that wait for ``endpoint`` (pending; rejected only when asked;
        in flight only when the process that sent them has died) for this process."""
        me = current_owner()
        with self._write() as db:
            taken = _choose(db, "endpoint = ?", (endpoint,), _states(rejected))
            db.executemany(
                "UPDATE messages SET state = 'in_flight', owner = ?, claimed_at = ? "
                "WHERE rowid = ?",
                [(me, time.time(), rowid) for rowid, _ in taken],
            )
        return [_pending(fields) for _, fields in taken]

    def adopt(self, endpoint: str, kept_for: str | None, *, rejected: bool = False) -> int:
        """What waits for another endpoint (``kept_for``; None: every other one) waits
        for ``endpoint`` from now on, to be resent there with its messageId and timestamp.
        Messages a live process is sending stay where they are."""
        where, args = "endpoint != ?", [endpoint]
        if kept_for is not None:
            where, args = f"{where} AND endpoint = ?", [endpoint, kept_for]
        with self._write() as db:
            moving = _choose(db, where, args, _states(rejected))
            db.executemany(
                "UPDATE OR REPLACE messages SET endpoint = ? WHERE rowid = ?",
                [(endpoint, rowid) for rowid, _ in moving],
            )
        return len(moving)

    def discard(
        self,
        endpoint: str | None,
        *,
        run_id: str | None = None,
        rejected_only: bool = False,
        apply: bool = True,
    ) -> dict[str, int]:
        """Remove what waits (for ``endpoint``, None: for any; of one run; only the
        rejected): they will not be sent. Returns how many per endpoint; ``apply=False``
        only counts. Messages a live process is sending are left alone."""
        clauses, args = [], []
        if endpoint is not None:
            clauses.append("endpoint = ?")
            args.append(endpoint)
        if run_id is not None:
            clauses.append("run_id = ?")
            args.append(run_id)
        where = " AND ".join(clauses) or "1 = 1"
        states = ("rejected",) if rejected_only else ("pending", "rejected")
        with self._write() as db:
            chosen = _choose(db, where, args, states, dead_in_flight=not rejected_only)
            if apply:
                db.executemany("DELETE FROM messages WHERE rowid = ?", [(r,) for r, _ in chosen])
        counted: dict[str, int] = {}
        for _, fields in chosen:
            counted[fields[1]] = counted.get(fields[1], 0) + 1
        return counted

    def waiting(self, message_ids: Iterable[str]) -> set[str]:
        """Which of these messages still wait in the outbox (for any endpoint)."""
        ids = list(message_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._read(
                f"SELECT message_id FROM messages WHERE message_id IN ({marks})",  # noqa: S608
                part,
            )
            found.update(row[0] for row in rows)
        return found

    def release(self, endpoint: str) -> int:
        """Ctrl-C or the end of a resend: this process's claims wait again as pending."""
        with self._write() as db:
            return db.execute(
                "UPDATE messages SET state = 'pending', owner = NULL, claimed_at = NULL "
                "WHERE endpoint = ? AND state = 'in_flight' AND owner = ?",
                (endpoint, current_owner()),
            ).rowcount

    def pending(self, endpoint: str | None = None) -> list[Pending]:
        """What waits, oldest first (every state); nothing is claimed."""
        where, args = ("WHERE endpoint = ?", (endpoint,)) if endpoint else ("", ())
        rows = self._read(
            f"SELECT {_COLUMNS} FROM messages {where} ORDER BY kept_at, rowid",  # noqa: S608
            args,
        )
        return [_pending(list(row)) for row in rows]

    def __iter__(self) -> Iterator[Pending]:
        return iter(self.pending())

    def counts(self) -> dict[tuple[str, str], int]:
        """How many messages wait, by (endpoint, state)."""
        rows = self._read("SELECT endpoint, state, COUNT(*) FROM messages GROUP BY 1, 2")
        return {(endpoint, state): count for endpoint, state, count in rows}

    def count(self, endpoint: str | None = None, state: str | None = None) -> int:
        return sum(
            n
            for (e, s), n in self.counts().items()
            if (endpoint is None or e == endpoint) and (state is None or s == state)
        )

    def remove(self, endpoint: str, message_ids: Iterable[str]) -> None:
        self.settle(endpoint, message_ids, None)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __repr__(self) -> str:
        try:
            waiting = f"{self.count()} waiting"
        except OutboxUnavailable as exc:
            waiting = exc.reason
        return f"<Outbox {self.path.name} ({waiting})>"


def _states(rejected: bool) -> tuple[State, ...]:
    return ("pending", "rejected") if rejected else ("pending",)


def _choose(
    db: sqlite3.Connection,
    where: str,
    args: Sequence[Any],
    states: Sequence[str],
    *,
    dead_in_flight: bool = True,
) -> list[tuple[int, list[Any]]]:
    """The messages matching ``where`` in one of ``states``, oldest first, and those
    left in flight by a process that has died (never this one's, never a live one's)."""
    me = current_owner()
    rows = db.execute(
        f"SELECT rowid, {_COLUMNS}, owner, claimed_at FROM messages "  # noqa: S608
        f"WHERE {where} ORDER BY kept_at, rowid",
        args,
    ).fetchall()
    alive: dict[str | None, bool] = {}
    chosen = []
    for row in rows:
        rowid, *fields, owner, claimed_at = row
        state = fields[6]
        if state == "in_flight":
            if not dead_in_flight or owner == me:
                continue
            if owner not in alive:
                alive[owner] = owner_alive(owner, claimed_at)
            if alive[owner]:
                continue
        elif state not in states:
            continue
        chosen.append((rowid, fields))
    return chosen


def _pending(fields: list[Any]) -> Pending:
    mid, endpoint, kind, label, row, payload, state, error, status, kept_at, run_id = fields
    return Pending(mid, endpoint, kind, label or "", row or "", bytes(payload), state,
                   error or "", status, kept_at, run_id)  # fmt: skip


def _migrate(db: sqlite3.Connection) -> None:
    """Outboxes written by segment-magics 0.1 (table ``outbox``) become pending messages."""
    found = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
    ).fetchone()
    if found is None:
        return
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT OR IGNORE INTO messages (message_id, endpoint, type, label, row, payload, "
        "state, error, kept_at) SELECT message_id, endpoint, type, label, row, payload, "
        "'pending', error, failed_at FROM outbox"
    )
    db.execute("DROP TABLE outbox")
    db.execute("COMMIT")
