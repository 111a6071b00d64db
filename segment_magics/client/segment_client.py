"""SegmentClient: the one client under the magics, the form and user code."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from ..errors import PlanWarning, ValidationError
from ..messages import Built, ColumnMap, build_from_segment_dict, build_message, message_label
from ..messages.ids import RowIds, new_run_id
from ..messages.rows import is_dataframe
from ..plan import PlanSource, PlanValidator, Violation, load_plan
from .bulk import (
    BulkSender,
    Resume,
    _reason,
    pack_batches,
    row_builder,
    segment_dict_builder,
    stored_builder,
)
from .bulk_result import BulkResult
from .deadline import Cancel
from .distributed import Engine, combine, engine_of, keep_failures, spill_directory
from .distributed import run as run_engine
from .distributed.worker import WorkerConfig
from .endpoints import display_url, endpoint_credentials, is_loopback, resolve_endpoint
from .history import History
from .identities import Identities, columns_refusal, refusal
from .interrupts import InterruptGuard
from .keys import ENV_VAR, WriteKey, find_write_key
from .outbox import Entry, Outbox, Run, current_owner, owner_alive
from .rate import RateBudget
from .result import OK, SYSTEM_ERROR, VALIDATION_ERROR, BatchResult, Result
from .retry import RetryPolicy
from .transport import Delivery, Transport, batch_body, single_body

LOCAL_KEY = "segment-magics-local"  # the collector accepts any key; this one marks local use
LOCAL_WRITE_KEY = WriteKey(LOCAL_KEY, "not needed (local endpoint)")
PlanMode = Literal["warn", "block", "off"]
PLAN_MODES: tuple[PlanMode, ...] = get_args(PlanMode)
R = TypeVar("R", bound=Result)


class SegmentClient:
    """Send Segment calls and get :class:`Result` objects back; never raises for bad input.

    >>> client = SegmentClient(endpoint="http://127.0.0.1:8787")  # the local collector
    >>> client.track("Order Completed", user_id="u1", properties={"total": 99}).ok
    True

    Every message carries its event time (``timestamp``, now unless given) and is
    written to the outbox before it leaves; it leaves the outbox only when the
    server acknowledged it. ``outbox_key`` names the endpoint in the outbox
    (default: its URL; the notebook session uses ``"local"`` for its collector,
    so that what waits survives a kernel restart on another port).
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
        outbox_key: str | None = None,
        plan: PlanSource | PlanValidator | None = None,
        plan_mode: PlanMode = "warn",
    ) -> None:
        in_url = endpoint_credentials(endpoint)
        self.endpoint = resolve_endpoint(endpoint)  # never keeps credentials
        if write_key is None and in_url is not None:
            write_key = WriteKey(in_url, "the endpoint URL")
        key = find_write_key(write_key, write_key_env)
        if key is None and is_loopback(self.endpoint):
            key = LOCAL_WRITE_KEY
        self._key = key
        self.key_env = write_key_env
        self.dry_run = dry_run
        self.history = history if history is not None else History()
        self.policy = retry or RetryPolicy(
            max_retries=max_retries, total_budget=retry_budget, max_retry_after=max_retry_after
        )
        self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
        self.outbox_key = outbox_key or self.endpoint
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

    @property
    def shown_endpoint(self) -> str:
        return display_url(self.endpoint)

    def __repr__(self) -> str:
        return (
            f"SegmentClient(endpoint={self.shown_endpoint!r}, "
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
        if plan is None or isinstance(plan, PlanValidator):
            self.plan, self.plan_mode = plan, mode
            return
        compiled = PlanValidator(load_plan(plan))
        self.plan, self.plan_mode = compiled, mode
        if compiled.skipped:
            warnings.warn(
                f"{len(compiled.skipped)} rule(s) of {compiled.plan.name!r} cannot be checked: "
                + "; ".join(map(str, compiled.skipped)),
                PlanWarning,
                stacklevel=3,
            )

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
        """Build, validate and send one call of type ``kind``.

        Bad input never raises: it gives a Result with StatusCode -1. Ctrl-C while
        the request is out keeps the message in the outbox, records the Result,
        and then raises KeyboardInterrupt so that a loop of calls stops.
        """
        dry = self.dry_run if dry_run is None else dry_run
        try:
            built = build_message(kind, **fields)
            violations = self._violations(built)
        except Exception as exc:
            return self._record(self._invalid(kind, exc, fields))
        if violations and self.plan_mode == "block":
            result = self._result(built, None, dry, _blocked(violations))
        else:
            result = self._deliver_one(built, dry)
        if violations is not None:
            result.violations, result.plan_checked = tuple(violations), True
        self._record(result)
        if result.interrupted:
            raise KeyboardInterrupt
        return result

    # -- batches ------------------------------------------------------------------
    def batch(
        self, messages: Iterable[Mapping[str, Any]], *, dry_run: bool | None = None
    ) -> BatchResult:
        """Validate every message, then POST them to /v1/batch in requests of at most
        500 KB and 2,500 messages. If any message is invalid, nothing is sent and
        every invalid one is listed."""
        dry = self.dry_run if dry_run is None else dry_run
        built: list[Built] = []
        warnings: list[str] = []
        invalid: list[Result] = []
        try:
            for index, data in enumerate(messages):
                where = f"batch[{index}]"
                try:
                    item = build_from_segment_dict(data, where=where)
                    violations = self._violations(item)
                except Exception as exc:
                    invalid.append(self._invalid(_kind_of(data), exc, data, where))
                    continue
                if violations and self.plan_mode == "block":
                    invalid.append(
                        self._invalid(
                            item.message["type"],
                            ValidationError(where, _blocked(violations)),
                            data,
                        )
                    )
                    continue
                built.append(item)
                warnings.extend(f"{where}: {w}" for w in item.warnings)
        except Exception as exc:  # the iterable itself failed
            invalid.append(self._invalid("batch", exc, {}, "messages"))
        if invalid:
            first = invalid[0]
            more = f" and {len(invalid) - 1} more" if len(invalid) > 1 else ""
            result = BatchResult(
                type="batch",
                status_code=VALIDATION_ERROR,
                error_message=f"{first.error_message}{more} (nothing was sent)",
                error_field=first.error_field,
                endpoint=self.shown_endpoint,
                results=invalid,
            )
            return self._record(result)
        return self._record(self._deliver_batch(built, tuple(warnings), dry))

    def _deliver_batch(
        self, built: list[Built], warnings: tuple[str, ...], dry: bool
    ) -> BatchResult:
        start = time.monotonic()
        summary = BatchResult(
            type="batch", warnings=warnings, dry_run=dry, endpoint=self.shown_endpoint
        )
        missing = self._missing_key_error()
        if missing and not dry:
            summary.status_code, summary.error_message = VALIDATION_ERROR, missing
            summary.results = [self._result(b, None, dry, missing) for b in built]
            return summary
        last: Delivery | None = None
        cancel = Cancel()
        chunks = list(pack_batches(built))
        if not dry:  # written ahead: each message is acknowledged or stays in the outbox
            self._ledger(lambda: self.outbox.keep(map(_entry, built), self.outbox_key, "in_flight"))
        with InterruptGuard(cancel.set) as guard:
            for chunk in chunks:
                delivery = None
                if not dry:
                    try:
                        if guard.interrupted:
                            raise KeyboardInterrupt
                        delivery = self._transport.post(
                            "batch", batch_body([b.encoded for b in chunk]), cancel
                        )
                    except KeyboardInterrupt:
                        guard.interrupt()
                        delivery = Delivery(interrupted=True, error="interrupted (Ctrl-C)")
                    summary.requests += 1
                    summary.attempts += delivery.attempts
                    last = delivery
                    self._settle([b.message_id for b in chunk], delivery)
                results = [self._result(b, delivery, dry) for b in chunk]
                if delivery is not None and not delivery.delivered and not delivery.rejected:
                    _kept_note(results[0], self.outbox.shown_path)
                    for r in results[1:]:
                        r.warnings = results[0].warnings
                summary.results.extend(results)
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
        run_id: str | None = None,
        anonymous: bool = False,
        max_rate: float | None = None,
        key_column: str | None = None,
        failures_path: str | None = None,
    ) -> BulkResult:
        """Send many messages through /v1/batch, several requests in flight.

        ``rows`` is any iterable (read lazily) or a pandas DataFrame. Without
        ``kind`` each row is a Segment message dict with its ``type``; with
        ``kind`` each row is a record whose columns map to the call (``userId``/
        ``user_id``, ``timestamp``, ``messageId``, ...; ``columns`` renames, e.g.
        ``{"user_id": "customer"}``) and whose other columns become properties or
        traits (or only ``body_columns``). Invalid rows are reported, not sent;
        undeliverable ones go to the outbox. Missing cells (NaN/NA) are omitted.
        Rows need a userId or an anonymousId: a run in which no row has one is
        refused before anything is sent, and rows without one are reported
        invalid, unless ``anonymous_id`` (one id for them all) or ``anonymous``
        (a generated anonymousId per row, the same again for the same run id) says
        how to fill them.

        Rows without a messageId get one derived from ``run_id`` (generated when
        not given) and their position, or from their ``key_column`` value, and rows
        without a timestamp are dated when read. ``max_rate`` caps the events sent
        per second (shared equally by the workers of a cluster).

        A Spark or Dask DataFrame is sent by its workers, partition by partition,
        with the same mapping, checks and id rules; only per-partition reports come
        back to the notebook. What the workers could not deliver is written under
        ``failures_path`` (a private local directory by default: pass shared storage
        on a real cluster) and then kept in this outbox for ``retry_outbox()``.

        Running a pandas or list backfill again with the same ``run_id`` after a
        crash or Ctrl-C resumes: rows acknowledged before are skipped, rows that may
        have been in flight are resent with the same messageIds, and the rest
        follows. A distributed run is simply run again: every row is resent with the
        same messageId, which Segment deduplicates.
        """
        dry = self.dry_run if dry_run is None else dry_run
        run = run_id or new_run_id()
        engine = engine_of(rows)
        if engine is not None:
            return self._record(
                self._send_distributed(
                    engine,
                    rows,
                    kind,
                    event=event,
                    columns=columns,
                    body_columns=body_columns,
                    defaults=defaults,
                    dry=dry,
                    progress=progress,
                    workers=workers,
                    anonymous_id=anonymous_id,
                    run_id=run,
                    anonymous=anonymous,
                    max_rate=max_rate,
                    key_column=key_column,
                    failures_path=failures_path,
                )
            )
        ids = RowIds(run)
        what = kind or "messages"
        label = event or (f"{len(rows):,} rows" if hasattr(rows, "__len__") else "")
        mapping: ColumnMap | None = None
        who = Identities(run, anonymous=anonymous, fallback=anonymous_id)
        fixed = dict(defaults or {})
        if kind is None:
            build = segment_dict_builder(ids, who)
        else:
            if event is not None:
                fixed["event"] = event
            try:
                mapping = ColumnMap(kind, dict(columns or {}), body_columns, fixed)
                mapping = mapping.checked_defaults([])
                keyed = (run, key_column) if key_column else None
                build = row_builder(mapping, ids, who, mapped=is_dataframe(rows), key=keyed)
            except ValidationError as exc:
                return self._record(
                    BulkResult(type=what, status_code=VALIDATION_ERROR, error_message=str(exc))
                )
        if not anonymous and anonymous_id is None:
            problem = refusal(rows, kind, mapping, fixed)
            if problem is not None:
                return self._record(
                    BulkResult(
                        type=what,
                        status_code=VALIDATION_ERROR,
                        error_message=problem,
                        error_field="userId",
                        context_label=event or "",
                    )
                )
        missing = self._missing_key_error()
        if missing and not dry:
            return self._record(
                BulkResult(type=what, status_code=VALIDATION_ERROR, error_message=missing)
            )
        resume = None
        if not dry:
            try:
                resume = self._begin_run(run, what, label, rows)
            except ValidationError as exc:
                return self._record(
                    BulkResult(type=what, status_code=VALIDATION_ERROR, error_message=str(exc))
                )
        sender = self._sender(workers, dry, progress)
        sender.limit_rate(RateBudget(max_rate) if max_rate else None)
        sender.check = (
            self.plan.check if self.plan is not None and self.plan_mode != "off" else None
        )
        sender.block = self.plan_mode == "block"
        sender.run_id = None if dry else run
        result = sender.run(rows, build, what, resume, mapping)
        result.run_id = run
        result.anonymized = who.generated
        result.plan_checked = sender.check is not None
        result.context_label = event or ""
        result.endpoint = self.shown_endpoint
        return self._record(result)

    def _begin_run(self, run_id: str, kind: str, label: str, rows: Any) -> Resume | None:
        """Record the run in the ledger; an earlier, unfinished run of it is resumed."""
        total = len(rows) if hasattr(rows, "__len__") else None
        before = self.outbox.run(run_id)
        if before is not None:
            if before.kind != kind or before.endpoint != self.outbox_key:
                raise ValidationError(
                    "run_id",
                    f"run {run_id!r} was a {before.kind} backfill to {before.endpoint}; "
                    "choose another run id (the same id resends the same messageIds)",
                )
            if before.owner not in (None, current_owner()) and owner_alive(before.owner, None):
                raise ValidationError(
                    "run_id", f"run {run_id!r} is being sent by another process right now"
                )
        self.outbox.start_run(run_id, self.outbox_key, kind, label, total)
        if before is None or before.finished:
            return None
        kept = {p.message_id for p in self.outbox.pending(self.outbox_key) if p.run_id == run_id}
        return Resume(before, frozenset(kept))

    def retry_outbox(
        self, *, progress: bool = False, workers: int = 4, rejected: bool = False
    ) -> BulkResult:
        """Resend what the outbox keeps for this endpoint, with the original messageIds.

        Pending messages are resent (and messages a dead process left in flight);
        rejected ones only with ``rejected=True``. A message leaves the outbox
        only when the server acknowledged it; Ctrl-C puts the rest back.
        """
        missing = self._missing_key_error()
        if missing:
            return self._record(
                BulkResult(type="resend", status_code=VALIDATION_ERROR, error_message=missing)
            )
        claimed = self.outbox.claim(self.outbox_key, rejected=rejected)
        sender = self._sender(workers, False, progress)
        sender.claimed = True
        result = sender.run(claimed, stored_builder, "resend")
        result.run_id = ""
        waiting = self.outbox.counts()
        result.waiting_elsewhere = sum(
            n for (endpoint, state), n in waiting.items()
            if endpoint != self.outbox_key or (state == "rejected" and not rejected)
        )  # fmt: skip
        if not claimed and result.waiting_elsewhere:
            result.warnings = (
                f"nothing waits for {self.shown_endpoint}; {result.waiting_elsewhere:,} "
                "messages wait for other endpoints or as rejected (%segment_history --failed)",
            )
        result.endpoint = self.shown_endpoint
        return self._record(result)

    def _sender(self, workers: int, dry: bool, progress: bool) -> BulkSender:
        return BulkSender(
            self._transport,
            self.outbox,
            self.outbox_key,
            workers=workers,
            dry_run=dry,
            progress=progress,
        )

    def kept_results(self) -> list[Result]:
        """What the outbox keeps for this endpoint, as failed Results (for history views),
        and bulk runs that a crash left unfinished."""
        out = []
        for pending in self.outbox.pending(self.outbox_key):
            try:
                message = json.loads(pending.payload)
            except ValueError:
                message = None
            code = OK if pending.state == "rejected" else SYSTEM_ERROR
            what = {"rejected": "rejected", "in_flight": "in flight"}.get(pending.state, "waiting")
            out.append(
                Result(
                    type=pending.type,
                    status_code=code,
                    original_status_code=pending.status or 0,
                    error_message=f"in the outbox ({what}): {pending.error}",
                    message=message,
                    message_id=pending.message_id,
                    endpoint=self.shown_endpoint,
                    created_at=dt.datetime.fromisoformat(pending.failed_at),
                )
            )
        out.extend(_run_result(run, self.shown_endpoint) for run in self._unfinished())
        return out

    def _unfinished(self) -> list[Run]:
        try:
            return self.outbox.unfinished_runs(self.outbox_key)
        except sqlite3.Error:
            return []

    # -- internals ----------------------------------------------------------------
    def _send_distributed(
        self,
        engine: Engine,
        rows: Any,
        kind: str | None,
        *,
        event: str | None,
        columns: Mapping[str, str] | None,
        body_columns: list[str] | None,
        defaults: Mapping[str, Any] | None,
        dry: bool,
        progress: bool,
        workers: int,
        anonymous_id: str | None,
        run_id: str,
        anonymous: bool,
        max_rate: float | None,
        key_column: str | None,
        failures_path: str | None = None,
    ) -> BulkResult:
        """A Spark or Dask DataFrame: its partitions are sent by the workers."""
        what = kind or "messages"

        def refused(message: str) -> BulkResult:
            return BulkResult(
                type=what, status_code=VALIDATION_ERROR, error_message=message,
                context_label=event or "", run_id=run_id,
            )  # fmt: skip

        if kind is None:
            return refused(
                f"a {engine} DataFrame's rows are records: name the call, e.g. "
                "send_many(frame, 'track', event='Order Completed')"
            )
        fixed = dict(defaults or {})
        if event is not None:
            fixed["event"] = event
        try:
            mapping = ColumnMap(kind, dict(columns or {}), body_columns, fixed)
            mapping = mapping.checked_defaults([])
            names = [str(c) for c in rows.columns]
            mapping.layout(tuple(names))
        except ValidationError as exc:
            return refused(str(exc))
        if not anonymous and anonymous_id is None:
            problem = columns_refusal(names, kind, mapping, fixed)
            if problem is not None:
                return refused(problem)
        missing = self._missing_key_error()
        if missing and not dry:
            return refused(missing)
        config = WorkerConfig(
            base_url=self.endpoint, endpoint_key=self.outbox_key, kind=kind, run_id=run_id,
            columns=dict(columns or {}), body_columns=body_columns, defaults=fixed,
            plan=self.plan.plan if self.plan is not None else None, plan_mode=self.plan_mode,
            anonymous=anonymous, anonymous_id=anonymous_id, key_column=key_column,
            dry_run=dry, gzip=self._transport.compress, timeout=self._transport.timeout,
            retry=self.policy, threads=max(1, min(workers, 4)),
            spill_dir=failures_path or spill_directory(),
            _key=self._key.reveal() if self._key is not None else "",
        )  # fmt: skip
        try:
            reports, interrupted, elapsed = run_engine(
                engine, rows, config, max_rate=max_rate, progress=progress
            )
        except Exception as exc:  # the job failed: what its tasks could not send is kept
            kept = keep_failures(self.outbox, config)
            failed = refused(
                f"the {engine} job failed ({_first_line(exc)}); {kept:,} undelivered "
                f"messages are in the outbox; rerun with run_id={run_id!r} to finish "
                "(delivered rows are resent with the same messageIds)"
            )
            failed.status_code = SYSTEM_ERROR
            return failed
        result = combine(reports, config, self.outbox, interrupted=interrupted, elapsed=elapsed)
        result.context_label = event or ""
        result.endpoint = self.shown_endpoint
        return result

    def _missing_key_error(self) -> str:
        if self._key is not None:
            return ""
        return (
            f"no write key for {self.shown_endpoint}: set ${self.key_env} "
            "or pass write_key=... (use the local collector to try things without one)"
        )

    def _invalid(
        self, kind: str, exc: Exception, fields: Mapping[str, Any] | Any, where: str = ""
    ) -> Result:
        """A Result for input that cannot be sent; it keeps what it can show of the call."""
        error = exc if isinstance(exc, ValidationError) else ValidationError(where, _reason(exc))
        shown = _partial_message(kind, fields)
        return Result(
            type=kind,
            status_code=VALIDATION_ERROR,
            error_message=str(error),
            error_field=error.field,
            endpoint=self.shown_endpoint,
            message=None,
            context_label=message_label(shown),
            context_user=str(shown.get("userId") or shown.get("anonymousId") or ""),
        )

    def _deliver_one(self, built: Built, dry: bool) -> Result:
        missing = self._missing_key_error()
        if dry or missing:
            return self._result(built, None, dry, "" if dry else missing)
        written = self._ledger(
            lambda: self.outbox.keep([_entry(built)], self.outbox_key, "in_flight")
        )
        cancel = Cancel()
        with InterruptGuard(cancel.set) as guard:
            delivery = self._transport.post(
                built.message["type"], single_body(built.encoded), cancel
            )
        delivery.interrupted = delivery.interrupted or guard.interrupted
        if written:
            self._settle([built.message_id], delivery)
        result = self._result(built, delivery, dry)
        if not delivery.delivered and not delivery.rejected:
            if written:
                _kept_note(result, self.outbox.shown_path)
            else:
                result.warnings = (*result.warnings, "the outbox could not be written: not kept")
        elif delivery.rejected:
            result.warnings = (
                *result.warnings,
                "kept in the outbox as rejected; fix it and resend with %segment_retry --rejected",
            )
        return result

    def _settle(self, message_ids: list[str], delivery: Delivery) -> None:
        """After the attempt: acknowledged ones leave the outbox, the rest wait there."""
        if delivery.delivered:
            self._ledger(lambda: self.outbox.settle(self.outbox_key, message_ids, None))
        else:
            state: Literal["rejected", "pending"] = "rejected" if delivery.rejected else "pending"
            status = delivery.status or None
            self._ledger(
                lambda: self.outbox.settle(
                    self.outbox_key, message_ids, state, delivery.error, status
                )
            )

    def _ledger(self, write: Callable[[], Any]) -> bool:
        """Write to the outbox; a broken outbox (disk full, no permission) must not stop
        the call itself, so it is reported in the Result instead."""
        try:
            write()
        except (sqlite3.Error, OSError):
            return False
        return True

    def _result(
        self, built: Built, delivery: Delivery | None, dry: bool, invalid: str = ""
    ) -> Result:
        result = Result(
            type=built.message["type"],
            message=built.message,
            message_id=built.message_id,
            warnings=built.warnings,
            dry_run=dry,
            endpoint=self.shown_endpoint,
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
            else:
                result.status_code, result.error_message = SYSTEM_ERROR, delivery.error
        return result

    def _record(self, result: R) -> R:
        self.history.record(result)
        return result


def _entry(built: Built) -> Entry:
    return (
        built.message_id,
        built.message["type"],
        message_label(built.message),
        "",
        built.encoded,
    )


def _kept_note(result: Result, where: str) -> None:
    result.warnings = (
        *result.warnings,
        f"kept in the outbox ({where}); resend with %segment_retry or client.retry_outbox()",
    )


def _kind_of(data: Any) -> str:
    kind = data.get("type") if isinstance(data, Mapping) else None
    return str(kind) if isinstance(kind, str) and kind else "batch"


def _partial_message(kind: str, fields: Any) -> dict[str, Any]:
    """What a person would call a call that could not be built: its event and user."""
    if not isinstance(fields, Mapping):
        return {}
    shown: dict[str, Any] = {}
    for key, wire in (("event", "event"), ("name", "name"), ("group_id", "groupId"),
                      ("previous_id", "previousId"), ("user_id", "userId"),
                      ("anonymous_id", "anonymousId")):  # fmt: skip
        value = fields.get(key, fields.get(wire))
        if isinstance(value, str | int) and not isinstance(value, bool):
            shown[wire] = str(value)
    return shown


def _run_result(run: Run, endpoint: str) -> Result:
    """An unfinished bulk run, as a row of ``%segment_history --failed``."""
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
            f"rerun the same send with run id {run.run_id} to resend them with the same "
            "messageIds and continue"
        ),
        endpoint=endpoint,
        context_label=run.label or run.run_id,
        created_at=dt.datetime.fromisoformat(run.started_at),
    )


def _blocked(violations: list[Violation]) -> str:
    count = len(violations)
    first = violations[0]
    more = f" and {count - 1} more" if count > 1 else ""
    return f"tracking plan (block): {first}{more}; nothing was sent"


_PYTHON_ERROR = re.compile(r"^\s*(\w[\w.]*(?:Error|Exception)): (.*)$")


def _first_line(exc: BaseException) -> str:
    """An engine's error in one line: the Python error a worker raised when the message
    carries one (Spark's carry whole Java and Python stack traces), else its first line."""
    lines = str(exc).strip().splitlines()
    errors = [m for m in map(_PYTHON_ERROR.match, lines) if m]
    if errors:
        return f"{errors[-1].group(1)}: {errors[-1].group(2)}"[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]
