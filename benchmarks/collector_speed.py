"""`make bench`: how fast the local collector answers and ingests, against nginx.

- Latency: the p50 of one ``%segment_track`` (the magic, in an IPython shell) to
  the local collector, next to the p50 of one bare ``requests`` POST to Debian's
  nginx on the same machine (the floor). The issue's figures were 2 ms against
  nginx's 0.6 ms, so the target is a ratio of at most 3.3x.
- Ingest: 50,000 events sent with ``send_many`` to the collector (its own process)
  and, in the same run, to nginx. The issue asked for 35,000 events/s where
  send_many reached about 75,000 events/s against nginx, so the target is a ratio
  of at least 0.47: the collector is never the bottleneck of a backfill tutorial.
- Ingest in one process, as in a notebook: the sender and the collector share the
  interpreter, against a discarding standard-library sink (``http.server``, reads
  each body and answers 200) in the same process; the target is at least 0.7x.

Contenders are measured in alternating rounds (latency) and alternating runs
(ingest), so a slow spell of the machine falls on all of them alike: measured one
after the other, the same code gave latency ratios from 1.5x to 3.1x here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sink import NginxSink, _free_port  # noqa: E402
from targets import report  # noqa: E402
from workload import segment_messages  # noqa: E402

CALLS = 400
WARMUP = 50
ROUNDS = 8
EVENTS = 50_000
TARGETS = {"latency_vs_nginx": 3.3, "ingest_vs_nginx": 0.47, "in_process_vs_stdlib": 0.7}


class BarePost:
    """One bare ``requests`` POST per call, on a kept-alive session."""

    def __init__(self, url: str) -> None:
        import orjson
        import requests

        self.session = requests.Session()
        self.url = f"{url}/v1/track"
        self.body = orjson.dumps({"type": "track", "event": "E", "userId": "u"})
        self.timings(WARMUP)

    def timings(self, count: int) -> list[float]:
        out = []
        for _ in range(count):
            started = time.perf_counter()
            self.session.post(
                self.url, data=self.body, headers={"Content-Type": "application/json"}
            )
            out.append(time.perf_counter() - started)
        return out


class MagicCall:
    """One ``%segment_track`` per call, in an IPython shell with the extension loaded."""

    def __init__(self, url: str) -> None:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        config.SegmentMagics.endpoint = url
        self.shell = InteractiveShell(config=config)
        self.shell.run_line_magic("load_ext", "segment_magics")
        self.calls = 0
        self.timings(WARMUP)

    def timings(self, count: int) -> list[float]:
        out = []
        for _ in range(count):
            self.calls += 1
            line = f'"Order Completed" --user-id u{self.calls}'
            started = time.perf_counter()
            result = self.shell.run_line_magic("segment_track", line)
            out.append(time.perf_counter() - started)
            assert result is not None and result.ok, result
        return out


def interleaved_p50s(contenders: dict[str, Any]) -> dict[str, float]:
    """p50 in ms of each contender, measured in alternating rounds so that the
    machine's drift during the run touches them all alike."""
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(ROUNDS):
        for name, contender in contenders.items():
            timings[name] += contender.timings(CALLS // ROUNDS)
    return {name: statistics.median(t) * 1000 for name, t in timings.items()}


def ingest(url: str) -> float:
    from segment_magics import SegmentClient

    data = list(segment_messages(EVENTS))
    client = SegmentClient(endpoint=url, write_key="bench")
    started = time.perf_counter()
    result = client.send_many(data, progress=False)
    elapsed = time.perf_counter() - started
    assert result.accepted == EVENTS, result
    return EVENTS / elapsed


def discarding_sink() -> tuple[str, Any]:
    """The standard library's threaded HTTP server, reading each body and answering
    Segment's 200: what receiving costs with nothing kept."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Discard(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"success": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def in_process_ingest() -> dict[str, float]:
    """send_many to a collector and to the discarding sink, both in this process."""
    from segment_magics.collector import start_collector

    sink_url, sink = discarding_sink()
    collector = start_collector(port=0)
    best = {"stdlib_sink": 0.0, "collector": 0.0}
    try:
        for _ in range(3):  # alternating, the best of each
            best["stdlib_sink"] = max(best["stdlib_sink"], ingest(sink_url))
            collector.reset()
            best["collector"] = max(best["collector"], ingest(collector.url))
    finally:
        collector.stop()
        sink.shutdown()
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    port = _free_port()
    collector = subprocess.Popen(
        [sys.executable, "-m", "segment_magics.collector", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    local = f"http://127.0.0.1:{port}"
    try:
        from segment_magics.collector import wait_for_collector

        wait_for_collector(local)
        with NginxSink() as nginx:
            p50s = interleaved_p50s(
                {"nginx": BarePost(nginx), "bare": BarePost(local), "magic": MagicCall(local)}
            )
            figures["nginx_p50_ms"] = p50s["nginx"]
            figures["collector_bare_p50_ms"] = p50s["bare"]
            figures["magic_p50_ms"] = p50s["magic"]
            # alternating runs, the best of each: a pause of the machine hurts neither
            speeds: dict[str, list[float]] = {"nginx": [], "local": []}
            for _ in range(2):
                speeds["nginx"].append(ingest(nginx))
                speeds["local"].append(ingest(local))
            figures["nginx_ingest_ev_s"] = max(speeds["nginx"])
            figures["collector_ingest_ev_s"] = max(speeds["local"])
    finally:
        collector.terminate()
        collector.wait(timeout=10)
    in_process = in_process_ingest()
    figures["in_process_stdlib_sink_ev_s"] = in_process["stdlib_sink"]
    figures["in_process_collector_ev_s"] = in_process["collector"]
    latency = figures["magic_p50_ms"] / figures["nginx_p50_ms"]
    speed = figures["collector_ingest_ev_s"] / figures["nginx_ingest_ev_s"]
    beside = in_process["collector"] / in_process["stdlib_sink"]
    figures["ratios"] = {"latency_vs_nginx": latency, "ingest_vs_nginx": speed,
                         "in_process_vs_stdlib": beside}  # fmt: skip
    print("| measure | value |")
    print("| --- | ---: |")
    print(f"| p50, one POST to nginx (the floor) | {figures['nginx_p50_ms']:.2f} ms |")
    print(f"| p50, one POST to the collector | {figures['collector_bare_p50_ms']:.2f} ms |")
    print(f"| p50, one %segment_track to the collector | {figures['magic_p50_ms']:.2f} ms |")
    print(f"| send_many of {EVENTS:,} events to nginx | {figures['nginx_ingest_ev_s']:,.0f} ev/s |")
    print(f"| send_many of {EVENTS:,} events to the collector | "
          f"{figures['collector_ingest_ev_s']:,.0f} ev/s |")  # fmt: skip
    print(f"| in one process: to a discarding stdlib sink | "
          f"{in_process['stdlib_sink']:,.0f} ev/s |")  # fmt: skip
    print(f"| in one process: to the collector | {in_process['collector']:,.0f} ev/s |")
    checks = [
        (f"%segment_track p50 vs nginx p50 <= {TARGETS['latency_vs_nginx']}x (2 ms at 0.6 ms)",
         f"{latency:.2f}x", latency <= TARGETS["latency_vs_nginx"]),
        (f"collector ingest vs nginx >= {TARGETS['ingest_vs_nginx']}x (35k of 75k ev/s)",
         f"{speed:.2f}x", speed >= TARGETS["ingest_vs_nginx"]),
        (f"in one process, collector vs a discarding stdlib sink >= "
         f"{TARGETS['in_process_vs_stdlib']}x", f"{beside:.2f}x",
         beside >= TARGETS["in_process_vs_stdlib"]),
    ]  # fmt: skip
    met = report(checks)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
