"""Where a call or a run goes, as the client stands at that moment.

A :class:`Destination` bundles what sending needs (the transport, the outbox and
the endpoint's name in it, the key, the plan) so that single sends, batches,
backfills and resends work on one value instead of reaching into the client.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..messages.naive_time import DEFAULT, NaiveTime
from ..plan import PlanValidator
from .bulk import Check
from .bulk_options import BulkOptions
from .bulk_result import BulkResult
from .keys import WriteKey
from .outbox import Outbox
from .result import VALIDATION_ERROR
from .transport import Transport


@dataclass(frozen=True)
class Destination:
    """Where a run goes and what it is checked against: the client's state at the call."""

    transport: Transport
    outbox: Outbox
    outbox_key: str  # the endpoint's name in the outbox ("local" for the session's collector)
    shown_endpoint: str
    key: WriteKey | None
    key_env: str
    plan: PlanValidator | None = None
    plan_mode: str = "warn"
    naive: NaiveTime = DEFAULT  # how datetimes without a time zone are read

    @property
    def check(self) -> Check | None:
        return self.plan.check if self.plan is not None and self.plan_mode != "off" else None

    def missing_key(self) -> str:
        """Why nothing can be sent ("" when a key is there)."""
        if self.key is not None:
            return ""
        return (
            f"no write key for {self.shown_endpoint}: set ${self.key_env} "
            "or pass write_key=... (use the local collector to try things without one)"
        )

    def refused(self, options: BulkOptions, message: str, field: str | None = None) -> BulkResult:
        return BulkResult(
            type=options.what, status_code=VALIDATION_ERROR, error_message=message,
            error_field=field, context_label=options.event or "", run_id=options.run_id or "",
            endpoint=self.shown_endpoint,
        )  # fmt: skip
