"""What the outbox keeps, as history rows: messages that wait, and runs a crash cut short."""

from __future__ import annotations

import datetime as dt
import json

from .outbox import Outbox
from .outbox_contract import OutboxUnavailable, Run
from .remedies import Remedy
from .result import OK, SYSTEM_ERROR, Outcome, Result

_WAITING = {"rejected": "rejected", "in_flight": "in flight"}


def kept_results(outbox: Outbox, endpoint_key: str, shown_endpoint: str) -> list[Outcome]:
    """What the outbox keeps for this endpoint, as failed results (for history views),
    and bulk runs that a crash left unfinished. An outbox that cannot be read gives
    one row that says so."""
    try:
        pending = outbox.pending(endpoint_key)
        unfinished = outbox.unfinished_runs(endpoint_key)
    except OutboxUnavailable as exc:
        return [Result(type="outbox", status_code=SYSTEM_ERROR, error_message=str(exc),
                       endpoint=shown_endpoint, remedies=(Remedy("move_outbox"),))]  # fmt: skip
    out: list[Outcome] = []
    for kept in pending:
        try:
            message = json.loads(kept.payload)
        except ValueError:
            message = None
        code = OK if kept.state == "rejected" else SYSTEM_ERROR
        waiting = _WAITING.get(kept.state, "waiting")
        out.append(
            Result(
                type=kept.type,
                status_code=code,
                original_status_code=kept.status or 0,
                error_message=f"in the outbox ({waiting}): {kept.error}",
                message=message,
                message_id=kept.message_id,
                endpoint=shown_endpoint,
                created_at=dt.datetime.fromisoformat(kept.failed_at),
            )
        )
    out.extend(_run_result(run, shown_endpoint) for run in unfinished)
    return out


def _run_result(run: Run, endpoint: str) -> Result:
    """An unfinished bulk run, as a row of the failed history."""
    ranges = ", ".join(f"{first:,}–{stop - 1:,}" for first, stop, _ in run.in_flight) or "none"
    unread = (
        f"; rows from {run.rows_read:,} of {run.rows_total:,} were never read"
        if run.rows_total is not None and run.rows_read < run.rows_total
        else ""
    )
    return Result(
        type=f"bulk {run.kind}",
        status_code=SYSTEM_ERROR,
        error_message=(
            f"run {run.run_id} ended early: rows possibly in flight: {ranges}{unread}; "
            "the same run id resends them with the same messageIds and continues"
        ),
        endpoint=endpoint,
        context_label=run.label or run.run_id,
        created_at=dt.datetime.fromisoformat(run.started_at),
        remedies=(Remedy("resume", run_id=run.run_id),),
    )
