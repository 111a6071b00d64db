"""Spark: each partition is sent by its executor (``mapPartitionsWithIndex``).

Only the per-partition reports come back (``collect`` of one small object per
task); a retried or speculative task rebuilds the same messageIds, so what it
resends is deduplicated. The job runs under its own job group, described without
any secret, and a progress bar follows the finished tasks while it runs.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

from .worker import PartitionReport, WorkerConfig, send_partition

POLL_SECONDS = 0.5


def _plain(value: Any) -> Any:
    """PySpark gives timestamps as naive datetimes in the worker's local time: make them
    aware, so they are sent as the instant they are."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.astimezone()
    return value


def _rows(partition: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for row in partition:
        yield {key: _plain(value) for key, value in row.asDict(recursive=True).items()}


def _task(config: WorkerConfig, index: int, partition: Iterator[Any]) -> Iterator[PartitionReport]:
    from pyspark import TaskContext

    context = TaskContext.get()
    attempt = context.attemptNumber() if context is not None else 0
    yield send_partition(config, index, _rows(partition), attempt)


def run_spark(
    frame: Any, config: WorkerConfig, *, max_rate: float | None, progress: bool
) -> tuple[list[PartitionReport], bool]:
    from dataclasses import replace

    from . import concurrency

    session = frame.sparkSession
    context = session.sparkContext
    parallel = concurrency(lambda: context.defaultParallelism)
    if max_rate:
        config = replace(config, rate=max_rate / parallel)
    rdd = frame.rdd.mapPartitionsWithIndex(partial(_task, config))
    parts = rdd.getNumPartitions()
    group = f"segment-magics-{config.run_id}-{uuid.uuid4().hex[:6]}"
    outcome: dict[str, Any] = {}

    def collect() -> None:
        context.setJobGroup(group, f"segment-magics backfill {config.run_id}", True)
        try:
            outcome["reports"] = rdd.collect()
        except BaseException as exc:  # shown in the notebook by the caller
            outcome["error"] = exc

    worker = threading.Thread(target=collect, name="segment-spark-job", daemon=True)
    bar = _bar(progress, parts)
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


def _bar(progress: bool, parts: int) -> Any:
    if not progress or parts < 2:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=parts, unit=" partitions", desc="segment backfill (spark)")
