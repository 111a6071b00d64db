"""Spark: each partition is sent by its executor (``mapInArrow``).

Rows reach Python as Arrow batches, column by column, and go through the same
column mapping as pandas. Only one small report per task comes back to the
notebook; a retried or speculative task rebuilds the same messageIds, so what it
resends is deduplicated. The job runs under its own job group, described without
any secret, and a progress bar follows the finished tasks while it runs.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

from .worker import PartitionReport, WorkerConfig, send_partition

POLL_SECONDS = 0.5


REPORT_SCHEMA = "report binary"  # each task answers with one row: its report as JSON


def _task(config: WorkerConfig, batches: Iterator[Any]) -> Iterator[Any]:
    """Runs on an executor (``mapInArrow``): the partition arrives as Arrow batches."""
    import pyarrow as pa
    from pyspark import TaskContext

    context = TaskContext.get()
    index = context.partitionId() if context is not None else 0
    attempt = context.attemptNumber() if context is not None else 0
    report = send_partition(config, index, batches, attempt, arrow=True)
    yield pa.RecordBatch.from_pydict({"report": [report.to_json()]})


def _has_package(_: Any) -> bool:
    """Runs on an executor: can it import this package (and the Arrow it reads)?"""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("segment_magics", "pyarrow"))


def executor_problem(frame: Any) -> str | None:
    """Why the executors could not send, found before the backfill's job starts; None
    when they can. In local mode the executors' Python is a program on this machine and
    is asked directly; on a cluster one tiny task asks an executor."""
    import subprocess
    import sys
    from pathlib import Path

    context = frame.sparkSession.sparkContext
    python = str(getattr(context, "pythonExec", "") or "python3")
    if str(context.master).startswith("local"):
        try:
            same = Path(python).resolve() == Path(sys.executable).resolve()
        except OSError:
            same = False
        if same:
            return None
        check = [python, "-c", "import segment_magics, pyarrow"]
        try:
            ran = subprocess.run(check, capture_output=True, timeout=60)  # noqa: S603 - Spark's own
            found = ran.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            found = False
        if found:
            return None
        return (
            f"Spark's executors run {python}, which cannot import segment_magics: set "
            f"os.environ['PYSPARK_PYTHON'] = {sys.executable!r} before the SparkSession "
            "starts (restart the kernel; %load_ext segment_magics sets it when no Spark "
            f"runs yet), or pip install 'segment-magics[spark]' into {python}"
        )
    try:
        found = all(context.parallelize([0], 1).map(_has_package).collect())
    except Exception:  # the probe itself failed on the executors: the same advice holds
        found = False
    if found:
        return None
    return (
        "Spark's executors cannot import segment_magics: install it on every executor "
        "(pip install 'segment-magics[spark]', or ship it with spark.archives or "
        "--py-files), then run the backfill again"
    )


def run_spark(
    frame: Any, config: WorkerConfig, *, max_rate: float | None, progress: bool
) -> tuple[list[PartitionReport], bool]:
    from dataclasses import replace

    from .parallel import concurrency, partition_bar, rate_share

    session = frame.sparkSession
    context = session.sparkContext
    parallel = concurrency(lambda: context.defaultParallelism)
    parts = frame.rdd.getNumPartitions()
    config = replace(config, rate=rate_share(max_rate, parallel, parts))
    sent = frame.mapInArrow(partial(_task, config), REPORT_SCHEMA)
    group = f"segment-magics-{config.run_id}-{uuid.uuid4().hex[:6]}"
    outcome: dict[str, Any] = {}

    def collect() -> None:
        context.setJobGroup(group, f"segment-magics backfill {config.run_id}", True)
        try:
            rows = sent.collect()
            outcome["reports"] = [PartitionReport.from_json(row.report) for row in rows]
        except BaseException as exc:  # shown in the notebook by the caller
            outcome["error"] = exc

    worker = threading.Thread(target=collect, name="segment-spark-job", daemon=True)
    bar = partition_bar(progress, parts, "spark")
    worker.start()
    interrupted = False
    try:
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            if bar is not None:
                done = _finished_tasks(context, group)
                if done > bar.n:
                    bar.update(done - bar.n)
    except KeyboardInterrupt:
        interrupted = True
        context.cancelJobGroup(group)
        worker.join()
    finally:
        if bar is not None:
            bar.close()
    if "error" in outcome and not interrupted:
        raise outcome["error"]
    return list(outcome.get("reports", [])), interrupted


def _finished_tasks(context: Any, group: str) -> int:
    tracker = context.statusTracker()
    done = 0
    for job in tracker.getJobIdsForGroup(group):
        info = tracker.getJobInfo(job)
        for stage in info.stageIds if info else ():
            stage_info = tracker.getStageInfo(stage)
            if stage_info is not None:
                done += stage_info.numCompletedTasks
    return done
