"""SegmentClient: the one client under the magics, the form and user code."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import ValidationError
from ..messages import Built, ColumnMap, build_from_segment_dict, build_message, message_label
from ..plan import PlanSource, PlanValidator, Violation, load_plan, validator_for
from .bulk import BulkResult, BulkSender, pack_batches, row_builder, segment_dict_builder
from .endpoints import display_url, is_loopback, resolve_endpoint
from .history import History
from .keys import ENV_VAR, WriteKey, find_write_key
from .outbox import Outbox, Pending
from .result import OK, SYSTEM_ERROR, VALIDATION_ERROR, BatchResult, Result
from .retry import RetryPolicy
from .transport import Delivery, Transport, batch_body, single_body

LOCAL_KEY = "segment-magics-local"  # the collector accepts any key; this one marks local use
PlanMode = Literal["warn", "block", "off"]
PLAN_MODES: tuple[PlanMode, ...] = get_args(PlanMode)


class SegmentClient:
    """Send Segment calls and get :class:`Result` objects back; never raises for bad input.

    >>> client = SegmentClient(endpoint="http://127.0.0.1:8787")  # the local collector
    >>> client.track("Order Completed", user_id="u1", properties={"total": 99}).ok
    True
    """

    def __init__(
        self,
        write_key: str | WriteKey | None = None,
        endpoint: str = "us",
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        retry_budget: float = 30.0,
        max_retry_after: float = 20.0,
        gzip: bool = False,
        dry_run: bool = False,
        history: History | None = None,
        write_key_env: str = ENV_VAR,
        retry: RetryPolicy | None = None,
        outbox: str | Path | Outbox | None = None,
        plan: PlanSource | PlanValidator | None = None,
        plan_mode: PlanMode = "warn",
    ) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        key = find_write_key(write_key, write_key_env)
        if key is None and is_loopback(self.endpoint):
            key = WriteKey(LOCAL_KEY, "not needed (local endpoint)")
        self._key = key
        self.key_env = write_key_env
        self.dry_run = dry_run
        self.history = history if history is not None else History()
        self.policy = retry or RetryPolicy(
            max_retries=max_retries, total_budget=retry_budget, max_retry_after=max_retry_after
        )
        self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
        self.plan: PlanValidator | None = None
        self.plan_mode: PlanMode = "warn"
        self.use_plan(plan, plan_mode)
        self._transport = Transport(
            self.endpoint,
            key or WriteKey("", "missing"),
            timeout=timeout,
            policy=self.policy,
            compress=gzip,
        )

    # -- introspection ------------------------------------------------------------
    @property
    def key_source(self) -> str:
        return self._key.source if self._key else "missing"

    @property
    def masked_key(self) -> str:
        return self._key.masked if self._key else "(none)"

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    def __repr__(self) -> str:
        return (
            f"SegmentClient(endpoint={display_url(self.endpoint)!r}, "
            f"write_key={self.masked_key} from {self.key_source})"
        )

    def close(self) -> None:
        self._transport.close()
        self.outbox.close()

    def __enter__(self) -> SegmentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tracking plan ------------------------------------------------------------
    def use_plan(self, plan: PlanSource | PlanValidator | None, mode: PlanMode = "warn") -> None:
        """Check every call against ``plan`` (a Plan, dict, file or template name) first.

        ``mode``: ``warn`` sends and reports violations, ``block`` refuses calls that
        violate the plan (StatusCode -1, nothing sent), ``off`` does not check.
        """
        if mode not in PLAN_MODES:
            raise ValueError(f"plan_mode must be one of {', '.join(PLAN_MODES)}, got {mode!r}")
        self.plan = validator_for(
            plan if isinstance(plan, PlanValidator) or plan is None else load_plan(plan)
        )
        self.plan_mode = mode

    def _violations(self, built: Built) -> list[Violation] | None:
        """None when no plan checks this call; else the (possibly empty) violations."""
        if self.plan is None or self.plan_mode == "off":
            return None
        return self.plan.check(built.message)

    # -- the six calls ------------------------------------------------------------
    def track(self, event: str | None = None, **fields: Any) -> Result:
        """Record an action, e.g. ``track("Order Completed", user_id=..., properties=...)``."""
        return self.send("track", event=event, **fields)

    def identify(self, user_id: Any = None, **fields: Any) -> Result:
        """Say who a user is; ``email``/``name`` are merged into ``traits``."""
        return self.send("identify", user_id=user_id, **fields)

    def page(self, name: str | None = None, **fields: Any) -> Result:
        """Record a page view."""
        return self.send("page", name=name, **fields)

    def screen(self, name: str | None = None, **fields: Any) -> Result:
        """Record a mobile screen view."""
        return self.send("screen", name=name, **fields)

    def group(self, group_id: Any = None, **fields: Any) -> Result:
        """Associate a user with a group (account, organisation) and its traits."""
        return self.send("group", group_id=group_id, **fields)

    def alias(self, previous_id: Any = None, user_id: Any = None, **fields: Any) -> Result:
        """Merge ``previous_id`` into ``user_id``."""
        return self.send("alias", previous_id=previous_id, user_id=user_id, **fields)

    def send(self, kind: str, *, dry_run: bool | None = None, **fields: Any) -> Result:
        """Build, validate and send one call of type ``kind``."""
        dry = self.dry_run if dry_run is None else dry_run
        try:
            built = build_message(kind, **fields)
        except ValidationError as exc:
            return self._record(self._invalid(kind, exc))
        except TypeError as exc:  # an unknown keyword argument
            return self._record(self._invalid(kind, ValidationError("arguments", str(exc))))
        violations = self._violations(built)
        if violations and self.plan_mode == "block":
            result = self._result(built, None, dry, _blocked(violations))
        else:
            result = self._deliver_one(built, dry)
        if violations is not None:
            result.violations, result.plan_checked = tuple(violations), True
        return self._record(result)

    # -- batches ------------------------------------------------------------------
    def batch(
        self, messages: Iterable[Mapping[str, Any]], *, dry_run: bool | None = None
    ) -> BatchResult:
        """Validate every message, then POST them to /v1/batch in requests of at most
        500 KB and 2,500 messages. If any message is invalid, nothing is sent."""
        dry = self.dry_run if dry_run is None else dry_run
        built: list[Built] = []
        warnings: list[str] = []
        try:
            for index, data in enumerate(messages):
                item = build_from_segment_dict(data, where=f"batch[{index}]")
                violations = self._violations(item)
                if violations and self.plan_mode == "block":
                    raise ValidationError(f"batch[{index}]", _blocked(violations))
                built.append(item)
                warnings.extend(f"batch[{index}]: {w}" for w in item.warnings)
        except ValidationError as exc:
            result = BatchResult(
                type="batch",
                status_code=VALIDATION_ERROR,
                error_message=f"{exc} (nothing was sent)",
                error_field=exc.field,
                endpoint=display_url(self.endpoint),
            )
            return self._record(result)
        return self._record(self._deliver_batch(built, tuple(warnings), dry))

    def _deliver_batch(
        self, built: list[Built], warnings: tuple[str, ...], dry: bool
    ) -> BatchResult:
        start = time.monotonic()
        summary = BatchResult(
            type="batch", warnings=warnings, dry_run=dry, endpoint=display_url(self.endpoint)
        )
        missing = self._missing_key_error()
        if missing and not dry:
            summary.status_code, summary.error_message = VALIDATION_ERROR, missing
            summary.results = [self._result(b, None, dry, missing) for b in built]
            return summary
        last: Delivery | None = None
        for chunk in pack_batches(built):
            if dry:
                delivery = None
            else:
                delivery = self._transport.post("batch", batch_body([b.encoded for b in chunk]))
                summary.requests += 1
                summary.attempts += delivery.attempts
                last = delivery
            results = [self._result(b, delivery, dry) for b in chunk]
            if delivery is not None and not delivery.delivered and not delivery.final_http_error:
                self._keep(chunk, results[0])
                for r in results[1:]:
                    r.warnings = results[0].warnings
            summary.results.extend(results)
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
        elif last is not None:
            summary.original_status_code = last.status
            summary.response_body = last.body
        summary.elapsed = time.monotonic() - start
        return summary

    # -- bulk -------------------------------------------------------------------
    def send_many(
        self,
        rows: Any,
        kind: str | None = None,
        *,
        event: str | None = None,
        columns: Mapping[str, str] | None = None,
        body_columns: list[str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        dry_run: bool | None = None,
        progress: bool = True,
        workers: int = 4,
        anonymous_id: str | None = None,
    ) -> BulkResult:
        """Send many messages through /v1/batch, several requests in flight.

        ``rows`` is any iterable (read lazily) or a pandas DataFrame. Without
        ``kind`` each row is a Segment message dict with its ``type``; with
        ``kind`` each row is a record whose columns map to the call (``userId``/
        ``user_id``, ``timestamp``, ``messageId``, ...; ``columns`` renames, e.g.
        ``{"user_id": "customer"}``) and whose other columns become properties or
        traits (or only ``body_columns``). Invalid rows are reported, not sent;
        undeliverable ones go to the outbox. Missing cells (NaN/NA) are omitted.
        ``anonymous_id`` is used for rows that have neither a userId nor an
        anonymousId.
        """
        dry = self.dry_run if dry_run is None else dry_run
        if kind is None:
            build = segment_dict_builder(anonymous_id)
            label = "messages"
        else:
            fixed = dict(defaults or {})
            if event is not None:
                fixed["event"] = event
            try:
                build = row_builder(
                    ColumnMap(kind, dict(columns or {}), body_columns, fixed), anonymous_id
                )
            except ValidationError as exc:
                return self._record(
                    BulkResult(type=kind, status_code=VALIDATION_ERROR, error_message=str(exc))
                )
            label = kind
        missing = self._missing_key_error()
        if missing and not dry:
            return self._record(
                BulkResult(type=label, status_code=VALIDATION_ERROR, error_message=missing)
            )
        sender = BulkSender(
            self._transport,
            self.outbox,
            self.endpoint,
            workers=workers,
            dry_run=dry,
            progress=progress,
            check=self.plan.check if self.plan is not None and self.plan_mode != "off" else None,
            block=self.plan_mode == "block",
        )
        result = sender.run(rows, build, label)
        result.endpoint = display_url(self.endpoint)
        return self._record(result)

    def retry_outbox(self, *, progress: bool = False, workers: int = 4) -> BulkResult:
        """Resend what the outbox keeps for this endpoint, with the original messageIds."""
        pending = self.outbox.pending(self.endpoint)
        missing = self._missing_key_error()
        if missing:
            return self._record(
                BulkResult(type="resend", status_code=VALIDATION_ERROR, error_message=missing)
            )
        sender = BulkSender(
            self._transport, self.outbox, self.endpoint, workers=workers, progress=progress
        )
        result = sender.run(pending, _stored, "resend")
        kept = {problem.message_id for problem in result.problems}
        delivered = [p.message_id for p in pending if p.message_id not in kept]
        self.outbox.remove(self.endpoint, delivered)
        result.endpoint = display_url(self.endpoint)
        return self._record(result)

    def kept_results(self) -> list[Result]:
        """What the outbox keeps for this endpoint, as failed Results (for history views)."""
        out = []
        for pending in self.outbox.pending(self.endpoint):
            message = json.loads(pending.payload)
            out.append(
                Result(
                    type=pending.type,
                    status_code=SYSTEM_ERROR,
                    error_message=f"in the outbox: {pending.error}",
                    message=message,
                    message_id=pending.message_id,
                    endpoint=display_url(self.endpoint),
                    created_at=dt.datetime.fromisoformat(pending.failed_at),
                )
            )
        return out

    # -- internals ----------------------------------------------------------------
    def _missing_key_error(self) -> str:
        if self._key is not None:
            return ""
        return (
            f"no write key for {display_url(self.endpoint)}: set ${self.key_env} "
            "or pass write_key=... (use the local collector to try things without one)"
        )

    def _invalid(self, kind: str, exc: ValidationError) -> Result:
        return Result(
            type=kind,
            status_code=VALIDATION_ERROR,
            error_message=str(exc),
            error_field=exc.field,
            endpoint=display_url(self.endpoint),
        )

    def _deliver_one(self, built: Built, dry: bool) -> Result:
        missing = self._missing_key_error()
        if dry or missing:
            return self._result(built, None, dry, "" if dry else missing)
        delivery = self._transport.post(built.message["type"], single_body(built.message))
        result = self._result(built, delivery, dry)
        if result.status_code == SYSTEM_ERROR:
            self._keep([built], result)
        return result

    def _keep(self, built: list[Built], result: Result) -> None:
        """Nothing lost: undeliverable messages wait in the outbox for retry_outbox()."""
        entries = [
            (b.message_id, b.message["type"], message_label(b.message), "", b.encoded)
            for b in built
        ]
        self.outbox.add(entries, self.endpoint, result.error_message)
        result.warnings = (
            *result.warnings,
            f"kept in the outbox ({self.outbox.shown_path}); resend with %segment_retry "
            "or client.retry_outbox()",
        )

    def _result(
        self, built: Built, delivery: Delivery | None, dry: bool, invalid: str = ""
    ) -> Result:
        result = Result(
            type=built.message["type"],
            message=built.message,
            message_id=built.message_id,
            warnings=built.warnings,
            dry_run=dry,
            endpoint=display_url(self.endpoint),
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
            if delivery.delivered:
                result.status_code = OK
            elif delivery.final_http_error:
                result.status_code, result.error_message = OK, delivery.error
            else:
                result.status_code, result.error_message = SYSTEM_ERROR, delivery.error
        return result

    def _record(self, result: Result) -> Any:
        self.history.record(result)
        return result


def _stored(pending: Pending) -> Built:
    """A kept message, exactly as it was built the first time."""
    return Built(json.loads(pending.payload), (), pending.payload)


def _blocked(violations: list[Violation]) -> str:
    count = len(violations)
    first = violations[0]
    more = f" and {count - 1} more" if count > 1 else ""
    return f"tracking plan (block): {first}{more}; nothing was sent"
