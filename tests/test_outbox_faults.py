"""An outbox that cannot be written: every call gets one line naming it, nothing is sent.

Single calls, ``batch()``, ``send_many()`` and ``retry_outbox()`` each meet five real
faults: a path that cannot exist, a full disk (a tiny tmpfs), a read-only
filesystem, a file another process holds locked, and a file that is not an outbox.
The full disk and the read-only filesystem are real mounts in a private mount
namespace (``unshare``); the rest run in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from segment_magics import SegmentClient
from segment_magics.client import outbox as outbox_module

OPERATIONS = ("track", "batch", "send_many", "retry_outbox")

SCRIPT = textwrap.dedent(
    f"""
    import json, sys
    sys.path.insert(0, {str(Path(__file__).parent)!r})
    from segment_magics import SegmentClient
    from test_outbox_faults import run_all

    client = SegmentClient(endpoint=sys.argv[1], write_key="k", outbox=sys.argv[2], timeout=5)
    print(json.dumps(run_all(client)))
    """
)


def run_all(client: SegmentClient) -> dict[str, tuple[int, str, bool]]:
    rows = [{"type": "track", "event": "E", "userId": f"u{i}"} for i in range(5)]
    results = {
        "track": client.track("E", user_id="u"),
        "batch": client.batch(rows),
        "send_many": client.send_many(rows, progress=False),
        "retry_outbox": client.retry_outbox(),
    }
    return {k: (r.status_code, r.error_message, r.sent) for k, r in results.items()}


def assert_refused_with_one_line(results, shown_path: str, collector) -> None:
    assert set(results) == set(OPERATIONS)
    for name, (status, error, sent) in results.items():
        assert status == 500, (name, status, error)
        assert shown_path in error and "SEGMENT_MAGICS_OUTBOX" in error, (name, error)
        assert "\n" not in error and "Traceback" not in error
        assert not sent
    assert collector.count() == 0  # nothing left without a place to keep it


def test_a_path_that_cannot_exist(collector, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    path = blocker / "outbox.sqlite"
    client = SegmentClient(endpoint=collector.url, write_key="k", outbox=path)
    assert_refused_with_one_line(run_all(client), str(path), collector)


def test_a_file_that_is_not_an_outbox(collector, tmp_path):
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"this is not a sqlite database, just a file that got in the way" * 100)
    client = SegmentClient(endpoint=collector.url, write_key="k", outbox=path)
    results = run_all(client)
    assert_refused_with_one_line(results, str(path), collector)
    assert "not an outbox" in results["track"][1]
    assert path.read_bytes().startswith(b"this is not")  # and it was left as it was


def test_a_file_another_process_holds_locked(collector, tmp_path, monkeypatch):
    path = tmp_path / "outbox.sqlite"
    SegmentClient(endpoint="http://127.0.0.1:9", write_key="k", outbox=path).outbox.count()
    sqlite3.connect(path).execute("CREATE TABLE IF NOT EXISTS x (y)").connection.commit()
    monkeypatch.setattr(outbox_module, "BUSY_SECONDS", 0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time; db = sqlite3.connect(sys.argv[1], isolation_level=None);"
         "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(60)",
         str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        client = SegmentClient(endpoint=collector.url, write_key="k", outbox=path)
        results = run_all(client)
    finally:
        holder.kill()
        holder.wait()
    assert_refused_with_one_line(results, str(path), collector)
    assert "another process holds its lock" in results["track"][1]


def _in_a_mount_namespace(collector, setup: str, path: Path) -> dict[str, list]:
    """Run the four operations in a private mount namespace where ``setup`` mounted
    the outbox's directory; returns what each gave."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a private mount needs root and unshare (both are there in CI)")
    command = f'{setup} && exec {sys.executable} -c "$SCRIPT" {collector.url} {path}'
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", command],
        env={**os.environ, "SCRIPT": SCRIPT}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_full_disk(collector, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    setup = (
        f"mount -t tmpfs -o size=64k tmpfs {disk} && "
        f"(head -c 1000000 /dev/zero > {disk}/filler 2>/dev/null; true)"
    )
    path = disk / "outbox.sqlite"
    results = _in_a_mount_namespace(collector, setup, path)
    assert_refused_with_one_line(results, str(path), collector)
    assert "disk is full" in results["track"][1] or "refused the write" in results["track"][1]


def test_a_read_only_filesystem(collector, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    setup = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"
    path = folder / "outbox.sqlite"
    results = _in_a_mount_namespace(collector, setup, path)
    assert_refused_with_one_line(results, str(path), collector)


def test_the_magics_say_the_setting_that_moves_the_outbox(make_shell, collector, tmp_path):
    from conftest import run

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    shell = make_shell(collector.url, outbox_path=str(blocker / "outbox.sqlite"))
    out = run(shell, '%segment_track "E" --user-id u')
    assert out.error is not None and "%config SegmentMagics.outbox_path" in str(out.error)
    assert "Traceback" not in out.text and collector.count() == 0
