"""A big run's problems, grouped by reason; the same counts everywhere; bounded memory."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from conftest import fast_client, run
from fault_server import Step

from segment_magics import SegmentClient
from segment_magics.plan import parse_compact

PLAN = parse_compact("Order Completed\n  order_id: string!\n  total: number\n  pad: string\n")
BIG = "x" * 19_000  # 24 such rows fill one 475 KB batch


def mixed_rows() -> list[dict]:
    """60 rows: 3 invalid (an integer beyond 64 bits), the rest valid for the wire; every
    fifth of those breaks the plan (total is a string)."""
    rows = []
    for i in range(63):
        row = {"userId": f"u{i}", "order_id": f"o{i}", "total": 1.0, "pad": BIG}
        if i in (3, 30, 50):
            row["total"] = 2**70
        elif i % 5 == 0:
            row["total"] = "a lot"
        rows.append(row)
    return rows


def test_four_kinds_of_problems_give_the_same_numbers_in_five_places(faults, outbox_path):
    # three batches of 20 sendable rows each: the first delivered, the second rejected,
    # the third left in the outbox by an outage
    faults.then(Step(200), Step(400, body=b'{"message": "bad batch"}'), *[Step(503)] * 10)
    client = fast_client(faults.url, max_retries=1, plan=PLAN)
    result = client.send_many(mixed_rows(), "track", event="Order Completed", workers=1,
                              progress=False)  # fmt: skip
    counts = {"accepted": result.accepted, "rejected": result.rejected,
              "failed": result.failed, "invalid": result.invalid}  # fmt: skip
    assert sum(counts.values()) == result.rows_read == 63
    assert counts["invalid"] == 3 and all(counts.values())
    # 1. the summary table says these numbers
    text = str(result)
    for label, count in (("Acknowledged", result.accepted), ("Rejected (kept)", result.rejected),
                         ("In the outbox (failed)", result.failed),
                         ("Invalid (not sent)", result.invalid)):  # fmt: skip
        assert re.search(rf"{re.escape(label)}\s+{count:,}", text), (label, text)
    assert f"{result.plan_violations} rows with violations" in text
    # 2. the groups add up to them
    by_status: dict[str, int] = {}
    for group in result.problems.groups:
        by_status[group.status] = by_status.get(group.status, 0) + group.count
    sent_with = by_status.get("sent with violations", 0)
    assert by_status["invalid"] == result.invalid and by_status["failed"] == result.failed
    assert by_status["rejected"] == result.rejected
    # 3. result.problems holds every problem row
    assert len(result.problems) == result.invalid + result.failed + result.rejected + sent_with
    assert result.problems.by_status == by_status
    # 4. to_pandas has one row per row read, with the same statuses and violations
    frame = result.to_pandas()
    assert len(frame) == 63
    assert frame.status.value_counts().to_dict() == {
        k: v for k, v in {"accepted": result.accepted - sent_with, **by_status}.items() if v
    }
    breaking = sum(1 for r in mixed_rows() if r["total"] == "a lot")
    assert (frame.violations != "").sum() == result.plan_violations == breaking
    # 5. the history says the same
    (row,) = client.history.select().records()
    assert row["plan"] == f"{result.plan_violations} rows with violations"
    assert f"{result.failed} messages not delivered" in row["ErrorMessage"]
    # and the groups come not-sent first, the 2**70 rows leading
    statuses = [g.status for g in result.problems.groups]
    assert statuses.index("invalid") == 0 and statuses[-1] == "sent with violations"
    assert "64 bits" in result.problems.groups[0].example
    assert result.problems.groups[0].rows == [3, 30, 50]


def test_rows_with_the_same_problem_group_together_whatever_their_values(collector):
    rows = [{"userId": "u", "order_id": 5 + i, "total": 1} for i in range(30)]
    rows += [{"userId": "u", "order_id": "o", "total": 2**70 + i} for i in range(4)]
    client = SegmentClient(endpoint=collector.url, plan=PLAN)
    result = client.send_many(rows, "track", event="Order Completed", progress=False)
    groups = result.problems.groups
    assert [(g.status, g.count) for g in groups] == [("invalid", 4), ("sent with violations", 30)]
    assert groups[1].rows == [0, 1, 2, 3, 4] and "properties.order_id" in groups[1].example
    table = result.tables()[1]
    assert table.rows[1][3] == "0, 1, 2, 3, 4 +25 more"


def test_every_problem_row_can_go_to_a_file_that_opens_as_a_dataframe(collector, tmp_path):
    path = tmp_path / "problems.jsonl"
    rows = [{"userId": "u", "event": "E"}, {"userId": "u"}] * 3000
    result = SegmentClient(endpoint=collector.url).send_many(
        rows, "track", progress=False, problems_path=str(path)
    )
    frame = pd.read_json(path, lines=True)
    assert len(frame) == result.invalid == 3000 and set(frame.status) == {"invalid"}
    assert list(frame.row[:3]) == [1, 3, 5] and (path.stat().st_mode & 0o777) == 0o600
    assert f"every one in {path}" in str(result)


def test_the_magic_takes_a_problems_path(ip, collector, tmp_path):
    ip.user_ns["rows"] = [{"userId": "u"}] * 3
    path = tmp_path / "p.jsonl"
    out = run(ip, f'%segment_track --from rows --no-progress --problems-path "{path}"')
    assert out.error is not None and len(path.read_text().splitlines()) == 3


def test_a_refused_run_shows_why_in_its_table_not_only_in_the_magics_error(collector):
    """A Python user who displays the result of a run refused up front sees the reason,
    the fix and the rows given; not a page of zero counts."""
    from segment_magics import SegmentClient

    client = SegmentClient(endpoint=collector.url, write_key="k")
    result = client.send_many([{"n": i} for i in range(5)], "track", event="E", progress=False)
    text, html = str(result), result._repr_html_()
    assert result.refused and result.status_code == -1 and collector.count() == 0
    assert "refused: nothing was sent" in text and "E (5 rows)" in text
    assert "ErrorMessage" in text and "no row has a userId or anonymousId" in text
    assert "anonymous=True" in text and "no row has a userId" in html
    assert "Acknowledged" not in text and "Events/s" not in text
    sent = client.send_many([{"userId": "u", "n": 1}], "track", event="E", progress=False)
    assert not sent.refused and "ErrorMessage" not in str(sent) and "Acknowledged" in str(sent)


def test_a_problems_path_that_cannot_be_written_refuses_the_run_before_sending(collector,
                                                                            tmp_path):  # fmt: skip
    from segment_magics import SegmentClient

    client = SegmentClient(endpoint=collector.url, write_key="k")
    (tmp_path / "a file").write_text("not a folder")
    for path, words in (
        (tmp_path, "is a folder"),
        (tmp_path / "a file" / "p.jsonl", "cannot write"),
    ):
        result = client.send_many([{"userId": "u"}, {"n": 1}], "track", event="E",
                                  progress=False, problems_path=str(path))  # fmt: skip
        assert result.refused and words in result.error_message, result.error_message
        assert result.error_message.startswith("problems_path: ")
    assert collector.count() == 0


FULL_DISK = """
import resource, signal, sys
from segment_magics import SegmentClient
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
url, path, outbox = sys.argv[1:4]
client = SegmentClient(endpoint=url, write_key="k", outbox=outbox)
client.track("Warm", user_id="u")
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
rows = [{"n": i} if i % 2 else {"userId": f"u{i}", "n": i} for i in range(20_000)]
result = client.send_many(rows, "track", event="E", progress=False, problems_path=path)
frame = result.to_pandas()
print(result.accepted, result.invalid, len(result.problems), (frame.status == "invalid").sum(),
      len(set(p.position for p in result.problems)))
print(str(result))
"""


def test_a_problems_file_that_fills_up_never_stops_the_run(collector, tmp_path):
    """A full disk (here: a file size limit, a real EFBIG) half-way through a run: every
    row is still sent or counted, the problem rows left go to memory, and it says so."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, collector.url, str(tmp_path / "p.jsonl"),
         str(tmp_path / "outbox.sqlite")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    counts, *text = done.stdout.splitlines()
    assert counts == "10000 10000 10000 10000 10000"  # every problem row, once
    assert collector.count() == 10_001 and "Traceback" not in done.stderr
    assert any("problem rows stopped going to a file" in line and "File too large" in line
               for line in text)  # fmt: skip


def test_in_an_outage_the_bar_shows_no_delivered_events(dead_url, capsys):
    client = fast_client(dead_url, max_retries=0)
    result = client.send_many([{"event": "E", "userId": f"u{i}"} for i in range(3000)], "track")
    bar = capsys.readouterr().err
    assert result.events_per_second == 0 and result.failed == 3000
    rates = re.findall(r"([\d.?]+k?) events/s", bar)
    assert rates and all(rate in ("?", "0.00", "0") for rate in rates), bar
    assert "kept 3,000" in bar


MEMORY_BOUND_MB = 120


def test_a_million_problem_rows_keep_memory_bounded():
    """Every row of a million breaks the plan; memory stays within the bound, the counts
    are exact and every row can still be read back."""
    script = textwrap.dedent(
        """
        import json, resource
        from segment_magics import SegmentClient
        from segment_magics.plan import parse_compact

        def peak():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        plan = parse_compact("E\\n  order_id: string!\\n")
        client = SegmentClient(endpoint="http://127.0.0.1:9", write_key="k", plan=plan)
        rows = ({"type": "track", "event": "E", "userId": "u", "properties": {"n": i}}
                for i in range(1_000_000))
        client.send_many([{"type": "track", "event": "E", "userId": "u"}], dry_run=True,
                         progress=False)
        before = peak()
        result = client.send_many(rows, dry_run=True, progress=False)
        grown = peak() - before
        print(json.dumps({"grown": grown, "problems": len(result.problems),
                          "groups": [g.count for g in result.problems.groups],
                          "violations": result.plan_violations,
                          "last": result.problems[-1].row}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["problems"] == figures["violations"] == 1_000_000
    assert figures["groups"] == [1_000_000] and figures["last"] == 999_999
    assert figures["grown"] < MEMORY_BOUND_MB, figures


@pytest.mark.parametrize("kind", ["dask"])
def test_a_distributed_run_gathers_every_problem_row(kind, collector):
    import dask.dataframe as dd

    frame = pd.DataFrame({"userId": ["" if i % 10 == 0 else "u" for i in range(40)],
                          "order_id": [str(i) for i in range(40)]})  # fmt: skip
    client = SegmentClient(endpoint=collector.url)
    result = client.send_many(dd.from_pandas(frame, npartitions=4), "track", event="E",
                              progress=False)  # fmt: skip
    assert result.invalid == len(result.problems) == 4
    assert sorted(p.row for p in result.problems) == [
        f"partition {p}, row {p * 10}"
        for p in range(4)  # the frame's own index
    ]
