"""`make bench`: the fault table. Nothing lost, nothing sent twice under different ids.

Each scenario sends rows (each carrying its row number as ``properties.n``) to a
loopback server that misbehaves on purpose, with its own outbox file. Then it
counts, by messageId: rows read, acknowledged by the server, kept in the outbox,
never read (Ctrl-C), lost (read but neither acknowledged nor kept) and rows that
arrived under more than one messageId. The last two must be 0 in every row.

Ctrl-C is a real SIGINT sent to this process while it sends; kill -9 is SIGKILL
of a sending subprocess, after which a second process recovers (retry, then the
same backfill again with the same run id) and the counts are taken after it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fault_server import FaultServer, Step  # noqa: E402

from segment_magics import SegmentClient  # noqa: E402
from segment_magics.client import Outbox, RetryPolicy  # noqa: E402

ROWS = 20_000
FAST = RetryPolicy(max_retries=6, backoff_base=0.01, backoff_cap=0.05, total_budget=10)


def rows(n: int, poison_at: int | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"userId": f"u{i % 97}", "n": i, "total": i * 1.5} for i in range(n)
    ]
    if poison_at is not None:
        out[poison_at]["payload"] = 2**70
    return out


def sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class Scenario:
    """One row of the table: a server, an outbox, and a way to send."""

    def __init__(self, name: str, policy: Callable[[int], Step] | None = None) -> None:
        self.name = name
        self.server = FaultServer(policy)
        self.dir = Path(tempfile.mkdtemp(prefix="segment-faults-"))
        self.outbox_path = self.dir / "outbox.sqlite"
        self.read = 0
        self.expected: list[int] = []

    def client(self, url: str | None = None, **options: Any) -> SegmentClient:
        options.setdefault("retry", FAST)
        options.setdefault("timeout", 2)
        return SegmentClient(
            endpoint=url or self.server.url,
            write_key="bench",
            outbox=Outbox(self.outbox_path),
            outbox_key=self.server.url + "/v1",
            **options,
        )

    def row(self, total: int, rows_read: int, invalid: int = 0) -> dict[str, Any]:
        """Count by messageId and by input row."""
        outbox = Outbox(self.outbox_path)
        kept = outbox.pending()
        kept_rows = set()
        for pending in kept:
            body = json.loads(pending.payload)
            kept_rows.add((body.get("properties") or {}).get("n"))
        stored = {n for n, ids in self.server.rows.items() if ids}
        read_rows = set(range(rows_read))
        lost = read_rows - stored - kept_rows
        lost -= set(self.expected)  # rows that were invalid on purpose are not lost
        different = sum(1 for ids in self.server.rows.values() if len(ids) > 1)
        copies = len(self.server.stored) - len(set(self.server.stored))
        outbox.close()
        self.server.stop()
        return {
            "scenario": self.name,
            "rows": total,
            "read": rows_read,
            "acknowledged": len(stored),
            "in outbox": len(kept),
            "invalid": invalid,
            "never read": total - rows_read,
            "lost": len(lost),
            "copies under the same id": copies,
            "duplicates under different ids": different,
        }


# -- scenarios -------------------------------------------------------------------------
def server_down() -> dict[str, Any]:
    s = Scenario("server down")
    result = s.client(dead_url()).send_many(rows(ROWS), "track", event="E", progress=False)
    return s.row(ROWS, result.rows_read)


def storm() -> dict[str, Any]:
    rng = random.Random(1)

    def policy(n: int) -> Step:
        roll = rng.random()
        if roll < 0.3:
            return Step(503)
        if roll < 0.5:
            return Step(429, headers={"Retry-After": "0"})
        return Step()

    s = Scenario("503/429 storm (50 % of requests)", policy)
    result = s.client().send_many(rows(ROWS), "track", event="E", progress=False)
    return s.row(ROWS, result.rows_read)


def resets() -> dict[str, Any]:
    rng = random.Random(2)
    s = Scenario("connection resets (25 %)", lambda n: Step(drop=rng.random() < 0.25))
    result = s.client().send_many(rows(ROWS), "track", event="E", progress=False)
    return s.row(ROWS, result.rows_read)


def lost_acks() -> dict[str, Any]:
    rng = random.Random(3)

    def policy(n: int) -> Step:
        return Step(store=True, drop=True) if rng.random() < 0.25 else Step()

    s = Scenario("lost acknowledgements (25 %)", policy)
    result = s.client().send_many(rows(ROWS), "track", event="E", progress=False)
    return s.row(ROWS, result.rows_read)


def dripping() -> dict[str, Any]:
    s = Scenario("dripping server (1st request)")
    s.server.then(Step(drip=0.05))
    result = s.client(timeout=1).send_many(rows(ROWS), "track", event="E", progress=False)
    return s.row(ROWS, result.rows_read)


def ctrl_c_reading() -> dict[str, Any]:
    s = Scenario("Ctrl-C while reading rows")

    def source() -> Iterator[dict[str, Any]]:
        for i, row in enumerate(rows(ROWS)):
            if i == ROWS // 2:
                sigint()
            yield row

    result = s.client().send_many(source(), "track", event="E", progress=False)
    return s.row(ROWS, result.rows_read)


def ctrl_c_in_flight() -> dict[str, Any]:
    s = Scenario("Ctrl-C with requests in flight")
    s.server.then(Step(), Step(hook=sigint, delay=3), Step(delay=3))
    result = s.client().send_many(rows(ROWS), "track", event="E", progress=False)
    return s.row(ROWS, result.rows_read)


def ctrl_c_between_retries() -> dict[str, Any]:
    s = Scenario("Ctrl-C between retries")
    s.server.then(Step(503, headers={"Retry-After": "5"}, hook=sigint))
    policy = RetryPolicy(max_retries=3, max_retry_after=10, total_budget=20)
    result = s.client(retry=policy).send_many(
        rows(ROWS), "track", event="E", progress=False, workers=1
    )
    return s.row(ROWS, result.rows_read)


SENDER = """
import sys
from segment_magics import SegmentClient
from segment_magics.client import Outbox
url, outbox, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rows = [{"userId": f"u{i % 97}", "n": i, "total": i * 1.5} for i in range(n)]
client = SegmentClient(endpoint=url, write_key="bench", outbox=Outbox(outbox), timeout=5)
if mode == "recover":
    client.retry_outbox()
client.send_many(rows, "track", event="E", run_id="fault-run", progress=False)
"""


def kill_9(moment: float) -> dict[str, Any]:
    s = Scenario(f"kill -9 at {moment:.0%}, then recovery")
    script = s.dir / "sender.py"
    script.write_text(SENDER)
    args = [sys.executable, str(script), s.server.url, str(s.outbox_path), str(ROWS)]
    sender = subprocess.Popen([*args, "send"])
    deadline = time.monotonic() + 60
    while len(s.server.stored) < ROWS * moment and sender.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.002)
    finished = sender.poll() is not None
    sender.send_signal(signal.SIGKILL)
    sender.wait()
    at_kill = len(set(s.server.stored))
    s.name += " (sender had finished: no kill)" if finished else f" ({at_kill:,} acked at the kill)"
    subprocess.run([*args, "recover"], check=True, timeout=300)
    return s.row(ROWS, ROWS)


RETRIER = """
import sys
from segment_magics import SegmentClient
from segment_magics.client import Outbox
SegmentClient(endpoint=sys.argv[1], write_key="bench", outbox=Outbox(sys.argv[2])).retry_outbox()
"""


def concurrent_retries() -> dict[str, Any]:
    s = Scenario("two kernels retrying the same outbox")
    s.client(dead_url()).send_many(rows(ROWS), "track", event="E", progress=False)
    script = s.dir / "retrier.py"
    script.write_text(RETRIER)
    procs = [
        subprocess.Popen([sys.executable, str(script), s.server.url, str(s.outbox_path)])
        for _ in range(2)
    ]
    for proc in procs:
        proc.wait(timeout=300)
    return s.row(ROWS, ROWS)


def poison_row() -> dict[str, Any]:
    s = Scenario("a poison row (2**70) at row 15,000")
    s.expected = [15_000]
    result = s.client().send_many(rows(ROWS, poison_at=15_000), "track", event="E", progress=False)
    return s.row(ROWS, result.rows_read, result.invalid)


def a_4xx() -> dict[str, Any]:
    s = Scenario("a 400 for one batch (kept as rejected)")
    s.server.then(Step(), Step(400, body=b'{"success": false, "message": "bad", "code": "x"}'))
    result = s.client().send_many(rows(ROWS), "track", event="E", progress=False, workers=1)
    return s.row(ROWS, result.rows_read)


SCENARIOS: list[Callable[[], dict[str, Any]]] = [
    server_down,
    storm,
    resets,
    lost_acks,
    dripping,
    ctrl_c_reading,
    ctrl_c_in_flight,
    ctrl_c_between_retries,
    lambda: kill_9(0.05),
    lambda: kill_9(0.5),
    lambda: kill_9(0.9),
    concurrent_retries,
    poison_row,
    a_4xx,
]
COLUMNS = ("scenario", "rows", "read", "acknowledged", "in outbox", "invalid", "never read",
           "lost", "copies under the same id", "duplicates under different ids")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    table = []
    print("| " + " | ".join(COLUMNS) + " |")
    print("| --- |" + " ---: |" * (len(COLUMNS) - 1))
    for scenario in SCENARIOS:
        row = scenario()
        table.append(row)
        print("| " + " | ".join(f"{row[c]:,}" if isinstance(row[c], int) else row[c]
                                 for c in COLUMNS) + " |", flush=True)  # fmt: skip
    bad = [r["scenario"] for r in table if r["lost"] or r["duplicates under different ids"]]
    print(
        f"\nlost and duplicates under different ids are 0 in every row: {'yes' if not bad else 'NO'}"
    )
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
