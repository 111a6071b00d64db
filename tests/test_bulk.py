"""send_many and --from: mapping, validation, batching, and nothing lost under faults."""

from __future__ import annotations

import collections
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Step, fast_client, run, stored_message

from segment_magics import SegmentClient
from segment_magics.client import Outbox, pace


def orders(n: int, start: int = 0) -> list[dict]:
    return [
        {"userId": f"u{i % 50}", "order_id": f"o{i}", "total": float(i), "currency": "USD",
         "products": [{"product_id": "p1", "price": 9.5, "quantity": 1}], "messageId": f"order-{i}"}
        for i in range(start, start + n)
    ]  # fmt: skip


def counts(result) -> tuple[int, int, int, int]:
    return result.rows_read, result.accepted, result.invalid, result.failed


def test_dataframe_columns_map_to_the_call_and_nan_is_omitted(collector):
    frame = pd.DataFrame(
        {
            "customer": ["c1", "c2", "c3"],
            "total": [10.0, np.nan, 30.0],
            "coupon": ["A", None, "C"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", None], utc=True),
            "messageId": ["m1", "m2", "m3"],
            "internal": [1, 2, 3],
        },
        index=["a", "b", "c"],
    )
    client = SegmentClient(endpoint=collector.url)
    result = client.send_many(
        frame, "track", event="Order Completed", columns={"user_id": "customer"},
        body_columns=["total", "coupon"], progress=False,
    )  # fmt: skip
    assert result.ok and counts(result) == (3, 3, 0, 0)
    events = {e["messageId"]: e for e in collector.events()}
    assert events["m1"]["userId"] == "c1" and events["m1"]["event"] == "Order Completed"
    assert events["m1"]["properties"] == {"total": 10.0, "coupon": "A"}
    assert events["m1"]["timestamp"] == "2024-01-01T00:00:00.000Z"
    assert events["m2"]["properties"] == {}  # NaN and None cells are omitted, not null
    assert events["m3"]["timestamp"] > "2025"  # NaT too: dated when read
    assert result.dated == 1 and "1 row had no timestamp: dated now" in str(result)
    assert [o["row"] for o in result.outcomes()] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("kind", "row", "expect"),
    [
        ("identify", {"user_id": "u1", "email": "a@b.c", "plan": "pro"},
         {"userId": "u1", "traits": {"email": "a@b.c", "plan": "pro"}}),
        ("page", {"userId": "u1", "name": "Pricing", "category": "Docs", "path": "/p"},
         {"name": "Pricing", "category": "Docs", "properties": {"path": "/p"}}),
        ("group", {"userId": "u1", "groupId": "acme", "employees": 5},
         {"groupId": "acme", "traits": {"employees": 5}}),
        ("track", {"userId": "u1", "event": "From Column", "x": 1}, {"event": "From Column", "properties": {"x": 1}}),
    ],
)  # fmt: skip
def test_each_kind_reads_its_columns(collector, kind, row, expect):
    result = SegmentClient(endpoint=collector.url).send_many([row], kind, progress=False)
    assert result.ok, result.problems
    (event,) = collector.events()
    for key, value in expect.items():
        assert event[key] == value


def test_invalid_rows_are_reported_with_index_and_the_rest_go_out(collector):
    rows = [
        {"userId": "u", "event": "Ok"},
        {"userId": "u"},
        {"userId": "u", "event": "Ok", "timestamp": "soon"},
    ]
    result = SegmentClient(endpoint=collector.url).send_many(rows, "track", progress=False)
    assert counts(result) == (3, 1, 2, 0) and not result.ok and result.status_code == -1
    assert [(p.row, p.status) for p in result.problems] == [(1, "invalid"), (2, "invalid")]
    assert "event" in result.problems[0].reason and "timestamp" in result.problems[1].reason
    assert collector.count() == 1
    (problems,) = [t for t in result.tables() if t.title.startswith("Problems")]
    assert sorted((r[0].value, r[1], r[3]) for r in problems.rows) == [
        ("invalid", "1", "1"),
        ("invalid", "1", "2"),
    ]
    assert "invalid" in result._repr_html_()


def test_segment_dicts_from_a_generator_are_read_lazily(collector):
    read = []

    def messages():
        for i in range(6000):
            read.append(i)
            yield {"type": "track", "event": "Lazy", "userId": f"u{i}"}

    result = SegmentClient(endpoint=collector.url).send_many(messages(), progress=False, workers=2)
    assert result.ok and result.accepted == 6000 and collector.count() == 6000


def test_batches_respect_count_and_size_limits(faults):
    big = [
        {"userId": "u", "event": "Big", "blob": "x" * 20_000, "messageId": f"b{i}"}
        for i in range(60)
    ]
    result = fast_client(faults.url).send_many(
        orders(3000) + big, "track", event="Order Completed", progress=False
    )
    assert result.ok
    sizes = [len(r.body["batch"]) for r in faults.received]
    assert max(sizes) <= 2500 and sum(sizes) == 3060
    assert len(faults.received) >= 4  # 3000 small need two requests, 60 x 20 KB need three more


def test_message_ids_from_the_column_make_reruns_idempotent(faults):
    client = fast_client(faults.url)
    client.send_many(orders(100), "track", event="Order Completed", progress=False)
    client.send_many(orders(100), "track", event="Order Completed", progress=False)
    assert set(faults.stored) == {f"order-{i}" for i in range(100)}


def test_server_down_for_the_whole_run_fills_the_outbox_then_retry_delivers(faults, outbox_path):
    faults.then(*[Step(503)] * 40)
    client = fast_client(faults.url, max_retries=2)
    result = client.send_many(orders(5000), "track", event="Order Completed", progress=False)
    assert counts(result) == (5000, 0, 0, 5000) and result.status_code == 500
    assert faults.stored == []
    assert Outbox(outbox_path).count() == 5000
    assert "outbox" in str(result) and "client.retry_outbox()" in str(result)
    assert "%segment" not in str(result)  # a Python user is told the Python way
    faults.script.clear()
    # a new client on the same outbox, as after a kernel restart
    again = fast_client(faults.url).retry_outbox()
    assert again.ok and again.accepted == 5000
    assert sorted(faults.stored) == sorted(f"order-{i}" for i in range(5000))
    assert Outbox(outbox_path).count() == 0


def test_refused_connections_keep_everything(dead_url, outbox_path):
    result = fast_client(dead_url, max_retries=1).send_many(
        orders(300), "track", event="E", progress=False
    )
    assert counts(result) == (300, 0, 0, 300) and result.messages_sent == 0
    assert {p.message_id for p in Outbox(outbox_path).pending()} == {
        f"order-{i}" for i in range(300)
    }


def test_503_and_429_bursts_recover_with_each_message_once(faults, outbox_path):
    faults.then(Step(503), Step(503), Step(429, headers={"Retry-After": "0"}), Step(500), Step(429))
    result = fast_client(faults.url, max_retries=5).send_many(
        orders(8000), "track", event="Order Completed", progress=False, workers=3
    )
    assert result.ok and counts(result) == (8000, 8000, 0, 0)
    assert result.retried > 0
    assert collections.Counter(faults.stored) == collections.Counter(
        f"order-{i}" for i in range(8000)
    )
    assert Outbox(outbox_path).count() == 0


def test_connection_reset_mid_request_is_retried(faults):
    faults.then(Step(drop=True), Step(drop=True))
    result = fast_client(faults.url).send_many(
        orders(4000), "track", event="E", progress=False, workers=2
    )
    assert result.ok and result.accepted == 4000
    assert sorted(set(faults.stored)) == sorted(f"order-{i}" for i in range(4000))
    assert len(faults.stored) == 4000


def test_lost_acknowledgement_resends_with_the_same_ids(faults, outbox_path):
    faults.then(Step(store=True, drop=True))  # stored, but the answer never arrives
    result = fast_client(faults.url).send_many(
        orders(3000), "track", event="E", progress=False, workers=1
    )
    assert result.ok and result.accepted == 3000 and result.retried > 0
    assert set(faults.stored) == {f"order-{i}" for i in range(3000)}
    duplicates = [mid for mid, n in collections.Counter(faults.stored).items() if n > 1]
    first_batch = {m["messageId"] for m in faults.received[0].body["batch"]}
    assert set(duplicates) == first_batch  # only the resent batch, deduplicated by messageId
    assert Outbox(outbox_path).count() == 0


def test_keyboard_interrupt_keeps_what_was_read(faults, outbox_path):
    def rows():
        yield from orders(6000)
        raise KeyboardInterrupt

    result = fast_client(faults.url).send_many(
        rows(), "track", event="E", progress=False, workers=2
    )
    assert result.interrupted and not result.ok and result.rows_read == 6000
    kept = {p.message_id for p in Outbox(outbox_path).pending()}
    delivered = set(faults.stored)
    assert delivered | kept == {f"order-{i}" for i in range(6000)}
    assert not delivered & kept
    assert result.accepted == len(delivered) and result.failed == len(kept)


def big_orders(n: int) -> list[dict]:
    """Orders of 20 KB each: about 23 to a batch."""
    return [{**order, "blob": "x" * 20_000} for order in orders(n)]


def test_a_distant_server_gets_several_batches_at_once(faults):
    """Answers that take 0.2 s: the batches after the first go out side by side, the
    next one before the last is answered (one at a time would take 2 s)."""
    faults.policy = lambda n: Step(delay=0.2)
    result = fast_client(faults.url).send_many(
        big_orders(230), "track", event="E", progress=False, workers=4
    )
    assert result.ok and result.accepted == 230 and len(faults.received) >= 10
    arrivals = [r.arrived for r in faults.received]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert min(gaps[1:]) < 0.1, gaps  # a request arrived while another was being answered
    assert len({r.port for r in faults.received}) > 1


def test_a_near_server_gets_batches_in_turn_over_one_connection(monkeypatch):
    """A server that answers at once is posted to from the caller's thread, over one
    connection: handing each batch to a worker thread would cost more than the request.
    (A busy machine can take 3 ms over a batch; the rule is tested, not its figure.)"""
    monkeypatch.setattr(pace, "QUICK_ANSWER_SECONDS", 0.04)
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("quick_server.py"))],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        result = fast_client(url).send_many(
            big_orders(230), "track", event="E", progress=False, workers=4
        )
    finally:
        server.terminate()
    ports = server.communicate(timeout=10)[0].split()
    assert result.ok and result.accepted == 230 and len(ports) >= 10
    assert len(set(ports)) == 1


def test_posts_move_to_threads_on_waiting_not_on_a_busy_machine():
    """Only the time spent waiting for the server counts: on a busy machine a post to a
    local server takes longer, but in CPU the threads would spend as well."""
    busy = pace.Pace()
    for _ in range(50):  # 10 ms a post, 9.8 of them this thread's own CPU
        busy.note(0.010, 0.0098)
    assert not busy.pooled
    distant = pace.Pace()
    distant.note(0.004, 0.0002)
    distant.note(0.004, 0.0002)
    assert not distant.pooled  # the first two decide nothing
    distant.note(0.004, 0.0002)
    assert distant.pooled  # waits of 3.8 ms: side by side from now on
    slow = pace.Pace()
    slow.note(0.2, 0.001)
    assert slow.pooled  # one long wait decides at once


def test_dry_run_validates_every_row_and_sends_nothing(faults):
    rows = [*orders(10), {"userId": "u"}]
    result = fast_client(faults.url).send_many(rows, "track", progress=False, dry_run=True)
    assert result.rows_read == 11 and result.invalid == 11  # no event: none of them is valid
    result = fast_client(faults.url).send_many(
        orders(10), "track", event="E", progress=False, dry_run=True
    )
    assert result.ok and result.accepted == 0 and faults.received == []


def test_gzip_bulk_reaches_the_collector(collector):
    client = SegmentClient(endpoint=collector.url, gzip=True)
    assert client.send_many(orders(500), "track", event="Zipped", progress=False).ok
    assert collector.count() == 500


def test_single_call_failures_go_to_the_outbox_too(dead_url, outbox_path):
    result = fast_client(dead_url, max_retries=0).track("Lost?", user_id="u")
    assert result.status_code == 500
    (pending,) = Outbox(outbox_path).pending()
    assert pending.message_id == result.message_id
    assert any("outbox" in w for w in result.warnings)


def test_magic_from_dataframe_with_progress_and_failure(ip, collector):
    ip.user_ns["df"] = pd.DataFrame({"userId": ["a", "b", None], "total": [1.0, 2.0, 3.0]})
    out = run(ip, '%segment_track "Order Completed" --from df --no-progress --anonymous')
    assert out.error is None and out.result.accepted == 3  # the third gets an anonymousId
    assert out.result.anonymized == 1 and "generated anonymousIds" in out.html
    assert "Segment bulk track" in out.html
    ip.user_ns["bad"] = [{"userId": "u", "total": 1}, {"total": 2, "timestamp": "never"}]
    out = run(ip, '%segment_track "Order Completed" --from bad --no-progress')
    assert out.error is not None and "1 invalid row was not sent" in str(out.error)
    assert "Problems, grouped by reason" in out.html and "no userId or anonymousId" in out.html


def test_magic_retry_after_an_outage(make_shell, faults):
    shell = make_shell(faults.url, max_retries=0)
    shell.user_ns["rows"] = orders(50)
    faults.then(Step(503))
    out = run(shell, "%segment_track E --from rows --no-progress")
    assert out.error is not None and out.result is None
    failed = run(shell, "%segment_history --failed").result
    assert any(getattr(r, "message_id", None) == "order-0" for r in failed)
    out = run(shell, "%segment_retry")
    assert out.error is None and out.result.accepted == 50
    assert set(faults.stored) == {f"order-{i}" for i in range(50)}


def test_progress_bar_in_a_terminal_and_off(collector, capsys):
    client = SegmentClient(endpoint=collector.url)
    client.send_many(orders(1500), "track", event="Shown", progress=True)
    shown = capsys.readouterr().err
    assert "segment track" in shown and "1500/1500" in shown and "events/s" in shown
    client.send_many(orders(10), "track", event="Quiet", progress=False)
    assert capsys.readouterr().err == ""


def test_dataframe_rows_build_the_same_messages_as_their_records(collector):
    """The column-wise DataFrame path and the per-row path agree on every message."""
    frame = pd.DataFrame(
        {
            "userId": ["u1", None, "u3", "u4"],
            "anonymousId": [None, "a2", None, None],
            "timestamp": pd.to_datetime(
                ["2024-03-01T10:00:00+02:00", None, "2024-03-02T00:00:00Z", "2024-03-03T00:00:00Z"],
                utc=True,
            ),
            "total": [1.5, np.nan, 3.0, 4.0],
            "count": pd.array([1, None, 3, 4], dtype="Int64"),
            "tags": [["a"], [], None, ["b", "c"]],
            "nested": [{"x": 1}, {"y": np.nan}, {"z": None}, {}],
            "messageId": ["d0", "d1", "d2", "d3"],
        }
    )
    client = SegmentClient(endpoint=collector.url)
    assert client.send_many(frame, "track", event="E", progress=False).ok
    from_frame = {e["messageId"]: e for e in collector.events()}
    collector.reset()
    records = [{k: v for k, v in row.items()} for row in frame.to_dict("records")]
    assert client.send_many(records, "track", event="E", progress=False).ok
    from_records = {e["messageId"]: e for e in collector.events()}
    for mid, event in from_frame.items():
        other = from_records[mid]
        for key in ("userId", "anonymousId", "event", "properties"):
            assert event.get(key) == other.get(key), (mid, key)
    assert from_frame["d0"]["timestamp"] == "2024-03-01T08:00:00.000Z"
    assert from_frame["d1"]["properties"] == {"tags": [], "nested": {"y": None}}


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"max_rate": 0}, "max_rate: 0 is not a number of events per second above 0"),
        ({"max_rate": "fast"}, "max_rate: 'fast' is not a number"),
        ({"max_rate": -5}, "max_rate: -5 is not"),
        ({"workers": 0}, "workers: 0 is not a number of requests in flight from 1 to 32"),
        ({"workers": 1000}, "workers: 1000 is not"),
        ({"workers": 2.5}, "workers: 2.5 is not"),
    ],
)
def test_a_rate_or_worker_count_that_cannot_work_is_refused_before_anything_is_sent(
    collector, options, words
):
    """It was a raw TypeError ('fast'), a ValueError (-5), or quietly another number."""
    from segment_magics.errors import ValidationError

    client = SegmentClient(endpoint=collector.url, write_key="k")
    with pytest.raises(ValidationError, match=re.escape(words)):
        client.send_many([{"userId": "u"}], "track", event="E", progress=False, **options)
    if "workers" in options:
        with pytest.raises(ValidationError, match=re.escape(words)):
            client.retry_outbox(**options)
    assert collector.count() == 0


@pytest.mark.parametrize(
    ("kind", "defaults"),
    [
        ("identify", {"traits": 5}),
        ("track", {"event": "E", "properties": "abc"}),
        ("track", {"event": "E", "context": [1]}),
    ],
)
def test_a_default_that_should_be_a_dict_is_refused_before_anything_is_sent(
    collector, ip, kind, defaults
):
    """It was a raw TypeError ('int' object is not a mapping) from the magic and Python."""
    client = SegmentClient(endpoint=collector.url, write_key="k")
    field = next(k for k in defaults if k != "event")
    result = client.send_many([{"userId": "u"}], kind, defaults=defaults, progress=False)
    assert result.refused and result.error_message.startswith(
        f"{field}: a value for every row must be a dict")  # fmt: skip
    ip.user_ns.update(rows=[{"userId": "u"}], value=defaults[field])
    extra = " --event E" if kind == "track" else ""
    out = run(ip, f"%segment_{kind} --from rows --{field} $value{extra}")
    assert out.error is not None and "a value for every row must be a dict" in str(out.error)
    assert "internal error" not in str(out.error) and collector.count() == 0


def test_a_lazyframe_and_an_arrow_stream_are_sent_a_part_at_a_time(faults, outbox_path):
    """Tables that arrive in parts (a Polars LazyFrame, an Arrow RecordBatchReader) are
    sent like the tables they make: every row once, each under its own messageId, the
    rows numbered on across the parts (a resume finds the same rows)."""
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    rows = [{"userId": f"u{i}", "n": i} for i in range(25_000)]
    table = pa.Table.from_pylist(rows)
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    parts = {
        "lazy": pl.DataFrame(rows).lazy(),
        "stream": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(7_000)),
    }
    for name, source in parts.items():
        result = client.send_many(source, "track", event=name, progress=False)
        assert result.ok and (result.rows_read, result.accepted) == (25_000, 25_000), name
    sent = [item for r in faults.received for item in r.body["batch"]]
    assert len(sent) == len({item["messageId"] for item in sent}) == 50_000
    for name in parts:
        users = sorted(int(item["userId"][1:]) for item in sent if item["event"] == name)
        assert users == list(range(25_000))


@pytest.mark.parametrize(
    "rows, said",
    [(5, "a value of type int is not rows"), (None, "None is not rows"),
     ("users.csv", "a value of type str is not rows"), ({"type": "track"}, "one message")],
)  # fmt: skip
def test_what_is_not_rows_is_refused_by_name_before_anything_is_sent(rows, said, faults,
                                                                    outbox_path):  # fmt: skip
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    result = client.send_many(rows, "track", event="E", progress=False)
    assert not result.ok and said in result.error_message and "rows" in result.error_message
    assert result.rows_read == 0 and faults.received == []
    from segment_magics.errors import ValidationError
    from segment_magics.plan import PlanValidator, check_messages
    from segment_magics.plan.sample_export import sample_plan

    with pytest.raises(ValidationError, match=said):
        check_messages(PlanValidator(sample_plan()), rows)


def test_alias_from_any_table_reads_its_id_columns_alike(faults, outbox_path):
    """An alias carries no body: from pandas, Polars or Arrow alike, a row with both ids
    is sent (its other columns are not read) and a row without previousId is invalid
    (Polars and Arrow raised ValueError from our code: found by fuzzing the magics)."""
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    data = {"userId": ["new1", "new2"], "previousId": ["old1", None], "plan": ["pro", "free"]}
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    rows = [dict(zip(data, values, strict=True)) for values in zip(*data.values(), strict=True)]
    for table in (pd.DataFrame(data), pl.DataFrame(data), pa.table(data), rows):
        result = client.send_many(table, "alias", progress=False)
        assert (result.rows_read, result.accepted, result.invalid) == (2, 1, 1)
        assert "previousId" in next(iter(result.problems)).reason
        # the columns it has no place for are said, not dropped in silence
        assert result.unread == ("plan",)
        assert "1 column not sent (plan): alias calls carry no properties" in str(result)
    sent = [item for r in faults.received for item in r.body["batch"]]
    assert [(m["userId"], m["previousId"]) for m in sent] == [("new1", "old1")] * 4
    assert all("plan" not in m and "properties" not in m for m in sent)


@pytest.mark.parametrize(
    "kind, options, said",
    [("track", {"columns": {"user_id": "nope"}}, "column 'nope' (for user_id) is not in the row"),
     ("track", {"body_columns": ["zz"]}, "column 'zz' is not in the row"),
     ("alias", {"body_columns": ["plan"]}, "alias calls carry no properties or traits")],
)  # fmt: skip
def test_a_column_mapping_a_table_cannot_meet_is_refused_before_anything_is_sent(
    kind, options, said, faults, outbox_path
):
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    data = {"userId": ["u"], "previousId": ["p"], "plan": ["pro"]}
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    for table in (pd.DataFrame(data), pl.DataFrame(data), pl.DataFrame(data).lazy(),
                  pa.table(data)):  # fmt: skip
        result = client.send_many(table, kind, event="E" if kind == "track" else None,
                                  progress=False, **options)  # fmt: skip
        assert not result.ok and said in result.error_message and result.rows_read == 0
    assert faults.received == []


def test_a_table_of_body_columns_only_sends_every_row(faults, outbox_path):
    """A Polars or Arrow table whose every column is a property read as 0 rows (and
    an infinite value in it raised IndexError): each row is now sent, the infinite
    one by the careful path, as from pandas (found by fuzzing tables)."""
    pl = pytest.importorskip("polars")
    data = {"score": [1.5, float("inf"), 3.0]}
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    for table in (pd.DataFrame(data), pl.DataFrame(data), pl.DataFrame(data).to_arrow()):
        result = client.send_many(table, "track", event="Scored", anonymous=True, progress=False)
        assert (result.rows_read, result.accepted) == (3, 3), type(table)
    sent = [item["properties"].get("score") for r in faults.received for item in r.body["batch"]]
    assert sent == [1.5, None, 3.0] * 3


def test_no_id_column_is_refused_up_front_for_every_kind_of_table(faults, outbox_path):
    pl = pytest.importorskip("polars")
    data = {"score": [1.5, 2.5]}
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    for table in (pd.DataFrame(data), pl.DataFrame(data), pl.DataFrame(data).lazy(),
                  pl.DataFrame(data).to_arrow()):  # fmt: skip
        result = client.send_many(table, "track", event="Scored", progress=False)
        assert not result.ok and result.rows_read == 0
        assert "no column gives a userId or anonymousId (columns: score)" in result.error_message
    assert faults.received == []


def test_default_properties_and_a_column_both_id_and_property_from_any_table(faults, outbox_path):
    """Default properties merged under each row's (a row's cell wins, a missing cell
    leaves the default), and a column that is both the userId and a property: the
    same messages from pandas, Polars and Arrow (Polars and Arrow raised ValueError
    and IndexError from our code: found by fuzzing tables)."""
    pl = pytest.importorskip("polars")
    data = {"userId": ["u1", "u2"], "score": [5.0, None], "tier": ["gold", "blue"]}
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    tables = (pd.DataFrame(data), pl.DataFrame(data), pl.DataFrame(data).to_arrow())
    for table in tables:
        result = client.send_many(table, "track", event="Scored", progress=False,
                                  defaults={"properties": {"score": 0.0, "source": "crm"}})  # fmt: skip
        assert result.accepted == 2, result.error_message
    for table in tables:
        result = client.send_many(table, "track", event="Kept", progress=False,
                                  body_columns=["userId", "tier"])  # fmt: skip
        assert result.accepted == 2, result.error_message
    sent = [item for r in faults.received for item in r.body["batch"]]
    merged = [(m["userId"], m["properties"]) for m in sent if m["event"] == "Scored"]
    assert (
        merged
        == [
            ("u1", {"score": 5.0, "source": "crm", "tier": "gold"}),
            ("u2", {"score": 0.0, "source": "crm", "tier": "blue"}),
        ]
        * 3
    )
    kept = [(m["userId"], m["properties"]) for m in sent if m["event"] == "Kept"]
    assert kept == [("u1", {"userId": "u1", "tier": "gold"}),
                    ("u2", {"userId": "u2", "tier": "blue"})] * 3  # fmt: skip


@pytest.mark.parametrize(
    "kind, column, said",
    [("page", "name", "name: must be a string, got datetime"),
     ("track", "userId", "userId: must be a string or an integer, got datetime")],
)  # fmt: skip
def test_a_datetime_column_is_not_an_id_or_a_name_in_any_table(kind, column, said, faults,
                                                               outbox_path):  # fmt: skip
    """A list of dicts refused it; a table sent the datetime's text as the page's name
    or the user's id (found by a differential fuzz of the same rows in every table)."""
    pl = pytest.importorskip("polars")
    rows = [{"userId": "u0", column: pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime()}]
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    for source in (rows, pd.DataFrame(rows), pl.DataFrame(rows), pl.DataFrame(rows).to_arrow()):
        result = client.send_many(source, kind, event="E" if kind == "track" else None,
                                  progress=False)  # fmt: skip
        assert result.invalid == 1 and [p.reason for p in result.problems] == [said]
    assert faults.received == []


def test_a_drawn_run_id_never_repeats_an_earlier_runs(faults, outbox_path, monkeypatch):
    """A run's messageIds derive from its run id, and Segment drops a messageId it has
    seen: a drawn id that repeated an earlier run's would send messages Segment drops
    (or resume it and skip rows). Found by a fuzz whose thousands of runs in one
    outbox drew a day's id twice: a drawn id is now checked against the outbox."""
    from segment_magics.client import backfill

    drawn = iter(["20240101-aaaaaa", "20240101-aaaaaa", "20240101-aaaaaa", "20240101-bbbbbb"])
    monkeypatch.setattr(backfill, "new_run_id", lambda: next(drawn))
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    rows = [{"userId": f"u{i}", "n": i} for i in range(3)]
    first = client.send_many(rows, "track", event="E", progress=False)
    second = client.send_many(rows, "track", event="E", progress=False)
    assert (first.run_id, second.run_id) == ("20240101-aaaaaa", "20240101-bbbbbb")
    assert first.accepted == second.accepted == 3
    ids = [item["messageId"] for r in faults.received for item in r.body["batch"]]
    assert len(ids) == len(set(ids)) == 6


def test_a_dry_runs_table_counts_what_passed_and_claims_nothing_was_kept():
    """It said "Validated 0" whatever passed, "0 delivered" a second, showed an outbox
    row and a run id to resume, and "not everything was delivered" of a dry run (found
    by a fuzz that checks a run's counts add up to its rows)."""
    client = SegmentClient(endpoint="http://127.0.0.1:9", write_key="k")
    rows = [{"userId": "u", "n": 1}] * 3 + [{"n": 2}]
    result = client.send_many(rows, "track", event="E", progress=False, dry_run=True)
    assert (result.rows_read, result.validated, result.invalid, result.accepted) == (4, 3, 1, 0)
    shown = {row[0]: getattr(row[1], "value", row[1]) for row in result.table().rows}
    assert shown["Validated"] == "3" and shown["Invalid (not sent)"] == "1"
    assert shown["Outcome"].endswith("dry run: 1 row invalid, nothing sent")
    assert shown["Events/s"].endswith("validated")
    assert "In the outbox (failed)" not in shown and "Run id" not in shown
    assert "Validated" in result._repr_html_() and ">3<" in result._repr_html_()


def test_an_export_replayed_keeps_each_messages_id_and_time_not_segments_own_fields(
    client, collector
):
    """Messages read back from Segment (an export, a warehouse) carry what Segment added;
    sending them again refused every one ("_metadata: is not a Segment message field").
    They go out as the calls they were: the same messageId, timestamp and properties,
    without ``_metadata``, ``projectId``, ``receivedAt`` or another source's write key."""
    for run_number, shape in enumerate((list, pd.DataFrame)):
        stored = [stored_message(n) for n in range(3 * run_number, 3 * run_number + 3)]
        result = client.send_many(shape(stored), progress=False)
        assert result.accepted == 3 and not result.invalid, result
        events = collector.events()
        sent = {e["messageId"]: e for e in events}
        assert len(events) == 3 * (run_number + 1) and all(m["messageId"] in sent for m in stored)
        for m in stored:
            got = sent[m["messageId"]]
            assert got["timestamp"] == m["timestamp"] and got["properties"] == m["properties"]
            assert not {"_metadata", "projectId", "writeKey", "receivedAt"} & set(got)
            assert got.get("sentAt") != m["sentAt"]  # this send's, not the first one's
        assert "STORED-KEY-NOT-OURS" not in json.dumps(events)
