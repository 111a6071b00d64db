"""Backfills: many rows through /v1/batch.

``SegmentClient.send_many`` hands its work here with a
:class:`Destination` (the client's transport, outbox and plan as they are now)
and the run's :class:`~.bulk_options.BulkOptions`. A pandas, Polars, Arrow or
iterable source is sent from this process, ledgered in the outbox so that the same
run id resumes it after a crash; a Spark or Dask DataFrame is sent by its workers
(:mod:`.distributed`), and what they could not deliver comes back to the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..errors import ValidationError
from ..messages import CALLS, ColumnMap
from ..messages.frames import column_names
from ..messages.ids import new_run_id
from ..messages.rows import rows_refusal
from .builders import make_builder
from .bulk import BulkSender
from .bulk_options import BulkOptions
from .bulk_result import BulkResult
from .bulk_state import Resume
from .delivery import outbox_failed
from .destination import Destination
from .distributed import (
    Engine,
    combine,
    engine_of,
    engine_problem,
    keep_failures,
    spill_directory,
)
from .distributed import run as run_engine
from .distributed.worker import WorkerConfig
from .identities import refusal
from .outbox_contract import OutboxUnavailable
from .owners import current_owner, owner_alive
from .problems import unwritable
from .rate import RateBudget
from .remedies import Remedy
from .result import SYSTEM_ERROR

MAX_ENGINE_THREADS = 4  # requests in flight per Spark/Dask task


def send_rows(to: Destination, rows: Any, options: BulkOptions) -> BulkResult:
    """One backfill: refused up front when it cannot work, else sent row by row."""
    engine = engine_of(rows)
    naive = options.naive or to.naive
    options = replace(
        options,
        run_id=options.run_id or fresh_run_id(to.outbox),
        naive=naive.for_workers() if engine is not None else naive,
    )
    names = column_names(rows)  # (read once: a LazyFrame resolves its schema to say)
    mapping, refused = _prepared(to, rows, names, options, engine)
    if refused is not None:
        return _given(refused, rows, engine)
    if engine is not None:
        assert mapping is not None
        sent = _send_distributed(to, engine, rows, options)
        sent.unread = _unread(rows, names, mapping)
        return sent
    run_id = options.run_id or ""
    resume = None
    if not options.dry_run:
        try:
            resume = _begin_run(to, run_id, options.what, _label(rows, options), rows)
        except ValidationError as exc:
            return _given(to.refused(options, str(exc), exc.field), rows, engine)
        except OutboxUnavailable as exc:
            return _given(outbox_failed(to.refused(options, ""), exc), rows, engine)
    build, who = make_builder(options, run_id, mapping)
    sender = BulkSender(
        to.transport, to.outbox, to.outbox_key, workers=options.workers,
        dry_run=options.dry_run, progress=options.progress, check=to.check,
        block=to.plan_mode == "block", run_id=run_id,
        rate=RateBudget(options.max_rate) if options.max_rate else None,
        problems_path=options.problems_path,
    )  # fmt: skip
    result = sender.run(rows, build, options.what, resume, mapping)
    result.run_id = run_id
    result.anonymized = who.generated
    result.plan_checked = to.check is not None
    result.context_label = options.event or ""
    result.endpoint = to.shown_endpoint
    result.unread = _unread(rows, names, mapping)
    return result


def _unread(rows: Any, names: list[str] | None, mapping: ColumnMap | None) -> tuple[str, ...]:
    """The columns of a table (``names``, or a list's first row) that a call without a
    body (alias) has no place for: said in the summary rather than dropped in silence."""
    if mapping is None or CALLS[mapping.kind].body is not None:
        return ()
    if names is None and isinstance(rows, list) and rows and isinstance(rows[0], Mapping):
        names = [str(name) for name in rows[0]]
    if not names:
        return ()
    used = {column for _, column in mapping.layout(tuple(names))[0]}
    return tuple(name for name in names if name not in used)


def fresh_run_id(outbox: Any) -> str:
    """A new run id that no run in the outbox has had. A run's messageIds derive from
    its id, and Segment drops a messageId it has seen: a drawn id that repeated an
    earlier run's (a day's ids share a date and 24 random bits) would send messages
    Segment drops as duplicates, or resume that run and skip its rows."""
    run_id = new_run_id()
    for _ in range(64):
        try:
            if outbox.run(run_id) is None:
                return run_id
        except OutboxUnavailable:
            return run_id  # (the run is then refused with the outbox's own error)
        run_id = new_run_id()
    return run_id


def _given(refused: BulkResult, rows: Any, engine: Engine | None) -> BulkResult:
    """A refused run, with the number of rows it was given when that is cheap to know
    (a Spark count would run a job)."""
    if engine is None and hasattr(rows, "__len__"):
        refused.rows_total = len(rows)
    return refused


def _prepared(
    to: Destination, rows: Any, names: list[str] | None, options: BulkOptions,
    engine: Engine | None,
) -> tuple[ColumnMap | None, BulkResult | None]:  # fmt: skip
    """The row mapping, or why the run cannot start: a mapping that cannot work, rows
    that cannot say who they are about, no key. Nothing is sent when it is refused.
    ``names``: a table's :func:`column_names` (None for other rows)."""
    if engine is not None and options.kind is None:
        return None, to.refused(
            options,
            f"a {engine} DataFrame's rows are records: name the call, e.g. "
            "send_many(frame, kind, event='Order Completed')",
        )
    not_rows = rows_refusal(rows) if engine is None else None
    if not_rows is not None:
        return None, to.refused(options, str(not_rows), not_rows.field)
    call = CALLS.get(options.kind or "")
    if (
        call is not None
        and not call.takes_anonymous_id
        and (options.anonymous or options.anonymous_id is not None)
    ):
        name = "anonymous_id" if options.anonymous_id is not None else "anonymous"
        return None, to.refused(
            options, f"{call.kind} calls do not take an anonymousId; leave out {name}", name
        )
    if options.problems_path:
        why = unwritable(options.problems_path)
        if why:
            return None, to.refused(options, f"problems_path: {why}", "problems_path")
    twice = repeated_column(names or ())
    if twice is not None:
        return None, to.refused(
            options,
            f"the table has more than one column named {twice!r}; each would overwrite the "
            "other in the message: rename them first",
            twice,
        )
    try:
        mapping = options.column_map()
        if names is not None and mapping is not None:  # a table: its columns checked now
            mapping.layout(tuple(names))
    except ValidationError as exc:
        return None, to.refused(options, str(exc), exc.field)
    if not options.anonymous and options.anonymous_id is None:
        problem = refusal(rows, options.kind, mapping, options.fixed, names)
        if problem is not None:
            result = to.refused(options, problem, "userId")
            result.remedies = (Remedy("user_column"), Remedy("anonymous"))
            return mapping, result
    if to.missing_key() and not options.dry_run:
        return mapping, to.refused(options, to.missing_key())
    problem = engine_problem(engine, rows) if engine is not None else None
    if problem is not None:
        return mapping, to.refused(options, problem, "executors")
    return mapping, None


def repeated_column(names: Iterable[str]) -> str | None:
    """The first name a table gives two columns (its :func:`column_names`, as text: 1
    and '1' are one name), or None. pandas, Arrow and Spark allow it; a message cannot
    hold both values."""
    seen: set[str] = set()
    for text in names:
        if text in seen:
            return text
        seen.add(text)
    return None


def _begin_run(to: Destination, run_id: str, kind: str, label: str, rows: Any) -> Resume | None:
    """Record the run in the ledger; an earlier, unfinished run of it is resumed."""
    total = len(rows) if hasattr(rows, "__len__") else None
    outbox = to.outbox
    before = outbox.run(run_id)
    if before is not None:
        if before.kind != kind or before.endpoint != to.outbox_key:
            raise ValidationError(
                "run_id",
                f"run {run_id!r} was a {before.kind} backfill to {before.endpoint}; "
                "choose another run id (the same id resends the same messageIds)",
            )
        if before.owner not in (None, current_owner()) and owner_alive(before.owner, None):
            raise ValidationError(
                "run_id", f"run {run_id!r} is being sent by another process right now"
            )
    outbox.start_run(run_id, to.outbox_key, kind, label, total)
    if before is None or before.finished:
        return None
    kept = {p.message_id for p in outbox.pending(to.outbox_key) if p.run_id == run_id}
    return Resume(before, frozenset(kept))


def _send_distributed(
    to: Destination, engine: Engine, rows: Any, options: BulkOptions
) -> BulkResult:
    """A Spark or Dask DataFrame: its partitions are sent by the workers."""
    settings = to.transport.settings  # the proxy and CAs as this notebook reads them now
    settings = replace(settings, network=settings.network.resolved(settings.base_url))
    config = WorkerConfig(
        options=options, transport=settings, endpoint_key=to.outbox_key,
        plan=to.plan.plan if to.plan is not None else None, plan_mode=to.plan_mode,
        threads=max(1, min(options.workers, MAX_ENGINE_THREADS)),
        spill_dir=options.failures_path or spill_directory(),
        _key=to.key.reveal() if to.key is not None else "",
    )  # fmt: skip
    try:
        reports, interrupted, elapsed = run_engine(
            engine, rows, config, max_rate=options.max_rate, progress=options.progress
        )
    except Exception as exc:  # the job failed: what its tasks could not send is kept
        kept = keep_failures(to.outbox, config)
        failed = to.refused(
            options,
            f"the {engine} job failed ({_first_line(exc)}); {kept:,} undelivered messages "
            "are in the outbox; delivered rows are resent with the same messageIds",
        )
        failed.status_code = SYSTEM_ERROR
        failed.remedies = (Remedy("resume", run_id=config.run_id),)
        return failed
    result = combine(reports, config, to.outbox, interrupted=interrupted, elapsed=elapsed)
    result.context_label = options.event or ""
    result.endpoint = to.shown_endpoint
    return result


def _label(rows: Any, options: BulkOptions) -> str:
    return options.event or (f"{len(rows):,} rows" if hasattr(rows, "__len__") else "")


_PYTHON_ERROR = re.compile(r"^\s*(\w[\w.]*(?:Error|Exception)): (.*)$")


def _first_line(exc: BaseException) -> str:
    """An engine's error in one line: the Python error a worker raised when the message
    carries one (Spark's carry whole Java and Python stack traces), else its first line."""
    lines = str(exc).strip().splitlines()
    errors = [m for m in map(_PYTHON_ERROR.match, lines) if m]
    if errors:
        return f"{errors[-1].group(1)}: {errors[-1].group(2)}"[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]
