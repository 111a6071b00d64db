"""A run's verdict from its counts: StatusCode, ErrorMessage and the next steps.

The same rules for runs sent from the notebook and runs sent by Spark or Dask
workers, so that a run reads the same whoever sent it.
"""

from __future__ import annotations

from ..display import plural
from ..errors import ValidationError
from .bulk_result import BulkResult
from .remedies import Remedy
from .result import SYSTEM_ERROR, VALIDATION_ERROR


def settle_outcome(result: BulkResult, stopped: str = "") -> None:
    """StatusCode, ErrorMessage and the next steps from a run's counts (local and
    distributed runs alike). ``stopped``: why the run ended early (the outbox failed)."""
    run = (Remedy("resume", run_id=result.run_id),) if result.run_id else ()
    if stopped:
        result.status_code = SYSTEM_ERROR
        result.error_message = f"stopped: {stopped}"
        if result.unsent:
            result.error_message += f"; {plural(result.unsent, 'message')} not sent"
        result.remedies = (Remedy("move_outbox"), *run)
    elif result.failed or result.interrupted:
        result.status_code = SYSTEM_ERROR
        kept = result.failed
        result.error_message = (
            f"{plural(kept, 'message')} not delivered; kept in the outbox"
            if kept
            else "interrupted (Ctrl-C): every row read was acknowledged"
        )
        if result.interrupted and result.not_read:
            result.error_message += (
                f"; {plural(result.not_read, 'row')} {_were(result.not_read)} never read"
            )
        result.remedies = (
            *((Remedy("retry"),) if kept else ()),
            *(run if result.interrupted and result.not_read else ()),
        )
    elif result.rejected:
        result.error_message = (
            f"{plural(result.rejected, 'message')} rejected by the API (HTTP "
            f"{result.original_status_code}); kept in the outbox"
        )
        result.remedies = (Remedy("retry_rejected"),)
    elif result.invalid:
        result.status_code = VALIDATION_ERROR
        result.error_message = (
            f"{plural(result.invalid, 'invalid row')} {_were(result.invalid)} not sent "
            "(see the problems)"
        )
    if result.missing_ids:
        result.remedies = (*result.remedies, Remedy("user_column"), Remedy("anonymous"))


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def reason_of(exc: Exception) -> str:
    """A one-line reason for an invalid row: our errors as they are, others with their type."""
    if isinstance(exc, ValidationError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "nests too deep to convert (a recursive structure?)"
    return f"{type(exc).__name__}: {exc}"
