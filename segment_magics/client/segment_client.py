"""SegmentClient: the one client under the magics, the form and user code."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from ..display import plural
from ..errors import PlanWarning, ValidationError
from ..messages import (
    ALIAS,
    CALLS,
    GROUP,
    IDENTIFY,
    PAGE,
    SCREEN,
    TRACK,
    Built,
    build_from_segment_dict,
    build_message,
    message_label,
)
from ..messages.arguments import (
    checked_mapping,
    checked_names,
    checked_path,
    checked_retries,
    checked_seconds,
    checked_switch,
    checked_text,
)
from ..messages.naive_time import GUESS, NaiveTime
from ..plan import PlanSource, PlanValidator, Violation, load_plan
from .backfill import send_rows
from .bulk_options import BulkOptions, checked_workers
from .bulk_outcome import reason_of
from .bulk_result import BulkResult
from .delivery import deliver_batch, deliver_one, result_of
from .destination import Destination
from .endpoints import display_url, endpoint_credentials, is_loopback, resolve_endpoint
from .history import History
from .kept import kept_results
from .keys import ENV_VAR, WriteKey, find_write_key
from .network import Network
from .outbox import Outbox
from .resend import discard, resend
from .result import VALIDATION_ERROR, BatchResult, Outcome, Result
from .retry import RetryPolicy
from .scrub import sealed
from .transport import Transport, TransportSettings

LOCAL_KEY = "segment-magics-local"  # the collector accepts any key; this one marks local use
LOCAL_WRITE_KEY = WriteKey(LOCAL_KEY, "not needed (the embedded collector)")
# Python code may send to a test server on this machine without a key of its own.
LOOPBACK_PLACEHOLDER = WriteKey(LOCAL_KEY, "a placeholder (no key for a loopback URL)")
PlanMode = Literal["warn", "block", "off"]
PLAN_MODES: tuple[PlanMode, ...] = get_args(PlanMode)
R = TypeVar("R", bound=Outcome)


class SegmentClient:
    """Send Segment calls and get :class:`Result` objects back; never raises for bad input.

    >>> client = SegmentClient(endpoint="http://127.0.0.1:8791")  # a local collector
    >>> client.track("Order Completed", user_id="u1", properties={"total": 99}).ok
    True

    Every message carries its event time (``timestamp``, now unless given) and is
    written to the outbox before it leaves; it leaves the outbox only when the
    server acknowledged it. ``outbox_key`` names the endpoint in the outbox
    (default: its URL; the notebook session uses ``"local"`` for its collector,
    so that what waits survives a kernel restart on another port).
    ``naive_timezone`` says how datetimes without a time zone are read: ``"guess"``
    (the official SDK's rule: local time within 5 s of the clock, else UTC),
    ``"UTC"``, ``"local"`` or a zone name such as ``"Europe/Berlin"``; each one
    read is noted in the Result's warnings. ``proxy`` (a URL, or ``"direct"``) and
    ``ca_bundle`` (a CA file) override ``$HTTPS_PROXY``/``$HTTP_PROXY``/``$NO_PROXY``
    and ``$REQUESTS_CA_BUNDLE``/``$SSL_CERT_FILE``, read with requests' rules.
    """

    @sealed  # a failed construction keeps no key (or URL or proxy with one) in its frames
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
        naive_timezone: str | NaiveTime = GUESS,
        proxy: str | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        timeout = checked_seconds("timeout", timeout, zero=False)
        if retry is None:
            retry = RetryPolicy(
                max_retries=checked_retries(max_retries),
                total_budget=checked_seconds("retry_budget", retry_budget, zero=True),
                max_retry_after=checked_seconds("max_retry_after", max_retry_after, zero=True),
            )
        gzip, dry_run = checked_switch("gzip", gzip), checked_switch("dry_run", dry_run)
        if not isinstance(endpoint, str):
            raise ValidationError("endpoint", f"give 'us', 'eu' or a URL as text, not "
                                              f"{type(endpoint).__name__}")  # fmt: skip
        if outbox is not None and not isinstance(outbox, Outbox):
            outbox = checked_path("outbox", outbox)
        if history is not None and not isinstance(history, History):
            raise ValidationError("history", f"give a History, not {type(history).__name__}")
        if write_key is not None and not isinstance(write_key, str | WriteKey):
            raise ValidationError(
                "write_key", f"must be text, not {type(write_key).__name__}; give the source's "
                "write key as a string, or leave it out to read $SEGMENT_WRITE_KEY",
            )  # fmt: skip
        self.naive = NaiveTime.of(naive_timezone)  # raises ValidationError naming the fix
        in_url = endpoint_credentials(endpoint)
        self.endpoint = resolve_endpoint(endpoint)  # never keeps credentials
        if write_key is None and in_url is not None:
            write_key = WriteKey(in_url, "the endpoint URL")
        key = find_write_key(write_key, write_key_env)
        if key is None and is_loopback(self.endpoint):
            key = LOOPBACK_PLACEHOLDER
        self._key = key
        self.key_env = write_key_env
        self.dry_run = dry_run
        self.history = history if history is not None else History()
        self.policy = retry
        self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
        self.outbox_key = outbox_key or self.endpoint
        self.plan: PlanValidator | None = None
        self.plan_mode: PlanMode = "warn"
        self.use_plan(plan, plan_mode)
        settings = TransportSettings(
            self.endpoint, timeout, self.policy, gzip, Network(proxy, ca_bundle)
        )
        self._transport = Transport(settings, key or WriteKey("", "missing"))

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
        return self.send(TRACK, event=event, **fields)

    def identify(self, user_id: Any = None, **fields: Any) -> Result:
        """Say who a user is; ``email``/``name`` are merged into ``traits``."""
        return self.send(IDENTIFY, user_id=user_id, **fields)

    def page(self, name: str | None = None, **fields: Any) -> Result:
        """Record a page view."""
        return self.send(PAGE, name=name, **fields)

    def screen(self, name: str | None = None, **fields: Any) -> Result:
        """Record a mobile screen view."""
        return self.send(SCREEN, name=name, **fields)

    def group(self, group_id: Any = None, **fields: Any) -> Result:
        """Associate a user with a group (account, organisation) and its traits."""
        return self.send(GROUP, group_id=group_id, **fields)

    def alias(self, previous_id: Any = None, user_id: Any = None, **fields: Any) -> Result:
        """Merge ``previous_id`` into ``user_id``."""
        return self.send(ALIAS, previous_id=previous_id, user_id=user_id, **fields)

    def send(self, kind: str, *, dry_run: bool | None = None, **fields: Any) -> Result:
        """Build, validate and send one call of type ``kind``.

        Bad input never raises: it gives a Result with StatusCode -1. Ctrl-C while
        the request is out keeps the message in the outbox, records the Result,
        and then raises KeyboardInterrupt so that a loop of calls stops.
        """
        dry = self.dry_run if dry_run is None else dry_run
        try:
            built = build_message(kind, naive=self.naive, **fields)
            violations = self._violations(built)
        except Exception as exc:
            return self._record(self._invalid(kind, exc, fields))
        if violations and self.plan_mode == "block":
            result = result_of(self._destination(), built, None, dry, _blocked(violations))
        else:
            result = deliver_one(self._destination(), built, dry)
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
                    item = build_from_segment_dict(data, where=where, naive=self.naive)
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
        return self._record(deliver_batch(self._destination(), built, tuple(warnings), dry))

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
        problems_path: str | None = None,
    ) -> BulkResult:
        """Send many messages through /v1/batch: one request at a time while the server
        answers within milliseconds, up to ``workers`` in flight when it is slower.

        ``rows`` is any iterable (read lazily) or a pandas, Polars or Arrow table.
        Without ``kind`` each row is a Segment message dict with its ``type``; with
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
        options = BulkOptions(
            kind=kind, event=event, columns=checked_mapping("columns", columns, text_values=True),
            body_columns=checked_names("body_columns", body_columns),
            defaults=checked_mapping("defaults", defaults, text_values=False),
            anonymous_id=anonymous_id, anonymous=anonymous,
            run_id=run_id, key_column=key_column, max_rate=max_rate,
            dry_run=self.dry_run if dry_run is None else dry_run, progress=progress,
            workers=workers, failures_path=failures_path, problems_path=problems_path,
        )  # fmt: skip
        return self.backfill(rows, options)

    def backfill(self, rows: Any, options: BulkOptions) -> BulkResult:
        """:meth:`send_many` with its options in one record (what the session uses)."""
        return self._record(send_rows(self._destination(), rows, options))

    def retry_outbox(
        self,
        *,
        progress: bool = False,
        workers: int = 4,
        rejected: bool = False,
        kept_for: str | None = None,
    ) -> BulkResult:
        """Resend what the outbox keeps for this endpoint, with the original messageIds
        and timestamps.

        Pending messages are resent (and messages a dead process left in flight);
        rejected ones only with ``rejected=True``. ``kept_for`` also resends, to this
        endpoint, what waits for another one (a URL, ``"local"``) or for any (``"all"``).
        A message leaves the outbox only when the server acknowledged it; Ctrl-C puts
        the rest back.
        """
        result = resend(self._destination(), workers=checked_workers(workers),
                        progress=checked_switch("progress", progress),
                        rejected=checked_switch("rejected", rejected),
                        kept_for=checked_text("kept_for", kept_for))  # fmt: skip
        return self._record(result)

    def discard_outbox(
        self,
        *,
        kept_for: str | None = None,
        run_id: str | None = None,
        rejected: bool = False,
        dry_run: bool = False,
    ) -> int:
        """Remove messages from the outbox for good; returns how many (``dry_run``: how
        many it would). By default what waits for this endpoint; ``kept_for`` names
        another (or ``"all"``), ``run_id`` one backfill, ``rejected`` only the messages
        the server refused. Messages a live process is sending are left alone."""
        apply = not checked_switch("dry_run", dry_run)
        return sum(self._discard(kept_for, run_id, rejected, apply).values())

    def kept_counts(
        self, *, kept_for: str | None = None, run_id: str | None = None, rejected: bool = False
    ) -> dict[str, int]:
        """How many messages :meth:`discard_outbox` would remove, per endpoint."""
        return self._discard(kept_for, run_id, rejected, apply=False)

    def kept_results(self) -> list[Outcome]:
        """What the outbox keeps for this endpoint, as failed results (for history views),
        and bulk runs that a crash left unfinished."""
        return kept_results(self.outbox, self.outbox_key, self.shown_endpoint)

    # -- internals ----------------------------------------------------------------
    def _discard(
        self, kept_for: str | None, run_id: str | None, rejected: bool, apply: bool
    ) -> dict[str, int]:
        return discard(self._destination(), kept_for=checked_text("kept_for", kept_for),
                       run_id=checked_text("run_id", run_id),
                       rejected=checked_switch("rejected", rejected), apply=apply)  # fmt: skip

    def _destination(self) -> Destination:
        """Where a backfill goes, with the plan as it is now."""
        return Destination(
            self._transport, self.outbox, self.outbox_key, self.shown_endpoint, self._key,
            self.key_env, self.plan, self.plan_mode, self.naive,
        )  # fmt: skip

    def _invalid(
        self, kind: str, exc: Exception, fields: Mapping[str, Any] | Any, where: str = ""
    ) -> Result:
        """A Result for input that cannot be sent; it keeps what it can show of the call."""
        error = exc if isinstance(exc, ValidationError) else ValidationError(where, reason_of(exc))
        shown = _partial_message(fields)
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

    def _record(self, result: R) -> R:
        self.history.record(result)
        return result


def _kind_of(data: Any) -> str:
    kind = data.get("type") if isinstance(data, Mapping) else None
    return str(kind) if isinstance(kind, str) and kind else "batch"


# What a person calls a call that could not be built: its ids and its label field.
_SHOWN_FIELDS = tuple(
    dict.fromkeys(
        (f.name, f.wire)
        for call in CALLS.values()
        for f in call.fields
        if f.kind == "id" or f.name == call.label
    )
)


def _partial_message(fields: Any) -> dict[str, Any]:
    """The event, name or id and the user of a call that could not be built."""
    if not isinstance(fields, Mapping):
        return {}
    shown: dict[str, Any] = {}
    for key, wire in _SHOWN_FIELDS:
        value = fields.get(key, fields.get(wire))
        if isinstance(value, str | int) and not isinstance(value, bool):
            shown[wire] = str(value)
    return shown


def _blocked(violations: list[Violation]) -> str:
    """Block mode's one message; the violations themselves are listed once, below it."""
    return f"tracking plan (block): {plural(len(violations), 'violation')}; nothing was sent"
