"""Naive datetimes arrive as the instant they name, in any time zone.

Each case runs a real IPython shell in a subprocess with ``TZ`` set (a negative
half-hour zone, a positive one, a whole-hour one west of UTC and one far east), sends
to this test's collector on 127.0.0.1, and the instants that arrive are compared
with the ones the analyst meant, computed here with zoneinfo.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import run

from segment_magics import SegmentClient
from segment_magics.messages.naive_time import NaiveTime

ZONES = ["America/St_Johns", "Asia/Kolkata", "America/Los_Angeles", "Pacific/Chatham"]

SCRIPT = textwrap.dedent(
    """
    import datetime as dt, json, sys
    import numpy as np, pandas as pd
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    sys.path.insert(0, {tests!r})
    from conftest import run

    cfg = Config()
    cfg.HistoryManager.hist_file = ":memory:"
    cfg.SegmentMagics.endpoint = {url!r}
    cfg.SegmentMagics.progress = False
    shell = InteractiveShell(config=cfg)
    shell.run_line_magic("load_ext", "segment_magics")
    shell.user_ns.update(dt=dt, np=np, pd=pd)
    out = {{}}

    def cell(name, code):
        done = run(shell, code)
        out[name] = {{"text": done.text, "html": done.html, "stderr": done.stderr,
                     "error": repr(done.error) if done.error else None}}

    cell("now", "%segment_track Clock --user-id u --message-id tz-now --timestamp {{dt.datetime.now()}}")
    cell("utcnow", "%segment_track Clock --user-id u --message-id tz-utcnow "
                   "--timestamp {{dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)}}")
    shell.user_ns["props"] = {{"at": dt.datetime.now(), "pandas": pd.Timestamp.now()}}
    cell("props", "%segment_track Props --user-id u --message-id tz-props --properties props")
    cell("text", "%segment_track Text --user-id u --message-id tz-text --timestamp 2024-07-01T12:00:00")
    cell("local", "%config SegmentMagics.naive_timezone = 'local'")
    cell("july", "%segment_track July --user-id u --message-id tz-july "
                 "--timestamp {{dt.datetime(2024, 7, 1, 12)}}")
    cell("numpy", "%segment_track Numpy --user-id u --message-id tz-numpy "
                  "--timestamp {{np.datetime64('2024-01-15T08:00')}}")
    shell.user_ns["frame"] = pd.DataFrame({{
        "user_id": ["a", "b", "c"],
        "message_id": ["tz-row-0", "tz-row-1", "tz-row-2"],
        "timestamp": pd.to_datetime(["2024-01-15 08:00", "2024-07-01 12:00", "2023-12-31 23:30"]),
        "shipped": pd.to_datetime(["2024-01-16 09:15", None, "2024-01-01 00:15"]),
    }})
    cell("frame", "%segment_track Backfill --from frame")
    cell("berlin", "%config SegmentMagics.naive_timezone = 'Europe/Berlin'")
    cell("berlin_call", "%segment_track Berlin --user-id u --message-id tz-berlin "
                        "--timestamp {{dt.datetime(2024, 7, 1, 12)}}")
    cell("bad", "%config SegmentMagics.naive_timezone = 'Europe/Berln'")
    cell("history", "%segment_history")
    out["kept"] = shell.run_line_magic("config", "SegmentMagics.naive_timezone")
    print(json.dumps(out))
    """
)


def _run_in(zone: str, url: str, tmp_path) -> dict:
    script = tmp_path / "zones.py"
    script.write_text(SCRIPT.format(url=url, tests=str(Path(__file__).parent)))
    env = {**os.environ, "TZ": zone, "SEGMENT_MAGICS_OUTBOX": str(tmp_path / "outbox.sqlite")}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _at(zone: str, *wall: int) -> dt.datetime:
    return dt.datetime(*wall, tzinfo=ZoneInfo(zone)).astimezone(dt.timezone.utc)


@pytest.mark.parametrize("zone", ZONES)
def test_naive_values_arrive_as_the_instant_they_name(zone, collector, tmp_path):
    started = dt.datetime.now(dt.timezone.utc)
    out = _run_in(zone, collector.url, tmp_path)
    finished = dt.datetime.now(dt.timezone.utc)
    kept = out.pop("kept")
    for name, cell in out.items():
        assert cell["error"] is None, (name, cell)
    events = {e["messageId"]: e for e in collector.events()}
    near = dt.timedelta(seconds=2)

    # guess: datetime.now() is local time, a UTC wall clock is UTC; both are "now"
    for mid in ("tz-now", "tz-utcnow"):
        assert started - near <= _instant(events[mid]["timestamp"]) <= finished + near, mid
    assert "read as local time" in out["now"]["text"] and zone in out["now"]["text"]
    assert "read as UTC" in out["utcnow"]["text"]
    props = events["tz-props"]["properties"]
    for key in ("at", "pandas"):
        assert started - near <= _instant(props[key]) <= finished + near, key
    # guess: a text without an offset, far from now, is UTC, and says so
    assert _instant(events["tz-text"]["timestamp"]) == _at("UTC", 2024, 7, 1, 12)
    assert "without an offset" in out["text"]["text"] and "read as UTC" in out["text"]["text"]

    # local: the wall time in this zone, including a numpy datetime64 as the timestamp
    assert _instant(events["tz-july"]["timestamp"]) == _at(zone, 2024, 7, 1, 12)
    assert _instant(events["tz-numpy"]["timestamp"]) == _at(zone, 2024, 1, 15, 8)
    assert "numpy datetime64" in out["numpy"]["text"]

    # a backfill: every naive cell read the same way, the summary counts them once
    expected = {
        "tz-row-0": ((2024, 1, 15, 8, 0), (2024, 1, 16, 9, 15)),
        "tz-row-1": ((2024, 7, 1, 12, 0), None),
        "tz-row-2": ((2023, 12, 31, 23, 30), (2024, 1, 1, 0, 15)),
    }
    for mid, (stamp, shipped) in expected.items():
        assert _instant(events[mid]["timestamp"]) == _at(zone, *stamp), mid
        got = events[mid]["properties"].get("shipped")
        assert (got and _instant(got)) == (shipped and _at(zone, *shipped)), mid
    summary = out["frame"]["html"]
    assert summary.count("naive datetime") == 1, summary
    assert f"5 naive datetimes (no time zone) read as local time ({zone}" in summary

    # a named zone, whatever the machine's
    assert _instant(events["tz-berlin"]["timestamp"]) == _at("Europe/Berlin", 2024, 7, 1, 12)
    # a misspelt zone: IPython's %config shows the error; the setting keeps its value
    assert "did you mean 'Europe/Berlin'" in out["bad"]["stderr"]
    assert kept == "Europe/Berlin"

    # the history's times are UTC, whatever the machine's zone, and its header says so
    lines = out["history"]["text"].splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("time (UTC)"))
    shown = dt.datetime.strptime(lines[header + 2][:19], "%Y-%m-%d %H:%M:%S")
    shown = shown.replace(tzinfo=dt.timezone.utc)
    assert started - near <= shown <= finished + near, lines[header + 2]


def test_a_client_reads_naive_values_by_its_setting(collector):
    naive = dt.datetime(2024, 3, 31, 1, 30)  # the night the clocks go forward in Europe
    settings = ["UTC", "Europe/Berlin", "Asia/Kathmandu"]  # Kathmandu: UTC+05:45
    for setting in settings:
        client = SegmentClient(endpoint=collector.url, naive_timezone=setting)
        result = client.track("Clock", user_id="u", timestamp=naive, message_id=f"c-{setting}")
        assert result.ok, result.error_message
        (note,) = result.warnings
        assert note.startswith("timestamp was a naive datetime") and setting in note
    events = {e["messageId"]: e for e in collector.events()}
    for setting in settings:
        arrived = _instant(events[f"c-{setting}"]["timestamp"])
        assert arrived == _at(setting, 2024, 3, 31, 1, 30), setting


def test_a_day_as_the_event_time_is_its_midnight_in_the_zone_set(collector):
    """A date (a ``datetime.date``, ``"2024-07-01"``, a date column) as the timestamp is
    midnight where naive values are read: in Berlin when the setting says Berlin, as a
    naive midnight already was (before: UTC midnight, two hours off, and not noted).
    Under the guess it stays UTC midnight, as Segment reads a bare date; a date among
    the properties stays a calendar date."""
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    day = dt.date(2024, 7, 1)
    table = {"userId": ["u"], "timestamp": [day], "day": [day]}
    for setting, expected in [("Europe/Berlin", _at("Europe/Berlin", 2024, 7, 1)),
                              ("guess", _at("UTC", 2024, 7, 1))]:  # fmt: skip
        client = SegmentClient(endpoint=collector.url, naive_timezone=setting)
        collector.reset()
        for given in (day, "2024-07-01"):
            result = client.track("Daily", user_id="u", timestamp=given, properties={"day": day})
            noted = [w for w in result.warnings if "was a date" in w]
            assert len(noted) == (setting != "guess"), result.warnings
        sources = [pd.DataFrame(table), pl.DataFrame(table), pa.Table.from_pydict(table),
                   [{"userId": "u", "timestamp": day, "day": day}]]  # fmt: skip
        for source in sources:
            assert client.send_many(source, "track", event="Daily", progress=False).accepted == 1
        events = collector.events()
        assert len(events) == 6
        for event in events:
            assert _instant(event["timestamp"]) == expected, (setting, event)
            assert event["properties"]["day"] == "2024-07-01"


def test_aware_values_are_never_noted(client, collector):
    aware = dt.datetime(2024, 1, 15, 10, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    result = client.track("Clock", user_id="u", timestamp=aware, properties={"at": aware})
    assert result.ok and result.warnings == ()
    (event,) = collector.events()
    assert event["timestamp"] == event["properties"]["at"] == "2024-01-15T05:00:00.000Z"


def test_a_wall_time_that_a_clock_change_skips_or_repeats_reads_like_python():
    """Columns are read with pandas; the cells pandas cannot place (the hour skipped in
    spring, the hour repeated in autumn) are read one by one, exactly like a datetime."""
    import numpy as np

    policy = NaiveTime.of("America/New_York")
    walls = ["2024-03-10T02:30", "2024-11-03T01:30", "2024-06-01T12:00", "NaT"]
    stamps = np.array(walls, dtype="datetime64[ms]")
    utc, notes = policy.read_column(stamps, "when")
    for wall, got, note in zip(walls[:3], utc[:3], notes[:3], strict=True):
        aware, _ = policy.read(dt.datetime.fromisoformat(wall), "when")
        assert got == np.datetime64(aware.replace(tzinfo=None), "ms"), wall
        assert note is not None and "America/New_York" in note
    assert np.isnat(utc[3]) and notes[3] is None


def test_a_bad_setting_is_refused_with_the_fix(make_shell, caplog):
    shell = make_shell()
    run(shell, "%config SegmentMagics.naive_timezone = 'Mars/Olympus'")  # IPython logs it
    assert "'Mars/Olympus' is not a time zone" in caplog.text
    assert "'guess', 'UTC', 'local'" in caplog.text
    assert shell.run_line_magic("config", "SegmentMagics.naive_timezone") == "guess"
    with pytest.raises(Exception, match="naive_timezone"):
        SegmentClient(naive_timezone="nowhere")
