"""One message, or one /v1/batch of them, written ahead to the outbox and sent.

Every message is kept in the outbox (in flight) before its request leaves and
leaves the outbox only when the server acknowledged it. When the outbox cannot be
written, nothing is sent: the result says so and names the outbox.
"""

from __future__ import annotations

import time
from typing import Literal, TypeVar

from ..messages import Built
from .batches import pack_batches
from .deadline import Cancel
from .destination import Destination
from .interrupts import InterruptGuard
from .outbox_contract import Entry, OutboxUnavailable
from .remedies import Remedy
from .result import OK, SYSTEM_ERROR, VALIDATION_ERROR, BatchResult, Outcome, Result
from .transport import Delivery, batch_body, single_body

R = TypeVar("R", bound=Outcome)


def deliver_batch(
    to: Destination, built: list[Built], warnings: tuple[str, ...], dry: bool
) -> BatchResult:
    """Send validated messages in /v1/batch requests within Segment's limits."""
    start = time.monotonic()
    summary = BatchResult(type="batch", warnings=warnings, dry_run=dry, endpoint=to.shown_endpoint)
    missing = to.missing_key()
    if missing and not dry:
        summary.status_code, summary.error_message = VALIDATION_ERROR, missing
        summary.results = [result_of(to, b, None, dry, missing) for b in built]
        return summary
    if not dry:  # written ahead: each message is acknowledged or stays in the outbox
        try:
            to.outbox.keep(map(_entry, built), to.outbox_key, "in_flight")
        except OutboxUnavailable as exc:
            summary.results = [result_of(to, b, None, dry) for b in built]
            return outbox_failed(summary, exc)
    last: Delivery | None = None
    cancel = Cancel()
    with InterruptGuard(cancel.set) as guard:
        for chunk in pack_batches(built):
            delivery = None
            if not dry:
                try:
                    if guard.interrupted:
                        raise KeyboardInterrupt
                    delivery = to.transport.post(
                        "batch", batch_body([b.encoded for b in chunk]), cancel
                    )
                except KeyboardInterrupt:
                    guard.interrupt()
                    delivery = Delivery(interrupted=True, error="interrupted (Ctrl-C)")
                summary.requests += 1
                summary.attempts += delivery.attempts
                last = delivery
                note = _settle(to, [b.message_id for b in chunk], delivery)
                if note:
                    summary.warnings = (*summary.warnings, note)
            summary.results.extend(result_of(to, b, delivery, dry) for b in chunk)
    summary.interrupted = guard.interrupted
    worst = next((r for r in summary.results if not r.ok), None)
    summary.sent = any(r.sent for r in summary.results)
    if worst is not None:
        summary.status_code = worst.status_code
        summary.original_status_code = worst.original_status_code
        summary.response_body = worst.response_body
        failed = sum(not r.ok for r in summary.results)
        summary.error_message = (
            f"{failed} of {len(summary.results)} messages not delivered: {worst.error_message}"
        )
        summary.remedies = worst.remedies
    elif last is not None:
        summary.original_status_code = last.status
        summary.response_body = last.body
    summary.elapsed = time.monotonic() - start
    return summary


def deliver_one(to: Destination, built: Built, dry: bool) -> Result:
    """Send one validated message to /v1/<its type>."""
    missing = to.missing_key()
    if dry or missing:
        return result_of(to, built, None, dry, "" if dry else missing)
    try:  # written ahead: acknowledged, or it stays in the outbox
        to.outbox.keep([_entry(built)], to.outbox_key, "in_flight")
    except OutboxUnavailable as exc:
        return outbox_failed(result_of(to, built, None, dry), exc)
    cancel = Cancel()
    with InterruptGuard(cancel.set) as guard:
        delivery = to.transport.post(built.message["type"], single_body(built.encoded), cancel)
    delivery.interrupted = delivery.interrupted or guard.interrupted
    note = _settle(to, [built.message_id], delivery)
    result = result_of(to, built, delivery, dry)
    if note:
        result.warnings = (*result.warnings, note)
    return result


def _settle(to: Destination, message_ids: list[str], delivery: Delivery) -> str:
    """After the attempt: acknowledged ones leave the outbox, the rest wait there.
    Returns a warning when the outbox could not record it ("" when it could)."""
    try:
        if delivery.delivered:
            to.outbox.settle(to.outbox_key, message_ids, None)
        else:
            state: Literal["rejected", "pending"] = "rejected" if delivery.rejected else "pending"
            to.outbox.settle(
                to.outbox_key, message_ids, state, delivery.error, delivery.status or None
            )
    except OutboxUnavailable as exc:
        if delivery.delivered:
            return (
                f"delivered, but {exc.reason} kept the outbox from noting it; a later "
                "retry may send it again under the same messageId (deduplicated)"
            )
        return f"kept in the outbox as in flight ({exc.reason} kept it from noting more)"
    return ""


def result_of(
    to: Destination, built: Built, delivery: Delivery | None, dry: bool, invalid: str = ""
) -> Result:
    """The Result of one message: what the wire said, or why it was not sent."""
    result = Result(
        type=built.message["type"],
        message=built.message,
        message_id=built.message_id,
        warnings=built.warnings,
        dry_run=dry,
        endpoint=to.shown_endpoint,
    )
    if invalid:
        result.status_code, result.error_message = VALIDATION_ERROR, invalid
        result.dry_run = False
    elif delivery is not None:
        result.sent = delivery.sent
        result.original_status_code = delivery.status
        result.response_body = delivery.body
        result.attempts = delivery.attempts
        result.elapsed = delivery.elapsed
        result.interrupted = delivery.interrupted
        if delivery.delivered:
            result.status_code = OK
        elif delivery.rejected:
            result.status_code, result.error_message = OK, delivery.error
            result.warnings = (*result.warnings, "kept in the outbox as rejected")
            result.remedies = (Remedy("retry_rejected"),)
        else:
            result.status_code, result.error_message = SYSTEM_ERROR, delivery.error
            result.warnings = (
                *result.warnings, f"kept in the outbox ({to.outbox.shown_path})",
            )  # fmt: skip
            result.remedies = (Remedy("retry"),)
    return result


def _entry(built: Built) -> Entry:
    return Entry(built.message_id, built.message["type"], built.label, "", built.encoded)


def outbox_failed(result: R, exc: OutboxUnavailable) -> R:
    """Nothing was sent: there was no place to keep it should it fail."""
    result.status_code = SYSTEM_ERROR
    result.error_message = f"{exc}; nothing was sent"
    result.dry_run = False
    result.remedies = (Remedy("move_outbox"),)
    return result
