"""SegmentClient: the one client under the magics, the form and user code."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ValidationError
from ..messages import Built, build_from_segment_dict, build_message, serialize
from .endpoints import display_url, is_loopback, resolve_endpoint
from .history import History
from .keys import ENV_VAR, WriteKey, find_write_key
from .result import OK, SYSTEM_ERROR, VALIDATION_ERROR, BatchResult, Result
from .retry import RetryPolicy
from .transport import Delivery, Transport, batch_body, single_body

MAX_BATCH_BYTES = 500_000  # Segment's /v1/batch request limit
BATCH_TARGET_BYTES = 475_000  # what we pack to, leaving room for the envelope and sentAt
MAX_BATCH_MESSAGES = 2_500
LOCAL_KEY = "segment-magics-local"  # the collector accepts any key; this one marks local use


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

    def __enter__(self) -> SegmentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        return self._record(self._deliver_one(built, dry))

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
                delivery = self._transport.post(
                    "batch", batch_body([serialize(b.message) for b in chunk])
                )
                summary.requests += 1
                summary.attempts += delivery.attempts
                last = delivery
            summary.results.extend(self._result(b, delivery, dry) for b in chunk)
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
        return self._result(built, delivery, dry)

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


def pack_batches(built: list[Built]) -> Iterable[list[Built]]:
    """Group messages so no request exceeds the byte and count limits."""
    chunk: list[Built] = []
    size = 0
    for item in built:
        cost = item.size + 1
        if chunk and (size + cost > BATCH_TARGET_BYTES or len(chunk) >= MAX_BATCH_MESSAGES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += cost
    if chunk:
        yield chunk
