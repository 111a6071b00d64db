"""Backfills from Spark (local[2], task retries on) and Dask (a LocalCluster of processes).

Every test counts what arrived on the wire by messageId and by input row (the
``n`` property): nothing lost, nothing sent twice under different ids.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests
from conftest import SENTINEL_KEY, run
from fault_server import FaultServer, Step

from segment_magics import SegmentClient
from segment_magics.client import Outbox

pyspark = pytest.importorskip("pyspark", reason="pip install segment-magics[spark]")
distributed = pytest.importorskip("distributed", reason="pip install segment-magics[dask]")
import dask.dataframe as dd  # noqa: E402

ROWS = 4_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers use this environment
    events = tmp_path_factory.mktemp("spark-events")
    session = (
        SparkSession.builder.master("local[2,3]")  # 2 cores, a failed task is tried 3 times
        .appName("segment-magics tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "true")
        .config("spark.ui.port", str(free_port()))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", events.as_uri())
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100")  # rows reach us steadily
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    session.event_dir = events
    yield session
    session.stop()


@pytest.fixture(scope="module")
def dask_client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        host="127.0.0.1",
    )  # fmt: skip
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def orders(spark, rows: int = ROWS, partitions: int = 4):
    return spark.range(0, rows, numPartitions=partitions).selectExpr(
        "id as n", "concat('u', id % 97) as userId", "round(id * 1.5, 2) as total"
    )


def delivered(server: FaultServer) -> tuple[int, bool]:
    """How many input rows arrived, and whether each arrived under one messageId only."""
    rows = {row: ids for row, ids in server.rows.items() if row is not None}
    return len(rows), all(len(ids) == 1 for ids in rows.values())


# -- Spark ---------------------------------------------------------------------------
def test_spark_rows_are_sent_by_the_workers_with_stable_ids(spark, faults, outbox_path):
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    frame = orders(spark)
    result = client.send_many(frame, "track", event="Order Completed", run_id="spark-1",
                              progress=False)  # fmt: skip
    assert result.ok, result.error_message
    assert (result.rows_read, result.accepted, result.partitions) == (ROWS, ROWS, 4)
    assert delivered(faults) == (ROWS, True)
    first = set(faults.stored)
    again = client.send_many(frame, "track", event="Order Completed", run_id="spark-1",
                             progress=False)  # fmt: skip
    assert again.ok and set(faults.stored) == first  # a rerun: the same ids again
    assert delivered(faults) == (ROWS, True)
    assert "Order Completed (4,000 rows)" in str(result) and "Partitions" in str(result)


def test_spark_rows_with_nested_columns_are_checked_against_the_plan(spark, faults, outbox_path):
    """The executors check each message as sent: a nested column arrives as JSON text,
    which the plan read as an object it could not handle (the task failed)."""
    from segment_magics.plan.compact import parse_compact

    plan = parse_compact(
        "Order Completed\n  products: array!\n    sku: string\n    quantity: integer 1..100\n"
    )
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path, plan=plan,
                           plan_mode="block")  # fmt: skip
    frame = orders(spark, rows=400, partitions=2).selectExpr(
        "userId", "array(named_struct('sku', 'a', 'quantity', "
        "CASE WHEN n % 4 = 0 THEN 500 ELSE 1 END)) as products")  # fmt: skip
    result = client.send_many(frame, "track", event="Order Completed", progress=False)
    assert (result.rows_read, result.invalid, result.accepted) == (400, 100, 300)
    assert "properties.products[0].quantity" in result.problems[0].reason
    assert len(set(faults.stored)) == len(faults.stored) == 300  # each message once


def test_a_retried_task_resends_the_same_ids(spark, faults, outbox_path):
    from pyspark import TaskContext

    def flaky(index, rows):  # the first attempt of partition 0 dies after 3,000 rows,
        import time  # slowly enough that its first batch of 2,500 has been delivered

        first = TaskContext.get().attemptNumber() == 0
        for position, row in enumerate(rows):
            if index == 0 and first and position >= 2_000:
                time.sleep(0.002)
                if position == 3_000:
                    raise RuntimeError("executor lost (simulated)")
            yield row

    base = orders(spark, 10_000, partitions=2)
    frame = base.rdd.mapPartitionsWithIndex(flaky).toDF(base.schema)
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    result = client.send_many(frame, "track", event="Flaky", progress=False)
    assert result.ok and result.accepted == 10_000, result.error_message
    arrived, one_id_each = delivered(faults)
    assert arrived == 10_000 and one_id_each
    assert len(faults.stored) > 10_000  # the first attempt's batch went out twice ...
    assert len(set(faults.stored)) == 10_000  # ... under the same messageIds


def test_an_outage_is_kept_and_resent_from_the_notebook(spark, outbox_path):
    down = {3, 4, 5, 6}
    server = FaultServer(policy=lambda n: Step(503) if n in down else Step())
    try:
        client = SegmentClient(endpoint=server.url, write_key="k", outbox=outbox_path,
                               max_retries=0)  # fmt: skip
        frame = orders(spark, 6_000, partitions=3)
        result = client.send_many(frame, "track", event="Outage", progress=False)
        assert not result.ok and result.failed > 0
        assert result.accepted + result.failed == 6_000  # counts add up to the input
        pending = Outbox(outbox_path).pending()
        assert len(pending) == result.failed and all("partition" in p.row for p in pending)
        resent = client.retry_outbox()
        assert resent.ok and resent.accepted == result.failed
        assert delivered(server) == (6_000, True)
    finally:
        server.stop()


def test_a_poison_row_is_listed_and_the_rest_goes_out(spark, faults, outbox_path):
    frame = orders(spark, 1_000, partitions=2).selectExpr(
        "*", "case when n = 777 then 'never' else null end as timestamp"
    )
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    result = client.send_many(frame, "track", event="Poison", progress=False)
    assert (result.accepted, result.invalid, result.rows_read) == (999, 1, 1_000)
    (problem,) = result.problems
    assert problem.row.startswith("partition 1, row") and "timestamp" in problem.reason
    assert delivered(faults) == (999, True)


def test_the_write_key_stays_out_of_sparks_ui_logs_and_errors(spark, faults, outbox_path, capfd):
    client = SegmentClient(endpoint=faults.url, write_key=SENTINEL_KEY, outbox=outbox_path)
    result = client.send_many(orders(spark, 500, 2), "track", event="Secret", progress=False)
    assert result.ok and faults.received[0].headers["Authorization"].startswith("Basic ")
    broken = orders(spark, 10, 1).selectExpr("*", "'never' as timestamp", "n as messageId")
    failing = client.send_many(broken, "track", event="Secret", progress=False)
    assert failing.invalid == 10 and SENTINEL_KEY not in str(failing)
    ui = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    pages = [f"{ui}/jobs/", f"{ui}/stages/", f"{ui}/environment/",
             f"{ui}/api/v1/applications/{app}/jobs", f"{ui}/api/v1/applications/{app}/stages",
             f"{ui}/api/v1/applications/{app}/environment"]  # fmt: skip
    for page in pages:
        text = requests.get(page, timeout=10).text
        assert SENTINEL_KEY not in text, page
    assert "segment-magics backfill" in requests.get(f"{ui}/api/v1/applications/{app}/jobs",
                                                     timeout=10).text  # fmt: skip
    for log in Path(spark.event_dir).rglob("*"):
        if log.is_file():
            assert SENTINEL_KEY not in log.read_text(errors="replace"), log
    out, err = capfd.readouterr()
    assert SENTINEL_KEY not in out + err


def test_max_rate_is_a_budget_for_all_workers(spark, faults, outbox_path):
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    result = client.send_many(orders(spark, 1_500, 2), "track", event="Slow", progress=False,
                              max_rate=500)  # fmt: skip
    assert result.ok and result.accepted == 1_500
    # 1,500 events at 500/s: a second's worth may go at once, the rest takes >= 2 s
    assert result.elapsed >= 1.6


@pytest.mark.parametrize(("parallel", "parts", "share"), [(2, 8, 250), (4, 1, 500), (3, 2, 250)])
def test_each_task_gets_its_share_of_the_rate(parallel, parts, share):
    from segment_magics.client.distributed.parallel import rate_share

    assert rate_share(500, parallel, parts) == share
    assert rate_share(None, parallel, parts) is None


def test_the_magic_takes_a_spark_frame_and_shows_progress(spark, make_shell, faults):
    shell = make_shell(faults.url, write_key_env="SEGMENT_TEST_KEY")
    os.environ["SEGMENT_TEST_KEY"] = "k"
    try:
        shell.user_ns["sdf"] = orders(spark, 2_000, 4)
        cell = run(shell, '%segment_track "Order Completed" --from sdf')
        assert cell.error is None and cell.result.accepted == 2_000
        assert "segment backfill (spark)" in cell.stderr and "4/4" in cell.stderr
        assert "4 (sent by the workers)" in cell.text
        refused = run(shell, '%segment_track "Order Completed" --from sdf --user-id-col nope')
        assert "nope" in str(refused.error)
    finally:
        del os.environ["SEGMENT_TEST_KEY"]


def test_a_frame_without_id_columns_is_refused_before_any_task(spark, faults, outbox_path):
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    frame = spark.range(0, 10).selectExpr("id as n")
    result = client.send_many(frame, "track", event="Nobody", progress=False)
    assert "no column gives a userId or anonymousId (columns: n)" in result.error_message
    assert faults.received == []


# -- Dask ----------------------------------------------------------------------------
def test_dask_partitions_are_sent_by_the_cluster(dask_client, make_shell, faults):
    shell = make_shell(faults.url)
    os.environ["SEGMENT_WRITE_KEY"] = "k"
    try:
        people = pd.DataFrame({"customer": [f"c{i}" for i in range(3_000)],
                               "plan": ["pro", "free", "team"] * 1_000,
                               "n": range(3_000)})  # fmt: skip
        shell.user_ns["users_ddf"] = dd.from_pandas(people, npartitions=5)
        run(shell, "%%segment_plan\nidentify\n  plan: string in [pro, free]\n  n: integer")
        cell = run(shell, "%segment_identify --from users_ddf --user-id-col customer")
        result = cell.result or cell.error.result
        assert result.partitions == 5 and result.rows_read == 3_000
        assert result.plan_violations == 1_000  # the plan went to the workers
        identified = {item["userId"] for r in faults.received for item in r.body["batch"]}
        assert len(identified) == 3_000
    finally:
        del os.environ["SEGMENT_WRITE_KEY"]


def test_dask_outage_and_resend(dask_client, outbox_path):
    server = FaultServer(policy=lambda n: Step(503) if n == 2 else Step())
    try:
        client = SegmentClient(endpoint=server.url, write_key="k", outbox=outbox_path,
                               max_retries=0)  # fmt: skip
        frame = dd.from_pandas(pd.DataFrame({"userId": "u", "n": range(2_000)}), npartitions=4)
        result = client.send_many(frame, "track", event="Dask", progress=False)
        assert result.failed > 0 and result.accepted + result.failed == 2_000
        assert client.retry_outbox().ok
        assert delivered(server) == (2_000, True)
    finally:
        server.stop()


# -- single machine: Polars and Arrow --------------------------------------------------
def test_polars_and_arrow_tables_are_read_column_by_column(faults, outbox_path):
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"userId": ["a", "b", None], "n": [1, 2, 3],
                          "tags": [["x"], [], None]})  # fmt: skip
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path)
    first = client.send_many(frame, "track", event="Polars", progress=False, anonymous=True)
    second = client.send_many(frame.to_arrow(), "track", event="Arrow", progress=False,
                              anonymous=True)  # fmt: skip
    assert first.ok and second.ok and first.accepted == second.accepted == 3
    assert first.anonymized == 1


@pytest.fixture
def notebook_in_kolkata():
    """The notebook's clock in Asia/Kolkata while the workers (started before) keep UTC."""
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    yield "Asia/Kolkata"
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def _arrived_times(faults: FaultServer) -> dict[str, str]:
    return {item["userId"]: item["timestamp"] for r in faults.received for item in r.body["batch"]}


def test_workers_read_naive_times_in_the_notebooks_zone(
    spark, dask_client, notebook_in_kolkata, faults, outbox_path
):
    """'local' means the analyst's clock, not the worker's: the notebook's zone travels
    with the run (the workers here were started in UTC)."""
    client = SegmentClient(endpoint=faults.url, write_key="k", outbox=outbox_path,
                           naive_timezone="local")  # fmt: skip
    people = pd.DataFrame({"userId": ["d0", "d1"],
                           "timestamp": pd.to_datetime(["2024-01-15 08:00", "2024-07-01 12:30"])})  # fmt: skip
    result = client.send_many(dd.from_pandas(people, npartitions=2), "track", event="E",
                              progress=False)  # fmt: skip
    assert result.ok and result.rows_read == 2, result.error_message
    assert result.naive == {"as local time (Asia/Kolkata, naive_timezone='local')": 2}
    ntz = spark.sql(
        "select 's0' as userId, timestamp_ntz'2024-01-15 08:00:00' as timestamp "
        "union all select 's1', timestamp_ntz'2024-07-01 12:30:00'"
    )
    assert client.send_many(ntz, "track", event="E", progress=False).ok
    times = _arrived_times(faults)
    for who in ("d", "s"):
        assert times[f"{who}0"] == "2024-01-15T02:30:00.000Z"
        assert times[f"{who}1"] == "2024-07-01T07:00:00.000Z"


SPARK_WITH_THE_WRONG_PYTHON = """
import json, os, sys
sys.path.insert(0, {tests!r})
from conftest import run
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
from fault_server import FaultServer

cfg = Config()
cfg.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=cfg)
shell.run_line_magic("load_ext", "segment_magics")
out = {{"pyspark_python": os.environ.get("PYSPARK_PYTHON")}}
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .getOrCreate())
server = FaultServer()
os.environ["SEGMENT_WRITE_KEY"] = "k"
shell.user_ns["frame"] = spark.range(0, 10).selectExpr("concat('u', id) as userId")
cell = run(shell, "%segment_connect " + server.url)
cell = run(shell, "%segment_track Spark --from frame")
out["error"] = str(cell.error)
out["received"] = len(server.received)
out["jobs"] = len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))
print(json.dumps(out))
"""


@pytest.mark.parametrize("chosen", [None, "/usr/bin/python3"])
def test_spark_in_local_mode_uses_the_notebooks_python_or_says_what_to_do(chosen, tmp_path):
    import json
    import subprocess

    script = tmp_path / "spark_python.py"
    script.write_text(SPARK_WITH_THE_WRONG_PYTHON.format(tests=str(Path(__file__).parent)))
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}
    env["SEGMENT_MAGICS_OUTBOX"] = str(tmp_path / "outbox.sqlite")
    if chosen:
        env["PYSPARK_PYTHON"] = chosen  # the user's own choice is left alone...
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if chosen is None:  # ...else %load_ext points Spark at the notebook's interpreter
        assert out["pyspark_python"] == sys.executable
        assert out["error"] == "None" and out["received"] >= 1
        return
    assert out["pyspark_python"] == chosen
    assert "PYSPARK_PYTHON" in out["error"] and chosen in out["error"]
    assert "run_id" not in out["error"] and "ModuleNotFoundError" not in out["error"]
    assert out["received"] == 0 and out["jobs"] == 0  # refused before any task ran


def test_spark_and_dask_frames_are_audited_where_they_live(spark, dask_client, tmp_path):
    """The same export, as a Spark and as a Dask DataFrame: the same groups as DuckDB's."""
    from segment_magics.plan import audit
    from segment_magics.plan.sample_export import sample_plan, write_export

    truth = write_export(tmp_path / "export", 3_000, per_file=500)
    plan = sample_plan()
    expected = dict(truth.groups)
    lines = [line for f in sorted((tmp_path / "export").rglob("*.gz"))
             for line in __import__("gzip").decompress(f.read_bytes()).decode().splitlines()]  # fmt: skip
    (tmp_path / "all.json").write_text("\n".join(lines) + "\n")
    records = [__import__("json").loads(line) for line in lines]
    # the payload as JSON text (Spark's reader would give every field one type for all)
    spark_frame = spark.createDataFrame(
        [(r["type"], r["event"], r["userId"], r["messageId"], r["timestamp"],
          __import__("json").dumps(r["properties"])) for r in records],
        "type string, event string, userId string, messageId string, timestamp string, "
        "properties string",
    )  # fmt: skip
    as_text = [{**r, "properties": __import__("json").dumps(r["properties"])} for r in records]
    dask_frame = dd.from_pandas(pd.DataFrame(as_text), npartitions=4)  # (Dask makes text of dicts)
    for frame in (spark_frame, dask_frame):
        report = audit(plan, frame)
        got = {(g.event, g.field, g.kind): g.count for g in report.groups}
        assert report.messages == truth.messages, report.engine
        assert got == expected, report.engine
    # the same frames are what a plan is inferred from, checked against and diffed with
    from segment_magics.plan import PlanValidator, check_messages, diff_plan, infer_plan
    from segment_magics.plan.check import iter_messages

    for frame in (spark_frame, dask_frame):
        inferred = infer_plan(iter_messages(frame))
        assert len(inferred.plan.rules) == 21  # 20 planned events and the unplanned one
        checked = check_messages(PlanValidator(plan), frame)
        assert checked.checked == truth.messages and not checked.invalid_rows
        assert checked.checked - checked.valid == truth.broken
        assert diff_plan(plan, iter_messages(frame)) is not None
