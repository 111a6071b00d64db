"""Audits of Spark and Dask DataFrames, checked where they live.

Each partition's messages go through the row checker on its worker (nested columns,
or the payload as JSON text in a column: Spark's JSON reader gives a field one type for
all messages, so keep payloads as text to audit their types exactly); only a
:class:`~segment_magics.plan.audit_report.Tally` per partition (counts, groups, five
examples each) comes back, and the tallies merge into one report. Registered with
``segment_magics.plan.audit`` when the client package is imported; nothing here imports
Spark or Dask until a DataFrame of theirs arrives.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ...plan import Plan
from ...plan.audit import Window, register_engine
from ...plan.audit_report import AuditReport, Tally
from ...plan.tables import message_rows, without_nulls
from ...plan.validate import PlanValidator


def tally_partition(plan: Plan, window: Window, rows: Iterable[Any]) -> Tally:
    """One partition's messages (dicts, or a pandas DataFrame) through the row checker."""
    validator = PlanValidator(plan)
    tally = Tally()
    for position, message in enumerate(message_rows(rows)):
        if not isinstance(message, dict):
            tally.bad_line("partition", position + 1, "not a message object")
        elif window.takes(message):
            tally.observe(message, validator.check(message))
    return tally


def _spark_partition(plan: Plan, window: Window, rows: Iterator[Any]) -> Iterator[bytes]:
    # a struct column holds every field any message had, null where this one had none
    messages = [without_nulls(row.asDict(recursive=True)) for row in rows]
    yield pickle.dumps(tally_partition(plan, window, messages))


def audit_spark(plan: Plan, frame: Any, *, window: Window) -> AuditReport:
    from ...errors import ValidationError
    from .spark import executor_problem

    problem = executor_problem(frame)  # before any task: say what to do, not a traceback
    if problem is not None:
        raise ValidationError("executors", problem)
    started = time.monotonic()
    parts = frame.rdd.mapPartitions(lambda rows: _spark_partition(plan, window, rows)).collect()
    tally = Tally()
    for part in parts:
        tally.merge(pickle.loads(part))  # noqa: S301 - what our own tasks sent back
    engine = f"Spark, {len(parts)} partitions, row by row on the executors"
    report = AuditReport(plan.name, "a Spark DataFrame", tally, engine=engine)
    report.elapsed = time.monotonic() - started
    return report


def audit_dask(plan: Plan, frame: Any, *, window: Window) -> AuditReport:
    import dask

    started = time.monotonic()
    parts = [dask.delayed(tally_partition)(plan, window, part) for part in frame.to_delayed()]
    tally = Tally()
    for part in dask.compute(*parts):
        tally.merge(part)
    engine = f"Dask, {len(parts)} partitions, row by row on the workers"
    report = AuditReport(plan.name, "a Dask DataFrame", tally, engine=engine)
    report.elapsed = time.monotonic() - started
    return report


register_engine("pyspark.sql", audit_spark)
register_engine("dask.dataframe", audit_dask)
register_engine("dask_expr", audit_dask)
