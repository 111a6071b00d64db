"""`make bench`: auditing an export against a plan, side by side in one run.

Data: 1,000,000 export events (2,000 per gzipped NDJSON file, Segment's layout) against
the 20-event sample plan, 10 % of them breaking it. Measured in fresh processes, in three
alternating rounds (the fastest run of each counts):

- the reading floor: decompress every file and ``orjson.loads`` every line, nothing else;
- the audit (``segment_magics.plan.audit``: DuckDB's column checks);
- today's row checker on the same messages (``check_messages``, streamed);
- peak memory of the audit at 1,000,000 and at 10,000,000 events (the same files
  copied ten times): it streams, so it stays flat;
- Spark ``local[2]`` and a Dask ``LocalCluster`` on 100,000 of the events.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from targets import report

N = 1_000_000
TARGETS = {"vs_floor": 1.5, "vs_row_checker": 10.0, "peak_mb": 1024.0, "flat": 1.25}


def contender(name: str, root: str) -> dict[str, Any]:
    import gzip
    import resource

    import orjson

    from segment_magics.plan import PlanValidator, audit, check_messages
    from segment_magics.plan.sample_export import sample_plan

    if name == "audit":  # imported before the clock starts, as the others' libraries are
        import duckdb  # noqa: F401

        from segment_magics.plan import audit_feed

        if audit_feed.available():  # ISA-L, NumPy, pyarrow: the audit extra's readers
            import numpy  # noqa: F401
            import pyarrow  # noqa: F401
            from isal import igzip  # noqa: F401
    files = sorted(Path(root).rglob("*.gz"))
    started = time.perf_counter()
    count = 0
    if name == "floor":
        for f in files:
            for line in gzip.decompress(f.read_bytes()).splitlines():
                orjson.loads(line)
                count += 1
    elif name == "audit":
        count = audit(sample_plan(), root).messages
    elif name == "row_checker":

        def lines() -> Any:
            for f in files:
                for line in gzip.decompress(f.read_bytes()).splitlines():
                    yield orjson.loads(line)

        count = check_messages(PlanValidator(sample_plan()), lines()).checked
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"name": name, "seconds": elapsed, "messages": count, "peak_mb": peak}


def engines(root: str) -> dict[str, float]:
    """Spark local[2] and a Dask LocalCluster on the first 100,000 events."""
    import gzip

    import orjson

    from segment_magics.plan import audit
    from segment_magics.plan.sample_export import sample_plan

    records = []
    for f in sorted(Path(root).rglob("*.gz")):
        for line in gzip.decompress(f.read_bytes()).splitlines():
            m = orjson.loads(line)
            records.append((m["type"], m["event"], m["userId"], m["messageId"], m["timestamp"],
                            orjson.dumps(m["properties"]).decode()))  # fmt: skip
            if len(records) == 100_000:
                break
        if len(records) == 100_000:
            break
    out: dict[str, float] = {}
    import dask.dataframe as dd
    import distributed
    import pandas as pd

    columns = ["type", "event", "userId", "messageId", "timestamp", "properties"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                  host="127.0.0.1") as cluster, distributed.Client(cluster):  # fmt: skip
        frame = dd.from_pandas(pd.DataFrame(records, columns=columns), npartitions=8)
        started = time.perf_counter()
        audit(sample_plan(), frame)
        out["dask_events_per_s"] = len(records) / (time.perf_counter() - started)
    import os

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local executors: this Python
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1").getOrCreate())  # fmt: skip
    try:
        frame = spark.createDataFrame(records, ", ".join(f"{c} string" for c in columns))
        frame = frame.repartition(8).cache()
        frame.count()
        started = time.perf_counter()
        audit(sample_plan(), frame)
        out["spark_events_per_s"] = len(records) / (time.perf_counter() - started)
    finally:
        spark.stop()
    return out


def run(name: str, root: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--contender", name, "--root", root],
                          capture_output=True, text=True, check=False, timeout=3600)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender")
    parser.add_argument("--root")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="100,000 events (a smoke test)")
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender, args.root)))
        return 0
    from segment_magics.plan.sample_export import write_export

    n = N // 10 if args.quick else N
    work = Path(tempfile.mkdtemp(prefix="segment-audit-bench-"))
    try:
        one = work / "one"
        write_export(one, n, per_file=2_000)
        figures: dict[str, Any] = {"events": n}
        for round_number in range(3):  # alternating: a slow spell falls on all alike
            for name in ("floor", "audit", "row_checker"):
                f = run(name, str(one))
                if name not in figures or f["seconds"] < figures[name]["seconds"]:
                    figures[name] = f
                print(f"  {round_number + 1} {name:12s} {f['seconds']:6.2f} s  "
                      f"peak {f['peak_mb']:6.0f} MB", flush=True)  # fmt: skip
        ten = work / "ten"
        for copy in range(10):  # the same files ten times: ten times the events
            shutil.copytree(one / "segment-logs", ten / "segment-logs" / f"copy{copy}")
        figures["audit_10x"] = run("audit", str(ten))
        figures["engines"] = engines(str(one))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor, audit_s = figures["floor"]["seconds"], figures["audit"]["seconds"]
    vs_floor = audit_s / floor
    vs_rows = figures["row_checker"]["seconds"] / audit_s
    peak = figures["audit"]["peak_mb"]
    flat = figures["audit_10x"]["peak_mb"] / peak
    figures["ratios"] = {"vs_floor": vs_floor, "vs_row_checker": vs_rows, "flat": flat}
    print(f"\n| measure ({n:,} events) | value |\n| --- | ---: |")
    print(f"| reading floor (gzip + orjson.loads, one process) | {floor:.2f} s |")
    print(f"| audit (DuckDB column checks) | {audit_s:.2f} s |")
    print(f"| today's row checker (check_messages) | {figures['row_checker']['seconds']:.2f} s |")
    print(f"| audit peak memory | {peak:.0f} MB |")
    print(f"| audit peak memory on {10 * n:,} events | {figures['audit_10x']['peak_mb']:.0f} MB |")
    for name, speed in figures["engines"].items():
        print(f"| {name.replace('_', ' ')} (100,000 events) | {speed:,.0f} |")
    checks = [
        (f"audit vs the reading floor <= {TARGETS['vs_floor']}x", f"{vs_floor:.2f}x",
         vs_floor <= TARGETS["vs_floor"]),
        (f"audit vs today's row checker >= {TARGETS['vs_row_checker']}x faster", f"{vs_rows:.1f}x",
         vs_rows >= TARGETS["vs_row_checker"]),
        (f"audit peak memory < {TARGETS['peak_mb']:.0f} MB", f"{peak:.0f} MB",
         peak < TARGETS["peak_mb"]),
        (f"memory flat on 10x the events (<= {TARGETS['flat']}x)", f"{flat:.2f}x",
         flat <= TARGETS["flat"]),
    ]  # fmt: skip
    met = report(checks)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
