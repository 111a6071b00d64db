"""Rows packed a batch at a time arrive exactly as rows packed one at a time.

Without a plan, the rows a backfill's fast path wrote are packed as spans, a batch
at a time; with a plan, each message is read and packed on its own. The same input
must give the same requests (the same messages, split into the same batches), the
same summary and the same problems, whatever rows the fast path leaves to the
careful one, and wherever they fall against the batch boundaries.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import polars as pl
import pytest
from conftest import fast_client
from fault_server import FaultServer

from segment_magics.plan import parse_compact

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
# every row conforms: the checked run reads each message and finds nothing to say
PLAN = """\
Order Completed
  n: integer!
  blob: string!
  total: number|null
Order Refunded
  n: integer!
  blob: string!
  total: number|null
"""


def rows(count: int) -> list[dict[str, Any]]:
    """Orders of uneven sizes (batch boundaries fall anywhere), two event names, some
    rows without a timestamp, and rows the fast path leaves alone: a blank userId,
    an infinite total (sent as null, with a warning), a message over 32 KB."""
    out = []
    for i in range(count):
        row: dict[str, Any] = {
            "userId": f"u{i % 40}",
            "event": "Order Refunded" if i % 11 == 0 else "Order Completed",
            "n": i,
            "blob": "x" * (2_000 + (i * 7_919) % 9_000),
            "total": float(i),
            "timestamp": START + dt.timedelta(seconds=i) if i % 5 else None,
        }
        if i % 97 == 3:
            row["userId"] = " "  # invalid: a blank id
        if i % 89 == 5:
            row["total"] = math.inf  # careful: null, with a warning
        if i % 211 == 7:
            row["blob"] = "y" * 40_000  # invalid: over 32 KB
        out.append(row)
    out[0]["userId"] = " "
    out[-1]["userId"] = " "
    return out


def as_segment_dict(row: dict[str, Any]) -> dict[str, Any]:
    message = {"type": "track", "event": row["event"], "userId": row["userId"],
               "properties": {k: row[k] for k in ("n", "blob", "total")}}  # fmt: skip
    if row["timestamp"] is not None:
        message["timestamp"] = row["timestamp"]
    return message


def source(kind: str, data: list[dict[str, Any]]) -> Any:
    if kind == "list":
        return [as_segment_dict(r) for r in data]
    frame = pd.DataFrame(data)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame.index = [f"row-{i}" for i in range(len(frame))]
    return frame if kind == "pandas" else pl.from_pandas(frame)


def sent(server: FaultServer) -> list[list[dict[str, Any]]]:
    """Each request's messages in the order of the rows (several may be in flight at
    once), without what differs by design (when dated rows were dated, and sentAt)."""
    batches = []
    for request in server.received:
        batch = []
        for message in request.body["batch"]:
            message = dict(message)
            if message["properties"]["n"] % 5 == 0:  # dated when read
                assert message.pop("timestamp") > "2025"
            batch.append(message)
        batches.append(batch)
    return sorted(batches, key=lambda batch: batch[0]["properties"]["n"])


def summary(result: Any) -> dict[str, Any]:
    return {
        "counts": (result.rows_read, result.accepted, result.invalid, result.failed,
                   result.dated, result.unsent),
        "events": dict(result.events),
        "naive": dict(result.naive),
        "problems": [(p.row, p.status, p.reason) for p in result.problems],
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["list", "pandas", "polars"])
def test_packed_a_batch_at_a_time_or_one_by_one_the_wire_and_the_summary_agree(
    kind: str, tmp_path: Path
) -> None:
    data = rows(1_500)
    runs = {}
    for mode in ("spans", "checked"):
        plan = parse_compact(PLAN) if mode == "checked" else None
        server = FaultServer()
        try:
            client = fast_client(server.url, plan=plan, outbox=tmp_path / f"{mode}.db")
            options = {} if kind == "list" else {"kind": "track"}
            result = client.send_many(source(kind, data), run_id="same-run", progress=False,
                                      **options)  # fmt: skip
            client.close()
        finally:
            server.stop()
        runs[mode] = (sent(server), summary(result), result)
    (spans, spans_summary, plain), (checked, checked_summary, read) = runs.values()
    assert plain.plan_checked is False and read.plan_checked and read.plan_violations == 0
    assert len(spans) >= 10  # many batch boundaries, falling between and across bad rows
    assert [len(b) for b in spans] == [len(b) for b in checked]
    assert spans == checked
    assert spans_summary == checked_summary
    invalid = {i for i in range(1_500) if i in (0, 1_499) or i % 97 == 3 or i % 211 == 7}
    assert plain.invalid == len(invalid) and plain.accepted == 1_500 - len(invalid)
    on_the_wire = [m["properties"]["n"] for batch in spans for m in batch]
    assert on_the_wire == [i for i in range(1_500) if i not in invalid]  # in order, once each
    ids = [m["messageId"] for batch in spans for m in batch]
    assert len(set(ids)) == len(ids)
    assert plain.dated == sum(1 for i in range(1_500) if i % 5 == 0 and i not in invalid)
    assert plain.events == {
        "Order Refunded": sum(1 for i in range(1_500) if i % 11 == 0 and i not in invalid),
        "Order Completed": sum(1 for i in range(1_500) if i % 11 and i not in invalid),
    }
    infinite = [m for batch in spans for m in batch if m["properties"]["n"] % 89 == 5]
    assert infinite and all(m["properties"]["total"] is None for m in infinite)
    labels = [p.row for p in plain.problems if p.status == "invalid"]
    expected = sorted(invalid) if kind != "pandas" else [f"row-{i}" for i in sorted(invalid)]
    assert labels == expected
    assert orjson.loads(orjson.dumps(spans[0][0]))["context"]["library"]["name"]


def test_rows_read_before_the_input_fails_are_sent_or_kept(tmp_path: Path) -> None:
    """Rows are read a group at a time: those read before a generator raises, part-way
    through a group, still go out or wait in the outbox; none is dropped."""
    from segment_magics.client import Outbox

    def messages() -> Any:
        for i in range(2_345):
            yield {"type": "track", "event": "E", "userId": "u", "messageId": f"m{i}"}
        raise KeyboardInterrupt

    server = FaultServer()
    try:
        result = fast_client(server.url, outbox=tmp_path / "outbox.db").send_many(
            messages(), progress=False
        )
    finally:
        server.stop()
    assert result.interrupted and result.rows_read == 2_345
    kept = {p.message_id for p in Outbox(tmp_path / "outbox.db").pending()}
    assert set(server.stored) | kept == {f"m{i}" for i in range(2_345)}
    assert not set(server.stored) & kept
    assert result.accepted == len(server.stored) and result.failed == len(kept)
