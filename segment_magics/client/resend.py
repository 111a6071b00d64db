"""What the outbox keeps, under the user's control: resend it (also what waits for
another endpoint), or discard it.

A resend claims the messages, sends them with their original messageIds and
timestamps, and tells the history which of them a retry delivered, so that the
calls and runs that first failed read as delivered.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from .builders import stored_builder
from .bulk import BulkSender
from .bulk_options import BulkOptions, checked_workers
from .bulk_result import BulkResult
from .delivery import outbox_failed
from .destination import Destination
from .endpoints import resolve_endpoint
from .interrupts import InterruptGuard
from .outbox_contract import OutboxUnavailable, Pending
from .remedies import Remedy
from .result import VALIDATION_ERROR

ALL = "all"
LOCAL = "local"  # the session's embedded collector, whatever its port


@dataclass(frozen=True)
class Resent:
    """What a resend delivered: single calls by messageId, bulk runs by run id."""

    message_ids: frozenset[str] = frozenset()
    runs: dict[str, int] = field(default_factory=dict)


def outbox_key(kept_for: str | None, current: str) -> str | None:
    """The outbox's name for an endpoint the user named: ``all`` (None: any), ``local``,
    or a URL (as the outbox files it, ``.../v1``); the current endpoint by default."""
    if kept_for is None:
        return current
    text = kept_for.strip()
    if text.lower() == ALL:
        return None
    if text.lower() == LOCAL:
        return LOCAL
    try:
        return resolve_endpoint(text)
    except ValueError:
        return text  # a name the outbox may hold as it is


def resend(
    to: Destination,
    *,
    workers: int = 4,
    progress: bool = False,
    rejected: bool = False,
    kept_for: str | None = None,
) -> BulkResult:
    """Resend what the outbox keeps for this endpoint (``kept_for``: also what waits for
    that other one, or ``all``), with the original messageIds and timestamps."""
    checked_workers(workers)
    missing = to.missing_key()
    if missing:
        return BulkResult(type="resend", status_code=VALIDATION_ERROR, error_message=missing,
                          endpoint=to.shown_endpoint)  # fmt: skip
    claimed: list[Pending] = []
    # One guard from the claim to the release: a Ctrl-C anywhere in between (right after
    # the claim, before the sender's own guard is up) is a flag, not an escape that
    # leaves the claimed messages in flight under a process that is still running.
    with InterruptGuard() as guard:
        try:
            source = outbox_key(kept_for, to.outbox_key)
            if source != to.outbox_key:
                to.outbox.adopt(to.outbox_key, source, rejected=rejected)
            claimed = to.outbox.claim(to.outbox_key, rejected=rejected)
            if guard.interrupted:
                result = _not_started(to, claimed)
            else:
                sender = BulkSender(to.transport, to.outbox, to.outbox_key, workers=workers,
                                    progress=progress, claimed=True)  # fmt: skip
                result = sender.run(claimed, stored_builder, "resend")
        except OutboxUnavailable as exc:
            return outbox_failed(to.refused(BulkOptions(kind="resend"), ""), exc)
        except KeyboardInterrupt:  # where no guard could turn it into a flag
            guard.interrupt()
            result = _not_started(to, claimed)
        finally:
            if claimed:
                with contextlib.suppress(OutboxUnavailable):
                    to.outbox.release(to.outbox_key)  # what was not settled waits again
        result.interrupted = result.interrupted or guard.interrupted
        # the bookkeeping stays under the guard: a Ctrl-C now still gets the summary
        result.run_id = ""
        result.endpoint = to.shown_endpoint
        try:
            result.resent = _delivered(to, claimed)
            waiting = to.outbox.counts()
        except OutboxUnavailable:
            waiting = {}
    for (endpoint, state), count in waiting.items():
        if endpoint != to.outbox_key:
            result.waiting_for[endpoint] = result.waiting_for.get(endpoint, 0) + count
        elif state == "rejected" and not rejected:
            result.rejected_here += count
    if result.rejected_here:
        result.remedies = (*result.remedies, Remedy("retry_rejected"))
    if result.waiting_for:
        where = next(iter(result.waiting_for)) if len(result.waiting_for) == 1 else ALL
        result.remedies = (*result.remedies, Remedy("resend_elsewhere", where=where),
                           Remedy("show_failed"))  # fmt: skip
    return result


def _not_started(to: Destination, claimed: list[Pending]) -> BulkResult:
    """The summary of a resend that Ctrl-C stopped before it sent anything."""
    result = BulkResult(type="resend", rows_total=len(claimed), endpoint=to.shown_endpoint)
    result.interrupted = True
    result.outbox_path = to.outbox.shown_path
    return result


def _delivered(to: Destination, claimed: list[Pending]) -> Resent:
    """The claimed messages that are no longer in the outbox: the server took them."""
    still = to.outbox.waiting(p.message_id for p in claimed)
    runs: dict[str, int] = {}
    singles = set()
    for pending in claimed:
        if pending.message_id in still:
            continue
        if pending.run_id:
            runs[pending.run_id] = runs.get(pending.run_id, 0) + 1
        else:
            singles.add(pending.message_id)
    return Resent(frozenset(singles), runs)


def discard(
    to: Destination,
    *,
    kept_for: str | None = None,
    run_id: str | None = None,
    rejected: bool = False,
    apply: bool = True,
) -> dict[str, int]:
    """Remove what the outbox keeps for this endpoint (``kept_for``: that one, or
    ``all``; ``run_id``: of one run; ``rejected``: only the rejected ones). Returns how
    many per endpoint (``apply=False``: would be removed)."""
    source = outbox_key(kept_for, to.outbox_key)
    return to.outbox.discard(source, run_id=run_id, rejected_only=rejected, apply=apply)
