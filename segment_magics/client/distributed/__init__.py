"""Backfills from Spark and Dask DataFrames, sent by the workers (optional extras).

``send_many`` hands a Spark or Dask DataFrame here. Each partition is sent where
it lives (:mod:`.worker`); the notebook only receives per-partition reports, so
no rows are collected to it. Undelivered messages come back with their payloads
and are kept in the notebook's outbox, where a retry resends them with their
original messageIds.

Nothing here imports pyspark or dask until a DataFrame of theirs arrives.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import orjson

from ..bulk_outcome import settle_outcome
from ..bulk_result import BulkResult
from ..bulk_state import count_events
from ..outbox_contract import Entry, State
from ..problems import ProblemLog
from ..remedies import Remedy
from . import audit as _audit  # noqa: F401 - registers the Spark and Dask audit engines
from .worker import COUNTS, PartitionReport, WorkerConfig, run_directory

if TYPE_CHECKING:
    from ..outbox_contract import OutboxContract

Engine = Literal["spark", "dask"]


def engine_of(rows: Any) -> Engine | None:
    """Which engine a DataFrame belongs to, by its class's module (nothing imported)."""
    module = type(rows).__module__
    if module.startswith(("pyspark.sql", "pyspark.pandas")) and hasattr(rows, "rdd"):
        return "spark"
    if module.startswith(("dask.dataframe", "dask_expr")) and hasattr(rows, "to_delayed"):
        return "dask"
    return None


def point_spark_at_this_python() -> bool:
    """Spark in local mode starts its executors with ``$PYSPARK_PYTHON`` (default: the
    system's ``python3``, without this package). Before any Spark runs, and unless the
    user chose one, make it this notebook's interpreter. True when it was set."""
    import sys

    if os.environ.get("PYSPARK_PYTHON"):
        return False
    pyspark = sys.modules.get("pyspark")
    if pyspark is not None and getattr(pyspark.SparkContext, "_active_spark_context", None):
        return False  # too late for this one: engine_problem() says what to do
    os.environ["PYSPARK_PYTHON"] = sys.executable
    return True


def engine_problem(engine: Engine, rows: Any) -> str | None:
    """Why the engine's workers could not send (None: they can), asked before any task
    of the backfill runs."""
    if engine == "spark":
        from .spark import executor_problem

        return executor_problem(rows)
    return None


def spill_directory() -> str:
    """Where workers on this machine write failures past the inline limit (private)."""
    path = Path(tempfile.gettempdir()) / f"segment-magics-{os.getuid()}" / "spill"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(path)


def run(
    engine: Engine,
    rows: Any,
    config: WorkerConfig,
    *,
    max_rate: float | None,
    progress: bool,
) -> tuple[list[PartitionReport], bool, float]:
    """Run every partition on its engine: (reports of finished tasks, interrupted, s)."""
    started = time.monotonic()
    if engine == "spark":
        from .spark import run_spark

        reports, interrupted = run_spark(rows, config, max_rate=max_rate, progress=progress)
    else:
        from .dask import run_dask

        reports, interrupted = run_dask(rows, config, max_rate=max_rate, progress=progress)
    return reports, interrupted, time.monotonic() - started


def combine(
    reports: Iterable[PartitionReport],
    config: WorkerConfig,
    outbox: OutboxContract,
    *,
    interrupted: bool,
    elapsed: float,
) -> BulkResult:
    """One summary for the run; undelivered messages go to the notebook's outbox."""
    dry = config.options.dry_run
    result = BulkResult(type=config.kind, dry_run=dry)
    result.problems = ProblemLog(config.options.problems_path)
    result.only_problems = True
    result.run_id = config.run_id
    result.outbox_path = outbox.shown_path
    result.plan_checked = config.plan is not None and config.plan_mode != "off"
    result.partitions = 0
    unreadable: list[str] = []
    for report in sorted(reports, key=lambda r: r.partition):
        result.partitions += 1
        for name in COUNTS:
            setattr(result, name, getattr(result, name) + getattr(report, name))
        result.original_status_code = report.original_status_code or result.original_status_code
        for event, count in report.events.items():
            count_events(result.events, event, count)
        for how, count in report.naive.items():
            result.naive[how] = result.naive.get(how, 0) + count
        if report.problems_file and Path(report.problems_file).exists():
            partition = report.partition
            result.problems.merge_file(
                report.problems_file, lambda row, p=partition: f"partition {p}, row {row}"
            )
        elif report.problems:
            unreadable.append(report.problems_file)
        missing = report.spill_file and not Path(report.spill_file).exists()
        if missing and not dry:
            unreadable.append(report.spill_file)
    result.problems.close()
    _forget_problem_files(config)  # the reports' own, and those of failed task attempts
    keep_failures(outbox, config)
    result.sent = result.messages_sent > 0
    result.elapsed = elapsed
    result.interrupted = interrupted
    settle_outcome(result)
    parts = [result.error_message] if result.error_message else []
    if interrupted:  # tasks cancelled mid-way reported nothing: a rerun finishes the run
        parts = [p for p in parts if result.failed or result.rejected]
        parts.append(
            "interrupted: delivered rows are resent under the same messageIds when the run "
            "is run again, which Segment deduplicates"
        )
        result.remedies = (*result.remedies, Remedy("resume", run_id=config.run_id))
    if unreadable:
        parts.append(
            f"the workers wrote {len(unreadable)} failure files this notebook cannot "
            f"read (e.g. {unreadable[0]})"
        )
        result.remedies = (*result.remedies, Remedy("shared_failures"))
    result.error_message = "; ".join(parts)
    return result


def _forget_problem_files(config: WorkerConfig) -> None:
    directory = run_directory(config.spill_dir, config.run_id)
    for path in directory.glob("problems-part-*.jsonl") if directory.is_dir() else ():
        path.unlink(missing_ok=True)


def keep_failures(outbox: OutboxContract, config: WorkerConfig) -> int:
    """Every failure file of the run (finished tasks, failed attempts alike) into the
    notebook's outbox, then removed; returns the messages kept."""
    directory = run_directory(config.spill_dir, config.run_id)
    if not directory.is_dir():
        return 0
    kept = 0
    for path in sorted(directory.glob("part-*.jsonl")):
        by_state: dict[tuple[State, str, int | None], list[Entry]] = {}
        with path.open("rb") as lines:
            for line in lines:
                r = orjson.loads(line)
                entry = Entry(r["messageId"], r["type"], r["label"], r["row"],
                              r["payload"].encode())  # fmt: skip
                state = cast("State", r["state"])
                by_state.setdefault((state, r["error"], r["status"]), []).append(entry)
        for (state, error, status), entries in by_state.items():
            kept += outbox.keep(entries, config.endpoint_key, state, error, status)
        path.unlink()
    if not any(directory.iterdir()):
        directory.rmdir()
    return kept
