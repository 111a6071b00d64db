"""The ledger of bulk runs, kept in the outbox's file beside the messages.

Before each batch leaves, the range of input rows it holds is recorded (one small
row per ~2,500 messages) and struck when the server acknowledged it. What is left
after a crash says which rows may have been in flight and where reading stopped;
running the backfill again with the same run id resends exactly those, with the
same messageIds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

from .outbox_contract import Entry, Run, State
from .owners import current_owner, owner_alive


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class RunLedger:
    """The run ledger's part of the outbox (its transactions are the outbox's)."""

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # -- bulk runs ------------------------------------------------------------------
    def start_run(
        self, run_id: str, endpoint: str, kind: str, label: str, rows_total: int | None
    ) -> Run | None:
        """Record a run; returns what the ledger knew of it before (a run to resume)."""
        before = self.run(run_id)
        with self._write() as db:
            if before is None:
                db.execute(
                    "INSERT INTO runs (run_id, endpoint, kind, label, owner, started_at, "
                    "rows_total) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, endpoint, kind, label, current_owner(), now(), rows_total),
                )
            else:
                db.execute(
                    "UPDATE runs SET owner = ?, finished_at = NULL WHERE run_id = ?",
                    (current_owner(), run_id),
                )
        return before

    def run(self, run_id: str) -> Run | None:
        rows = self._read(
            "SELECT run_id, endpoint, kind, label, owner, started_at, finished_at, rows_total, "
            "rows_read FROM runs WHERE run_id = ?",
            (run_id,),
        )
        if not rows:
            return None
        ranges = self._read(
            "SELECT first_row, stop_row, dated_at, seq FROM ranges WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        next_seq = max((seq for *_, seq in ranges), default=-1) + 1
        run_id_, endpoint, kind, label, owner, started, finished, total, read = rows[0]
        return Run(run_id_, endpoint, kind, label or "", owner, started, finished, total, read,
                   tuple(r[:3] for r in ranges), next_seq)  # fmt: skip

    def unfinished_runs(self, endpoint: str | None = None) -> list[Run]:
        """Runs whose process ended before they did (kill -9, a crash): resumable."""
        rows = self._read(
            "SELECT run_id FROM runs WHERE finished_at IS NULL ORDER BY started_at DESC"
        )
        runs = [r for (run_id,) in rows if (r := self.run(run_id)) is not None]
        return [
            r
            for r in runs
            if (endpoint is None or r.endpoint == endpoint)
            and r.owner != current_owner()
            and not owner_alive(r.owner, None)
        ]

    def range_ahead(
        self,
        run_id: str,
        seq: int,
        first_row: int,
        stop_row: int,
        dated_at: str | None,
        settled: Sequence[int] = (),
    ) -> None:
        """Before a batch leaves: rows first..stop may be in flight; reading got to stop.
        ``settled``: batches acknowledged since the last call, noted in the same write."""
        with self._write() as db:
            _strike(db, run_id, settled)
            db.execute(
                "INSERT OR REPLACE INTO ranges VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, first_row, stop_row, dated_at),
            )
            db.execute(
                "UPDATE runs SET rows_read = MAX(rows_read, ?) WHERE run_id = ?",
                (stop_row, run_id),
            )

    def range_settled(
        self,
        run_id: str,
        seq: int,
        kept: Sequence[Entry] = (),
        endpoint: str = "",
        state: State = "pending",
        error: str = "",
        status: int | None = None,
    ) -> None:
        """The batch's fate is known: acknowledged (nothing kept) or its messages kept."""
        kept_at = now()
        with self._write() as db:
            if kept:
                db.executemany(
                    "INSERT OR REPLACE INTO messages (message_id, endpoint, type, label, row, "
                    "payload, state, error, status, run_id, kept_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (e.message_id, endpoint, e.type, e.label, str(e.row), e.payload, state,
                         error, status, run_id, kept_at)
                        for e in kept
                    ],
                )  # fmt: skip
            _strike(db, run_id, (seq,))

    def pause_run(self, run_id: str, rows_read: int, settled: Sequence[int] = ()) -> None:
        """Ctrl-C: every row read is settled; the rest can follow with the same run id."""
        with self._write() as db:
            _strike(db, run_id, settled)
            db.execute(
                "UPDATE runs SET rows_read = MAX(rows_read, ?), owner = NULL WHERE run_id = ?",
                (rows_read, run_id),
            )

    def finish_run(self, run_id: str, rows_read: int) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, rows_read = MAX(rows_read, ?), owner = NULL "
                "WHERE run_id = ?",
                (now(), rows_read, run_id),
            )
            db.execute("DELETE FROM ranges WHERE run_id = ?", (run_id,))


def _strike(db: sqlite3.Connection, run_id: str, seqs: Sequence[int]) -> None:
    """Acknowledged (or settled) batches leave the ledger."""
    db.executemany(
        "DELETE FROM ranges WHERE run_id = ? AND seq = ?", [(run_id, seq) for seq in seqs]
    )
