"""What runs on a worker: one partition of a backfill, sent where the data lives.

Engine-agnostic: Spark and Dask hand :func:`send_partition` a partition (an
iterator of dicts, or a pandas DataFrame) and get back a small, picklable
:class:`PartitionReport`. The partition goes through the same packing, retries,
gzip, plan checks and id rules as ``send_many``; one transport per task, never one
per row. Undelivered messages are written, with their payloads, to a private file
under the run's failure directory (``failures_path``: shared storage on a real
cluster); the notebook keeps them in its outbox for ``%segment_retry``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...messages import ColumnMap
from ...messages.ids import RowIds
from ...messages.rows import is_dataframe
from ...plan import Plan, PlanValidator
from ...private_files import make_private
from ..bulk import BulkSender, row_builder
from ..identities import Identities
from ..keys import WriteKey
from ..outbox import Entry, State
from ..rate import RateBudget
from ..retry import RetryPolicy
from ..transport import Transport

PROBLEMS_PER_PARTITION = 200  # invalid / violating rows listed per partition
# The counts a partition reports; the notebook adds them up into one BulkResult.
COUNTS = ("rows_read", "accepted", "invalid", "failed", "rejected", "plan_violations",
          "missing_ids", "anonymized", "dated", "retried", "messages_sent")  # fmt: skip


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a task needs, pickled to the workers once per job.

    The write key is held privately and never shown: not in the repr, and not in
    Spark's UI or job descriptions (it travels inside the pickled task only).
    """

    base_url: str
    endpoint_key: str  # where undelivered messages are kept in the notebook's outbox
    kind: str
    run_id: str
    columns: dict[str, str] = field(default_factory=dict)
    body_columns: list[str] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    plan: Plan | None = None
    plan_mode: str = "warn"
    anonymous: bool = False
    anonymous_id: str | None = None
    key_column: str | None = None
    dry_run: bool = False
    gzip: bool = False
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate: float | None = None  # this task's share of --max-rate
    threads: int = 2  # requests in flight per task
    batch_messages: int | None = None
    spill_dir: str = ""
    _key: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"<WorkerConfig {self.kind} run {self.run_id} to {self.base_url}>"

    def write_key(self) -> WriteKey:
        return WriteKey(self._key, "the notebook")


@dataclass
class PartitionReport:
    """What one partition did: counts that add up to its rows, and what did not go out."""

    partition: int
    attempt: int = 0
    rows_read: int = 0
    accepted: int = 0
    invalid: int = 0
    failed: int = 0
    rejected: int = 0
    plan_violations: int = 0
    missing_ids: int = 0
    anonymized: int = 0
    dated: int = 0
    retried: int = 0
    messages_sent: int = 0
    original_status_code: int = 0
    elapsed: float = 0.0
    events: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[Any, str, str, str]] = field(default_factory=list)  # row, status, ...
    spill_file: str = ""  # its undelivered messages, one JSON object per line

    def to_json(self) -> bytes:
        import dataclasses

        import orjson

        return orjson.dumps(dataclasses.asdict(self), default=str)

    @classmethod
    def from_json(cls, data: bytes) -> PartitionReport:
        import orjson

        fields = orjson.loads(data)
        fields["problems"] = [tuple(p) for p in fields["problems"]]
        return cls(**fields)


class MemoryOutbox:
    """An outbox for one task: undelivered messages are held and handed back in the
    report (a worker's disk is not the notebook's)."""

    shown_path = "the notebook's outbox (after the run)"

    def __init__(self) -> None:
        self.kept: list[tuple[Entry, State, str, int | None]] = []

    def keep(
        self,
        entries: Iterable[Entry],
        endpoint: str,
        state: State,
        error: str = "",
        status: int | None = None,
        run_id: str | None = None,
    ) -> int:
        rows = list(entries)
        self.kept.extend((entry, state, error, status) for entry in rows)
        return len(rows)


def _arrow_arguments(batches: Iterable[Any], mapping: ColumnMap) -> Iterator[dict[str, Any]]:
    """Arrow record batches (Spark's mapInArrow) to call arguments, a batch's columns at
    a time through pandas: no per-row conversion between the JVM and Python."""
    for batch in batches:
        frame = batch.to_pandas()
        yield from mapping.frame_arguments(frame, 0, len(frame))


def send_partition(
    config: WorkerConfig,
    index: int,
    rows: Iterable[Mapping[str, Any]] | Any,
    attempt: int = 0,
    *,
    arrow: bool = False,
) -> PartitionReport:
    """Send one partition (dicts, a pandas DataFrame, or with ``arrow`` Arrow record
    batches); never raises for bad rows (they are reported), and writes down what
    could not be delivered."""
    started = time.monotonic()
    transport = Transport(
        config.base_url,
        config.write_key(),
        timeout=config.timeout,
        policy=config.retry,
        compress=config.gzip,
    )
    keeper = MemoryOutbox()
    sender = BulkSender(
        transport,
        keeper,  # type: ignore[arg-type]  # keep() is all a run without a ledger uses
        config.endpoint_key,
        workers=config.threads,
        dry_run=config.dry_run,
        progress=False,
    )
    plan = config.plan if config.plan_mode != "off" else None
    validator = PlanValidator(plan) if plan is not None else None
    sender.check = validator.check if validator is not None else None
    sender.block = config.plan_mode == "block"
    sender.limit_rate(RateBudget(config.rate) if config.rate else None)
    if config.batch_messages:
        sender.batch_messages = min(sender.batch_messages, config.batch_messages)
    mapping = ColumnMap(
        config.kind, dict(config.columns), config.body_columns, dict(config.defaults)
    ).checked_defaults([])
    scope = f"{config.run_id}/part-{index}"
    who = Identities(scope, anonymous=config.anonymous, fallback=config.anonymous_id)
    frame = is_dataframe(rows)
    if arrow:
        rows = _arrow_arguments(rows, mapping)
    keyed = (config.run_id, config.key_column) if config.key_column else None
    build = row_builder(mapping, RowIds(scope), who, mapped=frame or arrow, key=keyed)
    try:
        result = sender.run(rows, build, config.kind, None, mapping if frame else None)
    finally:
        transport.close()
        # written even when the partition's input failed part-way (the task is retried)
        spilled = _spill(config, index, attempt, keeper.kept) if keeper.kept else ""
    result.anonymized = who.generated
    report = PartitionReport(
        partition=index,
        attempt=attempt,
        **{name: getattr(result, name) for name in COUNTS},
        original_status_code=result.original_status_code,
        events=dict(result.events),
        problems=[
            (p.row, str(p.status), p.reason, p.message_id)
            for p in result.problems
            if p.status in ("invalid", "sent with violations")
        ][:PROBLEMS_PER_PARTITION],
        spill_file=spilled,
    )
    report.elapsed = time.monotonic() - started
    return report


def run_directory(spill_dir: str, run_id: str) -> Path:
    return Path(spill_dir or ".") / run_id


def _spill(
    config: WorkerConfig, index: int, attempt: int, kept: list[tuple[Entry, State, str, Any]]
) -> str:
    """Undelivered messages to a private JSONL file under the run's failure directory;
    the notebook imports every file of the run into its outbox (the same messageId
    twice, from a retried task, is kept once)."""
    import orjson

    directory = run_directory(config.spill_dir, config.run_id)
    path = directory / f"part-{index:05d}-attempt-{attempt}-{uuid.uuid4().hex[:8]}.jsonl"
    make_private(path)
    with path.open("wb") as out:
        for (mid, kind, label, row, payload), state, error, status in kept:
            record = {"messageId": mid, "type": kind, "label": label,
                      "row": f"partition {index}, row {row}", "payload": payload.decode(),
                      "state": state, "error": error, "status": status}  # fmt: skip
            out.write(orjson.dumps(record) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    return str(path)
