"""What runs on a worker: one partition of a backfill, sent where the data lives.

Engine-agnostic: Spark and Dask hand :func:`send_partition` a partition (an
iterator of dicts, or a pandas DataFrame) and get back a small, picklable
:class:`PartitionReport`. The partition goes through the same packing, retries,
gzip, plan checks and id rules as ``send_many``; one transport per task, never one
per row. Undelivered messages are written, with their payloads, to a private file
under the run's failure directory (``failures_path``: shared storage on a real
cluster); the notebook keeps them in its outbox, where a retry resends them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...messages.frames import ChunkStream
from ...plan import Plan, PlanValidator
from ...private_files import make_private
from ..builders import make_builder
from ..bulk import BulkSender
from ..bulk_options import BulkOptions
from ..keys import WriteKey
from ..outbox_contract import Entry, Pending, State
from ..rate import RateBudget
from ..transport import Transport, TransportSettings

# The counts a partition reports; the notebook adds them up into one BulkResult.
COUNTS = ("rows_read", "accepted", "invalid", "failed", "rejected", "plan_violations",
          "missing_ids", "anonymized", "dated", "retried", "messages_sent")  # fmt: skip


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a task needs, pickled to the workers once per job: the run's
    :class:`BulkOptions` and the transport settings, the plan, and this task's share
    of the rate.

    The write key is held privately and never shown: not in the repr, and not in
    Spark's UI or job descriptions (it travels inside the pickled task only).
    """

    options: BulkOptions
    transport: TransportSettings
    endpoint_key: str  # where undelivered messages are kept in the notebook's outbox
    plan: Plan | None = None
    plan_mode: str = "warn"
    rate: float | None = None  # this task's share of max_rate
    threads: int = 2  # requests in flight per task
    batch_messages: int | None = None
    spill_dir: str = ""
    _key: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"<WorkerConfig {self.kind} run {self.run_id} to {self.transport.base_url}>"

    @property
    def kind(self) -> str:
        return self.options.what

    @property
    def run_id(self) -> str:
        return self.options.run_id or ""

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
    naive: dict[str, int] = field(default_factory=dict)  # how naive datetimes were read
    problems: int = 0  # its problem rows, each in problems_file
    problems_file: str = ""  # one JSON object per problem row (client/problems.py)
    spill_file: str = ""  # its undelivered messages, one JSON object per line

    def to_json(self) -> bytes:
        import dataclasses

        import orjson

        return orjson.dumps(dataclasses.asdict(self), default=str)

    @classmethod
    def from_json(cls, data: bytes) -> PartitionReport:
        import orjson

        return cls(**orjson.loads(data))


class TaskOutbox:
    """A task's outbox, in memory: undelivered messages are held here and written to the
    run's failure directory when the task ends (a worker's disk is not the notebook's).
    A task keeps no ledger: a rerun resends the partition under the same messageIds."""

    shown_path = "the notebook's outbox (after the run)"

    def __init__(self) -> None:
        self.messages: dict[str, tuple[Entry, State, str, int | None]] = {}

    @property
    def kept(self) -> list[tuple[Entry, State, str, int | None]]:
        return list(self.messages.values())

    def keep(
        self,
        entries: Iterable[Entry],
        endpoint: str,
        state: State,
        error: str = "",
        status: int | None = None,
        run_id: str | None = None,
    ) -> int:
        count = 0
        for entry in entries:
            self.messages[entry.message_id] = (entry, state, error, status)
            count += 1
        return count

    def settle(
        self,
        endpoint: str,
        message_ids: Iterable[str],
        state: State | None,
        error: str = "",
        status: int | None = None,
    ) -> None:
        for message_id in message_ids:
            held = self.messages.get(message_id)
            if held is None:
                continue
            if state is None:
                del self.messages[message_id]
            else:
                self.messages[message_id] = (held[0], state, error, status)

    def claim(self, endpoint: str, *, rejected: bool = False) -> list[Pending]:
        return []  # a task never resends: the notebook's outbox does

    def release(self, endpoint: str) -> int:
        return 0

    def range_ahead(
        self,
        run_id: str,
        seq: int,
        first_row: int,
        stop_row: int,
        dated_at: str | None,
        settled: Sequence[int] = (),
    ) -> None:
        return None

    def range_settled(
        self,
        run_id: str,
        seq: int,
        kept: Sequence[Entry] = (),
        endpoint: str = "",
        state: State = "pending",
        error: str = "",
        status: int | None = None,
    ) -> None:
        self.keep(kept, endpoint, state, error, status)

    def pause_run(self, run_id: str, rows_read: int, settled: Sequence[int] = ()) -> None:
        return None

    def finish_run(self, run_id: str, rows_read: int) -> None:
        return None


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
    options = config.options
    transport = Transport(config.transport, config.write_key())
    keeper = TaskOutbox()
    problems = run_directory(config.spill_dir, config.run_id) / (
        f"problems-part-{index:05d}-attempt-{attempt}-{uuid.uuid4().hex[:8]}.jsonl"
    )
    plan = config.plan if config.plan_mode != "off" else None
    validator = PlanValidator(plan) if plan is not None else None
    sender = BulkSender(
        transport,
        keeper,
        config.endpoint_key,
        workers=config.threads,
        dry_run=options.dry_run,
        progress=False,
        check=validator.check if validator is not None else None,
        block=config.plan_mode == "block",
        rate=RateBudget(config.rate) if config.rate else None,
        batch_messages=config.batch_messages,
        problems_path=str(problems),
    )
    mapping = options.column_map()
    assert mapping is not None  # a distributed run always names its call
    if arrow:  # Spark's Arrow batches, read column by column like any table
        rows = ChunkStream(rows)
    build, who = make_builder(options, f"{config.run_id}/part-{index}", mapping)
    try:
        result = sender.run(rows, build, config.kind, None, mapping)
    finally:
        transport.close()
        # written even when the partition's input failed part-way (the task is retried)
        spilled = _spill(config, index, attempt, keeper.kept) if keeper.messages else ""
    result.anonymized = who.generated
    if not len(result.problems):
        problems.unlink(missing_ok=True)
    report = PartitionReport(
        partition=index,
        attempt=attempt,
        **{name: getattr(result, name) for name in COUNTS},
        original_status_code=result.original_status_code,
        events=dict(result.events),
        naive=dict(result.naive),
        problems=len(result.problems),
        problems_file=str(problems) if len(result.problems) else "",
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
        for entry, state, error, status in kept:
            record = {"messageId": entry.message_id, "type": entry.type, "label": entry.label,
                      "row": f"partition {index}, row {entry.row}",
                      "payload": entry.payload.decode(), "state": state, "error": error,
                      "status": status}  # fmt: skip
            out.write(orjson.dumps(record) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    return str(path)
