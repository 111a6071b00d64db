"""Auditing history against a plan: exports with known answers, broken input, the same
verdicts from the column checks as from the row checker, DataFrames and the magics."""

from __future__ import annotations

import gzip
import importlib
import json
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from conftest import run
from hypothesis import HealthCheck, given, settings

from segment_magics.plan import audit, load_plan
from segment_magics.plan.audit import Window, audit_messages
from segment_magics.plan.audit_sql import compile_plan
from segment_magics.plan.compact import parse_compact
from segment_magics.plan.sample_export import sample_plan, write_export
from segment_magics.plan.templates import TEMPLATES

pytest.importorskip("duckdb", reason="pip install 'segment-magics[audit]'")
PLANS = sorted((Path(__file__).with_name("data") / "plans").glob("*.json"))
audit_module = importlib.import_module("segment_magics.plan.audit")  # (not the function)


def groups(report) -> dict[tuple[str, str, str], int]:
    return {(g.event, g.field, g.kind): g.count for g in report.groups}


@pytest.fixture(params=["isa-l", "duckdb"])
def reader(request, monkeypatch):
    """Each export test runs with both readers of text files: ISA-L streaming lines to
    DuckDB (:mod:`.audit_feed`), and DuckDB's own (without the ``isal`` extra). With
    the first, DuckDB's own reader must not be needed for any file it can read."""
    from segment_magics.plan import audit_feed

    if request.param == "duckdb":
        monkeypatch.setattr(audit_feed, "available", lambda: False)
        yield request.param
        return
    if not audit_feed.available():
        pytest.skip("pip install 'segment-magics[audit]' (isal, pyarrow)")
    read, by_duckdb = [], []
    real, real_read = audit_feed.Lines.stream, audit_module._read
    monkeypatch.setattr(audit_feed.Lines, "stream", lambda self: read.append(self.files) or
                        real(self))  # fmt: skip
    monkeypatch.setattr(audit_module, "_read", lambda con, files, kind, *rest:
                        by_duckdb.append(kind) or real_read(con, files, kind, *rest))  # fmt: skip
    yield request.param
    assert read, "the audit read no file through ISA-L"
    assert "text" not in by_duckdb, "DuckDB's own reader read what the stream should have"


# -- known answers ---------------------------------------------------------------------------
def test_an_export_is_audited_exactly_group_by_group(tmp_path, reader):
    truth = write_export(tmp_path, 12_000, per_file=1_000, bad_lines=4)
    report = audit(sample_plan(), str(tmp_path))
    assert report.messages == truth.messages and report.tally.broken == truth.broken
    assert groups(report) == dict(truth.groups)
    assert report.tally.bad_lines == 4
    assert all(line > 0 and where.endswith(".gz") for where, line, _ in report.tally.bad)
    assert "column checks" in report.engine
    volume = report.tally.volume
    for g in report.groups:  # shares, first and last seen, examples
        assert g.first <= g.last and 1 <= len(g.examples) <= 5
        assert report.share(g) == pytest.approx(g.count / volume[g.event])
    frame = report.to_pandas()
    assert set(frame.columns) >= {"event", "field", "kind", "count", "share", "first", "last"}
    assert int(frame["count"].sum()) == sum(truth.groups.values())
    assert "1 unplanned event, by volume: Unplanned Event" in str(report)


def test_broken_files_and_lines_are_counted_listed_and_never_stop_an_audit(tmp_path, reader):
    truth = write_export(tmp_path, 6_000, per_file=1_000)
    files = sorted(tmp_path.rglob("*.gz"))
    data = files[2].read_bytes()
    files[2].write_bytes(data[: len(data) // 2])  # cut short
    files[3].write_bytes(b"this is not gzip at all")
    plain = tmp_path / "extra.ndjson"
    plain.write_text('{"type": "track", "event": "Event 01", "properties": {"id": "a-1", '
                     '"count": 1}}\nnot json\n[1, 2]\n')  # fmt: skip
    report = audit(sample_plan(), str(tmp_path))
    listed = {Path(where).name for where, _, _ in report.tally.bad}
    assert files[2].name in listed and files[3].name in listed and "extra.ndjson" in listed
    assert report.tally.bad_files == 2 and report.tally.bad_lines >= 2
    # every complete message was audited: the file cut short gave what it had
    assert truth.messages - 2_000 < report.messages < truth.messages + 2


def test_a_folders_hidden_and_marker_files_are_not_read_as_messages(tmp_path, reader):
    """An export copied on a Mac (``.DS_Store``, ``._`` copies of each file), kept beside
    a notebook (``.ipynb_checkpoints``) or written by Spark (``_SUCCESS``) had those read
    as messages and listed as broken. A folder's names starting with ``.`` or ``_`` are
    left out, as Arrow's datasets leave them; a file named on its own is still read."""
    truth = write_export(tmp_path, 3_000, per_file=1_000)
    day = next(tmp_path.rglob("*.gz")).parent
    (day / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (day / "._00000.json.gz").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "messages.ndjson").write_text('{"type": "track"}\n')
    report = audit(sample_plan(), str(tmp_path))
    assert report.messages == truth.messages and groups(report) == dict(truth.groups)
    assert report.tally.bad == [] and report.tally.bad_files == 0
    alone = audit(sample_plan(), str(day / ".DS_Store"))
    assert [Path(where).name for where, _, _ in alone.tally.bad] == [".DS_Store"]


def test_lines_duckdb_refuses_are_read_by_the_row_checker_with_the_same_verdicts(tmp_path, reader):
    """A line longer than DuckDB's line limit, bytes that are not UTF-8, a line that
    is JSON but no object, a byte order mark, Windows line ends: DuckDB stops on the
    first two with an error; each such file is set aside and read line by line. The
    audit says of every file what the row checker says, line numbers included."""
    from segment_magics.plan.audit import _audit_files_by_rows, find_files

    write_export(tmp_path, 3_000, per_file=1_000)
    good = json.dumps({"type": "track", "event": "Event 01", "userId": "u", "messageId": "m",
                       "timestamp": "2024-01-02T00:00:00Z", "properties": {"id": "a-1"}})  # fmt: skip
    odd = {
        "long.gz": good[:-2] + ', "blob": "' + "x" * 3_000_000 + '"}}\n' + good + "\n",
        "latin1.gz": good + "\n" + good[:-2] + ', "n": "caf\xe9"}}\n',
        "array.gz": good + "\n[1, 2]\n\n" + good + "\n",
        "bom.gz": "\ufeff" + good + "\n",
        "crlf.gz": good + "\r\n" + good + "\r\n",
    }
    for name, text in odd.items():
        encoding = "latin-1" if name == "latin1.gz" else "utf-8"
        (tmp_path / name).write_bytes(gzip.compress(text.encode(encoding)))
    report = audit(sample_plan(), str(tmp_path))
    window = Window(None, None, None)
    plan = load_plan(sample_plan())
    rows = _audit_files_by_rows(plan, str(tmp_path), *find_files(str(tmp_path), window), window)
    assert report.messages == rows.messages == 3_000 + 8
    assert groups(report) == groups(rows)
    assert sorted(report.tally.bad) == sorted(rows.tally.bad)
    listed = {(Path(where).name, line, why.split(" (")[0]) for where, line, why in report.tally.bad}
    assert listed == {("latin1.gz", 2, "not JSON"), ("array.gz", 2, "not a message object")}
    narrow = Window(None, None, ["Event 02"])  # what is not a message is listed all the same
    report = audit(sample_plan(), str(tmp_path), events=["Event 02"])
    rows = _audit_files_by_rows(plan, str(tmp_path), *find_files(str(tmp_path), narrow), narrow)
    assert report.messages == rows.messages and groups(report) == groups(rows)
    assert sorted(report.tally.bad) == sorted(rows.tally.bad) and len(report.tally.bad) == 2
    assert "skipped: 2 lines not a message (not JSON, or not an object)" in str(report)


def test_a_gzip_file_of_several_members_is_read_whole_by_both_checkers(tmp_path, reader):
    """``cat a.gz b.gz > c.gz`` is one gzip file of two members: every line of it is
    audited, and a bad line in the second member is listed with its own line number."""
    from segment_magics.plan.audit import _audit_files_by_rows, find_files

    write_export(tmp_path / "first", 1_000, per_file=1_000)
    write_export(tmp_path / "second", 1_000, per_file=1_000, seed=8)
    (one,), (two,) = sorted((tmp_path / "first").rglob("*.gz")), sorted(
        (tmp_path / "second").rglob("*.gz"))  # fmt: skip
    joined = tmp_path / "joined.gz"
    joined.write_bytes(one.read_bytes() + two.read_bytes() + gzip.compress(b"not json\n"))
    one.unlink(), two.unlink()
    window = Window(None, None, None)
    plan = load_plan(sample_plan())
    report = audit(sample_plan(), str(tmp_path))
    rows = _audit_files_by_rows(plan, str(tmp_path), *find_files(str(tmp_path), window), window)
    assert report.messages == rows.messages == 2_000
    assert groups(report) == groups(rows)
    assert sorted(report.tally.bad) == sorted(rows.tally.bad)
    assert [(Path(w).name, n, why[:8]) for w, n, why in report.tally.bad] == [
        ("joined.gz", 2_001, "not JSON")]  # fmt: skip


def test_odd_files_get_the_row_checkers_verdicts(tmp_path, reader):
    """Blank and space-only lines, Windows line ends, no newline at the end, zeros after
    a gzip member (which gzip allows, and DuckDB stumbles on), an empty file, a plain
    .json file: counted, broken and listed exactly as the row checker does, and a file
    is listed only when something in it is wrong."""
    from segment_magics.plan.audit import _audit_files_by_rows, find_files

    good = json.dumps({"type": "track", "event": "Event 01", "userId": "u", "messageId": "m",
                       "timestamp": "2024-01-02T00:00:00Z", "properties": {"id": "a-1"}})  # fmt: skip
    broken = good.replace('"a-1"', "5")
    odd = {
        "blank.gz": gzip.compress(f"\n{good}\n   \n\t\n \r\n{broken}\n\n".encode()),
        "crlf_no_end.gz": gzip.compress(f"{good}\r\n{broken}\r\n{good}".encode()),
        "zeros.gz": gzip.compress(f"{good}\n".encode()) + b"\0" * 8,
        "empty.gz": gzip.compress(b""),
        "plain.json": f"{good}\n{broken}\nnot json\n".encode(),
        "nothing.ndjson": b"",
    }
    for name, data in odd.items():
        (tmp_path / name).write_bytes(data)
    window = Window(None, None, None)
    plan = load_plan(sample_plan())
    rows = _audit_files_by_rows(plan, str(tmp_path), *find_files(str(tmp_path), window), window)
    assert rows.messages == 8 and groups(rows)["Event 01", "properties.id", "wrong type"] == 3
    assert [(Path(w).name, n) for w, n, _ in rows.tally.bad] == [("plain.json", 3)]
    report = audit(sample_plan(), str(tmp_path))
    assert (report.messages, report.tally.broken) == (8, rows.tally.broken)
    assert groups(report) == groups(rows)
    assert sorted(report.tally.bad) == sorted(rows.tally.bad)


def test_a_file_gone_since_it_was_listed_is_named_not_a_traceback(tmp_path):
    from segment_magics.plan.audit_lines import file_by_rows
    from segment_magics.plan.audit_report import Tally
    from segment_magics.plan.validate import PlanValidator

    tally = Tally()
    gone = str(tmp_path / "gone.json.gz")
    file_by_rows(gone, tally, PlanValidator(load_plan(sample_plan())), Window(None, None, None))
    assert tally.bad == [(gone, 0, "the file could not be read (No such file or directory)")]


def test_a_file_name_that_is_not_utf8_is_shown_escaped_in_tables_and_errors(tmp_path, reader,
                                                                           make_shell):  # fmt: skip
    """Python reads such a name with a lone surrogate per byte, which no table, error or
    notebook output can encode: the byte is shown as ``\\xff`` instead."""
    import os

    write_export(tmp_path / "export", 100)
    odd = os.fsdecode(b"odd\xff.ndjson")  # with the lone surrogate '\udcff'
    (tmp_path / "export" / odd).write_bytes(
        b'{"type": "track", "event": "Event 01", "properties": {}}\nnot json\n'
    )
    report = audit(sample_plan(), str(tmp_path / "export"))
    assert report.messages == 101 and report.tally.bad_lines == 1
    for shown in (str(report), report._repr_html_()):
        shown.encode("utf-8")  # (raised UnicodeEncodeError)
        assert "odd\\xff.ndjson:2" in shown
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / odd).write_bytes(
        b'{"type": "track", "event": "Order Completed", "properties": {}}\n'
    )
    shell = make_shell()
    shell.run_cell("%segment_plan load ecommerce")
    for line in (f"%segment_plan check {tmp_path / 'alone'}",
                 f"%segment_plan audit {tmp_path / 'alone'}"):  # fmt: skip
        outcome = run(shell, line)
        assert outcome.error is None, line
        json.dumps(outcome.outputs).encode("utf-8")  # what the kernel sends
    assert "odd\\xff.ndjson" in run(shell, f"%segment_plan check {tmp_path / 'alone'}"
                                      ).outputs[-1]["text/html"]  # fmt: skip
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "tables" / os.fsdecode(b"t\xfe.parquet")
    parquet.parent.mkdir()
    plain = tmp_path / "t.parquet"  # (pyarrow cannot write to such a name)
    pq.write_table(pa.Table.from_pylist([{"type": "track", "event": "Event 01"}]), plain)
    plain.rename(parquet)
    named = audit(sample_plan(), str(tmp_path / "tables"))
    ((where, _, why),) = named.tally.bad  # DuckDB cannot be given the name: said, no traceback
    assert where == str(parquet) and "not UTF-8: rename it" in why
    assert "t\\xfe.parquet" in str(named)
    gone = str(tmp_path / "export" / os.fsdecode(b"gone\xfe.json.gz"))
    with pytest.raises(Exception) as raised:
        audit(sample_plan(), gone)
    assert "gone\\" in str(raised.value) and ".json.gz" in str(raised.value)
    str(raised.value).encode("utf-8")


def test_a_long_audit_shows_a_progress_bar_that_ends_full(tmp_path, monkeypatch, capsys,
                                                         make_shell, reader):  # fmt: skip
    """Months of history take minutes: past two seconds (none here) a bar counts the
    files' bytes, a pass at a time, and ends at 100 %, then goes away."""
    write_export(tmp_path / "export", 3_000, per_file=500)
    (tmp_path / "export" / "cut.json.gz").write_bytes(gzip.compress(b'{"type": "tr')[:-5])
    total = sum(f.stat().st_size for f in (tmp_path / "export").rglob("*") if f.is_file())
    bars = []

    def shown(*args, **options):
        bars.append(real(*args, **{**options, "mininterval": 0, "miniters": 1}))
        return bars[-1]

    real = audit_module.progress_bar
    monkeypatch.setattr(audit_module, "progress_bar", shown)
    monkeypatch.setattr(audit_module, "BAR_AFTER", 0)  # (two seconds in use)
    monkeypatch.setattr(audit_module, "PASS_BYTES", 1)  # a pass a file: the bar moves
    monkeypatch.setattr(audit_module, "PASS_BYTES_ROWS", 1)
    report = audit(sample_plan(), str(tmp_path / "export"))
    assert report.messages == 3_000 and report.tally.bad_files == 1
    (bar,) = bars
    assert bar.n == bar.total == total
    shown = capsys.readouterr().err
    assert "segment audit" in shown and "100%" in shown and shown.count("segment audit") > 2
    bars.clear()
    audit(sample_plan(), str(tmp_path / "export"), progress=False)
    assert bars == [] and "segment audit" not in capsys.readouterr().err
    shell = make_shell()
    shell.run_cell("%segment_plan load ecommerce")
    quiet = run(shell, f"%segment_plan audit {tmp_path / 'export'} --no-progress")
    assert quiet.error is None and bars == []
    loud = run(shell, f"%segment_plan audit {tmp_path / 'export'}")
    assert loud.error is None and len(bars) == 1 and bars[0].n == total


def test_a_rule_that_cannot_be_checked_is_not_called_unplanned_by_either_checker(tmp_path):
    """A rule whose schema does not compile (an invalid pattern) is noted as not checked;
    its event's messages were then called "not in the plan; did you mean" the same name
    by the row checker, and checked anyway by the column checks; a schema the column
    compiler does not foresee ("required": 5) raised TypeError from it, and a rule that
    requires more of a message than its properties was read as if it did not (found by
    a fuzz of mutated real plans, audited by both checkers)."""
    import warnings

    from segment_magics.plan import PlanValidator
    from segment_magics.plan.audit import _audit_files_by_rows, find_files

    def rule(key: str, body: dict) -> dict:
        return {"type": "TRACK", "key": key, "version": 1,
                "jsonSchema": {"properties": {"properties": {"type": "object", **body}}}}  # fmt: skip

    plan_json = {"name": "p", "rules": [
        rule("Broken", {"properties": {"code": {"type": "string", "pattern": "("}}}),
        rule("Odd", {"required": 5, "properties": {"n": {"type": "integer"}}}),
        rule("Fine", {"required": ["id"]}),
        {"type": "TRACK", "key": "Needs", "version": 1, "jsonSchema": {
            "required": ["properties", "context"], "properties": {"properties": {}}}},
    ]}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = load_plan(plan_json)
        validator = PlanValidator(plan)
    assert validator.check({"type": "track", "event": "Broken", "properties": {"code": 1}}) == []
    assert any("not checked: Broken" in remark for remark in validator.remarks())
    lines = [{"type": "track", "event": e, "userId": "u", "messageId": f"m{i}",
              "timestamp": "2024-01-02T00:00:00Z", "properties": p}
             for i, (e, p) in enumerate([("Broken", {"code": 1}), ("Odd", {"n": "x"}),
                                         ("Fine", {}), ("Other", {}), ("Needs", {})])]  # fmt: skip
    (tmp_path / "a.gz").write_bytes(gzip.compress("\n".join(map(json.dumps, lines)).encode()))
    window = Window(None, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = audit(plan, str(tmp_path))
        rows = _audit_files_by_rows(plan, str(tmp_path), *find_files(str(tmp_path), window),
                                    window)  # fmt: skip
    assert groups(report) == groups(rows)
    assert not any(event == "Broken" for event, _, _ in groups(report))
    assert ("Other", "event", "unplanned event") in groups(report)
    assert ("Needs", "context", "missing required") in groups(report)  # not only properties
    every = {"name": "q", "rules": [{"type": "TRACK", "key": None, "version": 1, "jsonSchema": {
        "properties": {"properties": {"type": "object", "required": ["id"]}}}}]}  # fmt: skip
    report = audit(every, str(tmp_path))  # a rule for every event: none is unplanned
    rows = _audit_files_by_rows(load_plan(every), str(tmp_path), *find_files(str(tmp_path),
                                window), window)  # fmt: skip
    assert groups(report) == groups(rows) and groups(rows)["Other", "properties.id",
                                                           "missing required"] == 1  # fmt: skip


def test_a_dataframe_cell_with_one_odd_value_keeps_the_rest_of_its_object(tmp_path):
    """A DataFrame cell's object with one odd value (an integer beyond 64 bits) was
    checked as the object's text ("properties: wrong type"), hiding every other field;
    now the odd value alone is, and the audit says what the same line in a file gives
    (found by auditing the same messages as files, lists and DataFrames)."""
    import pandas as pd

    message = {"type": "track", "event": "Event 01", "userId": "u", "messageId": "m2",
               "timestamp": "2024-01-02T00:00:00Z",
               "properties": {"id": "a-1", "count": 2**64 + 1, "extra": 1}}  # fmt: skip
    (tmp_path / "a.gz").write_bytes(gzip.compress(json.dumps(message).encode()))
    from_file = groups(audit(sample_plan(), str(tmp_path)))
    framed = groups(audit(sample_plan(), pd.DataFrame([message])))
    assert framed == from_file == groups(audit(sample_plan(), [message]))
    assert ("Event 01", "properties.extra", "unplanned property") in framed


def test_a_window_that_holds_nothing_or_a_folder_without_exports_is_told(tmp_path, make_shell):
    """An audit that could only say "no messages read" says why instead, before reading."""
    from segment_magics.errors import ValidationError

    write_export(tmp_path / "export", 100)
    for since, until in (
        ("2024-02-01", "2024-01-01"),
        ("2024-01-02T05:00+05:00", "2024-01-01T23:30:00Z"),
    ):
        with pytest.raises(ValidationError, match=r"until: .* is not after since="):
            audit(sample_plan(), str(tmp_path / "export"), since=since, until=until)
    assert audit(sample_plan(), str(tmp_path / "export"), since="2024-01-01",
                 until="2024-01-01").messages == 100  # one whole day  # fmt: skip
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.md").write_text("not an export")
    with pytest.raises(ValidationError, match=r"source: no export files at .*notes.* \(1 other"):
        audit(sample_plan(), str(tmp_path / "notes"))
    shell = make_shell()
    shell.run_cell("%segment_plan load ecommerce")
    outcome = run(shell, f"%segment_plan audit {tmp_path / 'export'} --since 2024-03-01 "
                         "--until 2024-02-01")  # fmt: skip
    assert outcome.error is not None and "is not after since=" in str(outcome.error)


def test_a_narrowed_audit_says_so_and_a_misspelt_event_gets_the_closest_name(tmp_path):
    """An empty window must not read "no messages read" (they were read: none matched)
    nor "no violations" in green; a name in ``events`` that neither the export nor the
    plan has is most likely misspelt, and the report says which planned name is close."""
    write_export(tmp_path, 1_000, per_file=500)
    for source in (str(tmp_path), _messages(tmp_path)):  # DuckDB and the row checker
        missed = audit(sample_plan(), source, events=["Evnt 03", "Event 04"])
        text = str(missed)
        assert "window: events 'Evnt 03', 'Event 04'" in text
        assert "events: no message is 'Evnt 03', nor does the plan list it; did you mean " \
               "'Event 03'?" in text  # fmt: skip
        assert "'Event 04', nor" not in text and missed.messages > 0
        empty = audit(sample_plan(), source, since="2030-01-01", events="Page Viewed")
        assert "no messages in the window" in str(empty) and "nothing to check" in str(empty)
        assert 'class="sm-ok"' not in empty._repr_html_() and "no messages read" not in str(empty)
        assert "did you mean" not in str(empty)  # nothing planned is close to it
        assert "window:" not in str(audit(sample_plan(), source))
    one = audit(sample_plan(), _messages(tmp_path)[:1])
    assert str(one).count("1 message, ") == 1 and "1 messages" not in str(one)
    undated = audit(sample_plan(), [{"type": "track", "event": "Event 01", "properties": {}}])
    assert "100.0%  no timestamp" in str(undated)  # not a blank "first … last" range


def test_the_table_never_says_all_clear_while_messages_break_the_plan(tmp_path):
    """Only unplanned events: the table must not read "no violations" in green above
    "100 % breaking the plan"; more groups than rows shown: it says how many there are."""
    write_export(tmp_path, 1_000, per_file=1_000)
    only_unplanned = audit(parse_compact("Somebody Else\n  id: string"), str(tmp_path))
    html, text = only_unplanned._repr_html_(), str(only_unplanned)
    assert "no violations of the planned events' rules" in text and 'class="sm-ok"' not in html
    assert "21 unplanned events, by volume" in text  # with the export's Unplanned Event
    clean = audit(sample_plan(), [m for m in _messages(tmp_path) if m["event"] == "Event 01"
                                  and not _broken(m)])  # fmt: skip
    assert "no violations" in str(clean) and 'class="sm-ok"' in clean._repr_html_()
    many = parse_compact("\n".join(f"Event {i:02d}\n  a: string!\n  b: string!\n  c: string!"
                                   for i in range(20)))  # three missing fields each  # fmt: skip
    crowded = audit(many, str(tmp_path))  # every event breaks it in many ways
    groups_found = len([g for g in crowded.groups if g.kind != "unplanned event"])
    assert groups_found > 50 and f"showing the 50 largest of {groups_found:,} groups" in str(
        crowded)  # fmt: skip


def _messages(root):
    return [json.loads(line) for f in sorted(Path(root).rglob("*.gz"))
            for line in gzip.decompress(f.read_bytes()).splitlines()]  # fmt: skip


def _broken(message):
    from segment_magics.plan import PlanValidator

    return bool(PlanValidator(sample_plan()).check(message))


def test_since_until_and_events_narrow_it(tmp_path):
    write_export(tmp_path, 8_000, days=8)
    plan = sample_plan()
    narrow = audit(plan, str(tmp_path), since="2024-01-03", until="2024-01-05",
                   events=["Event 01", "Event 02"])  # fmt: skip
    lines = [json.loads(line) for f in sorted(tmp_path.rglob("*.gz"))
             for line in gzip.decompress(f.read_bytes()).splitlines()]  # fmt: skip
    expected = audit_messages(plan, lines, "lines", Window("2024-01-03", "2024-01-05",
                                                            ["Event 01", "Event 02"]))  # fmt: skip
    assert narrow.messages == expected.messages > 0
    assert groups(narrow) == groups(expected)
    assert {g.event for g in narrow.groups} <= {"Event 01", "Event 02"}


def test_late_events_in_a_later_days_folder_are_in_the_window_of_their_timestamp(tmp_path):
    """Segment files a message under the day it was received: a phone offline for a
    week sends January's events in February. ``--until`` January must still count them;
    they were skipped with the February folder. A folder received before ``--since``
    holds nothing later, and is still not opened."""
    write_export(tmp_path, 3_000, days=3, per_file=500)  # 2024-01-01 .. 01-03
    days = sorted(p for p in tmp_path.rglob("*") if p.is_dir() and p.name.isdigit())
    late = days[-1].parent / str(int(days[-1].name) + 7 * 86_400_000)  # a week later
    late.mkdir()
    moved = sorted(days[1].glob("*.gz"))[0]  # January 2nd's events, received on the 10th
    moved.rename(late / moved.name)
    lines = [json.loads(line) for f in sorted(tmp_path.rglob("*.gz"))
             for line in gzip.decompress(f.read_bytes()).splitlines()]  # fmt: skip
    for since, until in ((None, "2024-01-02"), ("2024-01-02", "2024-01-02"),
                         ("2024-01-02T12:00Z", None)):  # fmt: skip
        window = Window(since, until, None)
        expected = audit_messages(sample_plan(), lines, "lines", window)
        report = audit(sample_plan(), str(tmp_path), since=since, until=until)
        assert report.messages == expected.messages > 0, (since, until)
        assert groups(report) == groups(expected)
    (days[0] / "x.json").write_text("not json\n")  # received before the window: not opened
    assert not audit(sample_plan(), str(tmp_path), since="2024-01-02").tally.bad


def test_timestamps_with_offsets_are_windowed_and_dated_by_their_utc_instant(tmp_path):
    """``2024-01-02T01:00:00+05:00`` happened on January 1st (UTC): its text sorts and
    dates it a day late. Both checkers read such timestamps as the instant they are."""
    plan = parse_compact("Signed Up\n  plan: string!\n")
    stamps = ["2024-01-02T01:00:00+05:00", "2024-01-01T22:00:00-05:00", "2024-01-02T12:00:00Z",
              "2024-01-03T00:30:00+01:00", "2024-01-03T00:30:00+00:00"]  # fmt: skip
    messages = [{"type": "track", "event": "Signed Up", "userId": "u", "messageId": f"m{n}",
                 "timestamp": stamp, "properties": {}} for n, stamp in enumerate(stamps)]  # fmt: skip
    path = tmp_path / "messages.ndjson"
    path.write_text("\n".join(json.dumps(m) for m in messages) + "\n")
    by_columns = audit(plan, str(path), since="2024-01-02", until="2024-01-02")
    by_rows = audit_messages(plan, messages, "rows", Window("2024-01-02", "2024-01-02", None))
    for report in (by_columns, by_rows):
        assert report.messages == 3
        ((group),) = report.groups
        assert (group.first, group.last) == ("2024-01-02T03:00:00.000Z", "2024-01-02T23:30:00.000Z")
        assert sorted(group.examples) == ["m1", "m2", "m3"]
        assert dict(report.tally.per_day) == {("Signed Up", "2024-01-02"): 3}


def test_parquet_timestamps_are_read_alike_in_every_time_zone(tmp_path):
    """A Parquet file's timestamp columns (with a zone or without) are dated, ordered
    and windowed by their UTC instant, whatever TZ the machine has; the same messages
    as NDJSON give the same report."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    utc = dt.timezone.utc
    moments = [dt.datetime(2024, 1, 1, 23, 30, tzinfo=utc), dt.datetime(2024, 1, 2, 1, tzinfo=utc),
               dt.datetime(2024, 1, 2, 23, 59, tzinfo=utc)]  # fmt: skip
    plan = parse_compact("Signed Up\n  plan: string!\n")
    rows = [{"type": "track", "event": "Signed Up", "userId": "u", "messageId": f"m{n}",
             "timestamp": moment, "properties": {"plan": 5}} for n, moment in enumerate(moments)]  # fmt: skip
    naive = [{**r, "timestamp": r["timestamp"].replace(tzinfo=None)} for r in rows]
    zoned = pa.Table.from_pylist(rows)  # timestamp[us, tz=UTC]
    pq.write_table(zoned.set_column(4, "timestamp", zoned["timestamp"].cast(
        pa.timestamp("us", tz="Asia/Kolkata"))), tmp_path / "zoned.parquet")  # fmt: skip
    pq.write_table(pa.Table.from_pylist(naive), tmp_path / "naive.parquet")
    text = tmp_path / "text"
    text.mkdir()
    (text / "m.ndjson").write_text("\n".join(json.dumps(
        {**r, "timestamp": r["timestamp"].isoformat()}) for r in rows) + "\n")  # fmt: skip
    expected = audit(plan, str(text), since="2024-01-02")
    assert expected.messages == 2
    for name in ("zoned.parquet", "naive.parquet"):
        report = audit(plan, str(tmp_path / name), since="2024-01-02")
        assert report.messages == 2 and groups(report) == groups(expected)
        ((group),) = report.groups
        assert (group.first, group.last) == ("2024-01-02T01:00:00.000Z", "2024-01-02T23:59:00.000Z")
        assert dict(report.tally.per_day) == {("Signed Up", "2024-01-02"): 2}


# -- the column checks and the row checker agree ----------------------------------------------
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False),
    st.sampled_from(["", "a", "USD", "EUR", "x-1", "item-1", "A B", "2024-01-01"]),
    st.just([1, 2]), st.just({"k": "v"}),
)  # fmt: skip


def _messages_for(plan, draw_values):
    """Messages for every track rule: planned properties with drawn values (or left out),
    sometimes an unplanned property, sometimes an unplanned event."""
    rules = [r for r in plan.newest_rules() if r.type == "TRACK" and r.key]
    out = []
    for n, rule in enumerate(rules):
        props = dict(rule.body_schema.get("properties") or {})
        for variant in range(3):
            values = {}
            for i, name in enumerate(props):
                value = draw_values[(n * 7 + variant * 3 + i) % len(draw_values)]
                if value != "__missing__":
                    values[name] = value
            if variant == 2:
                values["not_in_plan"] = 1
            kind = ("track", "Track", "TRACK")[variant]  # a type is read in any case
            out.append({"type": kind, "event": rule.key, "userId": "u",
                        "messageId": f"m{n}-{variant}", "timestamp": f"2024-01-0{variant + 1}T00:00:00Z",
                        "properties": values})  # fmt: skip
    out.append({"type": "track", "event": "Nobody Planned This", "userId": "u",
                "timestamp": "2024-01-01T00:00:00Z", "properties": {}})  # fmt: skip
    out.append({"type": "identify", "userId": "u", "traits": {"email": 5}})
    out.append({"type": "IDENTIFY", "userId": "u", "traits": {"email": 5}})
    return out


def _both(plan, messages, tmp_path):
    path = tmp_path / "messages.ndjson"
    path.write_text("\n".join(json.dumps(m) for m in messages) + "\n")
    by_columns = audit(plan, str(path))
    by_rows = audit_messages(plan, messages, "rows")
    return by_columns, by_rows


SOURCES = [*PLANS, *sorted(TEMPLATES)]


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: getattr(s, "stem", s))
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(VALUES, st.just("__missing__")), min_size=5, max_size=12))
def test_the_column_checks_give_the_row_checkers_verdicts(source, tmp_path, draw_values):
    plan = load_plan(source)
    messages = _messages_for(plan, draw_values)
    by_columns, by_rows = _both(plan, messages, tmp_path)
    assert by_columns.messages == by_rows.messages == len(messages)
    assert by_columns.tally.broken == by_rows.tally.broken
    assert groups(by_columns) == groups(by_rows)


def _track_rule(event, props, required):
    from segment_magics.plan.model import Rule

    body = {"type": "object", "properties": props, "required": required}
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {"properties": body}, "required": ["properties"]}  # fmt: skip
    return Rule("TRACK", schema, key=event)


EDGE_PLAN_RULES = [
    ("Shapes A", {"qty": {"type": "integer", "minimum": 1, "exclusiveMaximum": 100},
                  "price": {"type": "number", "exclusiveMinimum": 0},
                  "tier": {"type": "string", "enum": ["gold", "silver"]},
                  "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
                  "note": {"type": ["string", "null"]},
                  'odd name.with "quote"': {"type": "boolean"}},
     ["qty", "tier", "only required"]),
    ("Shapes B", {"tier": {"enum": ["bronze", "ça va", 'say "hi"']},
                  "code": {"type": "string", "pattern": "^x+$"},
                  "qty": {"type": "number", "maximum": 5}}, ["code"]),
    ("Shapes C", {"qty": {"type": "integer"}, "tier": {"type": "string"}}, []),
]  # fmt: skip

# Lines as a real export may hold them: escapes, repeated keys, bodies of every kind.
EDGE_LINES = [
    '{"type":"track","event":"Shapes A","properties":{"qty":5,"price":1.5,"tier":"gold","code":"ABC"}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":3.0,"tier":"\\u0067old"}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":2.5,"tier":"gold","only required":1}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":100,"price":0,"tier":"Gold"}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":100000000000000000000,"tier":"gold"}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":"5","price":true,"tier":5,"code":"AB"}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":1,"tier":"gold","note":null}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":1,"tier":"gold","note":[1]}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":1,"tier":"gold","odd name.with \\"quote\\"":1}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":1,"tier":"gold","extra":{"a":1}}}',
    '{"type":"track","event":"Shapes A","properties":{"qty":1,"qty":"one","tier":"gold"}}',
    '{"type":"track","event":"Shapes A","properties":{ "qty" : 1 , "tier" : "gold" }}',
    '{"type":"track","event":"Shapes A","properties":"not an object"}',
    '{"type":"track","event":"Shapes A","properties":[1,2]}',
    '{"type":"track","event":"Shapes A","properties":null}',
    '{"type":"track","event":"Shapes A"}',
    '{"type":"track","event":"Shapes A","properties":{}}',
    '{"type":"track","event":"Shapes B","properties":{"tier":"ça va","code":"xx","qty":5}}',
    '{"type":"track","event":"Shapes B","properties":{"tier":"say \\"hi\\"","code":"x","qty":5.5}}',
    '{"type":"track","event":"Shapes B","properties":{"tier":"bronze","code":"y"}}',
    '{"type":"track","event":"Shapes B","properties":{"tier":"gold","qty":-1e3}}',
    '{"type":"track","event":"Shapes C","properties":{"qty":7,"tier":"any"}}',
    '{"type":"track","event":"Shapes C","properties":{"qty":7.25,"tier":1,"more":2}}',
    '{"type":"track","event":"Nobody Planned","properties":{}}',
    '{"type":"identify","userId":"u","traits":{"email":5}}',
    '{"type":"track","properties":{}}',
    '[1,2,3]',
    'null',
]  # fmt: skip


def test_the_column_checks_agree_with_the_row_checker_on_the_edges(tmp_path):
    from segment_magics.plan.model import Plan

    plan = Plan("edges", tuple(_track_rule(*rule) for rule in EDGE_PLAN_RULES))
    lines = []
    for n, line in enumerate(EDGE_LINES * 3):  # a few of each, on different days
        message = json.loads(line)
        if isinstance(message, dict):
            message["messageId"] = f"m{n}"
            message["timestamp"] = f"2024-02-0{n % 3 + 1}T10:00:0{n % 10}Z"
            line = line[:-1] + f',"messageId":"m{n}","timestamp":"{message["timestamp"]}"}}'
        lines.append(line)
    path = tmp_path / "edges.ndjson"
    path.write_text("\n".join(lines) + "\n   \n")
    by_columns = audit(plan, str(path))
    by_rows = audit_messages(plan, [json.loads(line) for line in lines], "rows")
    assert len(compile_plan(plan).events) == 3  # all three are checked as columns
    assert by_columns.messages == by_rows.messages == len(lines) - 6  # [1,2,3], null: not ones
    assert by_columns.tally.broken == by_rows.tally.broken
    assert groups(by_columns) == groups(by_rows)
    assert by_columns.tally.per_day == by_rows.tally.per_day

    def seen(report):
        return {(g.event, g.field, g.kind): (g.first, g.last) for g in report.groups}

    assert seen(by_columns) == seen(by_rows)
    assert by_columns.tally.bad_lines == 6 and by_columns.tally.bad_files == 0


def test_parquet_files_are_audited_as_their_rows_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for n in range(300):
        props = {"id": f"item-{n}" if n % 7 else "BAD", "count": n % 11 - 1,
                 "amount": float(n * 4 % 1200), "currency": ["USD", "EUR", "XXX"][n % 3],
                 "flag": n % 2 == 0}  # fmt: skip
        rows.append({"type": "track", "event": f"Event {n % 4:02d}" if n % 50 else "Other",
                     "messageId": f"m{n}", "timestamp": f"2024-03-0{n % 5 + 1}T00:00:00Z",
                     "properties": props})  # fmt: skip
    table = pa.Table.from_pylist(rows)
    pq.write_table(table.slice(0, 150), tmp_path / "a.parquet")
    pq.write_table(table.slice(150), tmp_path / "b.parquet")
    by_columns = audit(sample_plan(), str(tmp_path))
    by_rows = audit_messages(sample_plan(), table.to_pylist(), "rows")
    assert by_columns.messages == by_rows.messages == 300
    assert groups(by_columns) == groups(by_rows)
    assert len(groups(by_rows)) >= 5  # enum, minimum, maximum, pattern, unplanned event
    (tmp_path / "c.parquet").write_bytes(b"PAR1 and then nothing a Parquet reader wants")
    with_bad = audit(sample_plan(), str(tmp_path))
    assert groups(with_bad) == groups(by_rows) and with_bad.tally.bad_files == 1
    ((where, _, why),) = with_bad.tally.bad
    assert where.endswith("c.parquet") and why.startswith("not a Parquet file DuckDB can read")


def test_a_member_some_messages_lack_is_missing_in_tables_of_structs_not_null(tmp_path,
                                                                            make_shell):  # fmt: skip
    """A struct column (Parquet, Arrow, Polars) holds every member any message had,
    null where one had none: read as JSON null, each optional member a message lacked
    was a "wrong type" (and a message without properties had "properties": null). A null
    member is a member left out, as a null column is a field left out; JSON text keeps
    its explicit nulls."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segment_magics.plan import PlanValidator, check_messages

    plan = parse_compact(
        "Order Completed\n  order_id: string!\n  coupon: string\n  products: object[]\n"
        "    product_id: string!\n    price: number\n"
    )
    rows = [
        {"type": "track", "event": "Order Completed", "userId": "u", "messageId": "m1",
         "properties": {"order_id": "o1", "coupon": "c",
                        "products": [{"product_id": "p", "price": 1.5}]}},
        {"type": "track", "event": "Order Completed", "userId": "u", "messageId": "m2",
         "properties": {"order_id": "o2", "products": [{"product_id": "p"}]}},
        {"type": "track", "event": "Order Completed", "anonymousId": "a", "messageId": "m3"},
        {"type": "track", "event": "Order Completed", "userId": "u", "messageId": "m4",
         "properties": {"coupon": 5}},
        {"type": "identify", "userId": "u", "messageId": "m5", "traits": {"email": "e"}},
    ]  # fmt: skip
    expected = groups(audit_messages(plan, rows, "rows"))
    assert expected == {("Order Completed", "properties", "missing required"): 1,
                        ("Order Completed", "properties.order_id", "missing required"): 1,
                        ("Order Completed", "properties.coupon", "wrong type"): 1}  # fmt: skip
    # (a struct column has one type: m4's coupon is the text "5" there, a planned type)
    table = pa.Table.from_pylist([{**r, "properties": {"coupon": "5"}}
                                  if r["messageId"] == "m4" else r for r in rows])  # fmt: skip
    pq.write_table(table, tmp_path / "structs.parquet")
    as_text = [{**r, "properties": json.dumps(r["properties"])} if "properties" in r else r
               for r in rows]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(as_text), tmp_path / "text.parquet")
    in_structs = {**expected}
    del in_structs[("Order Completed", "properties.coupon", "wrong type")]
    for source, want in ((str(tmp_path / "structs.parquet"), in_structs),
                         (table, in_structs), (pl.from_arrow(table), in_structs),
                         (str(tmp_path / "text.parquet"), expected)):  # fmt: skip
        assert groups(audit(plan, source)) == want, type(source)
    for source, want in ((pl.from_arrow(table), 2), (table, 2)):
        checked = check_messages(PlanValidator(plan), source)
        assert checked.checked == 5 and len(checked.violations) == want, type(source)
    explicit = [{**rows[0], "properties": json.dumps({"order_id": "o", "coupon": None})}]
    pq.write_table(pa.Table.from_pylist(explicit), tmp_path / "null.parquet")
    assert groups(audit(plan, str(tmp_path / "null.parquet"))) == {
        ("Order Completed", "properties.coupon", "wrong type"): 1
    }  # JSON's null is null
    shell = make_shell()
    shell.user_ns["structs"] = pl.from_arrow(table)
    shell.run_cell("%segment_plan load ecommerce")
    inferred = run(shell, "%segment_plan infer --from structs -o inferred")
    assert inferred.error is None
    assert "null in" not in " ".join(shell.user_ns["inferred"].notes)


def test_parquet_rows_become_the_json_of_their_messages_without_struct_nulls(tmp_path):
    """Each Parquet row is written as JSON member by member from its columns' types;
    whatever the nesting (structs in lists in structs, lists of lists, maps, fixed-size
    arrays, names JSON or SQL must escape), it must equal the row read by pyarrow with
    its null members left out, as the table readers leave them out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segment_magics.plan.audit_duckdb import connect
    from segment_magics.plan.audit_files import parquet_lines
    from segment_magics.plan.tables import without_nulls

    item = pa.struct([("id", pa.string()), ("n", pa.int64()), ("tags", pa.list_(pa.string()))])
    schema = pa.schema([
        ("type", pa.string()), ("event", pa.string()), ('we"ird name', pa.float64()),
        ("properties", pa.struct([
            ("a", pa.string()), ("b", pa.struct([("c", pa.int64()), ("d", pa.bool_())])),
            ("items", pa.list_(item)), ("grid", pa.list_(pa.list_(item))),
            ("\u00e9t\u00e9 \"q\"", pa.string()),
        ])),
        ("context", pa.map_(pa.string(), pa.int64())),
        ("pair", pa.list_(pa.int64(), 2)),
    ])  # fmt: skip
    rows = [
        {"type": "track", "event": "E", 'we"ird name': 1.5,
         "properties": {"a": "x", "b": {"c": None, "d": True},
                        "items": [{"id": "i", "n": None, "tags": ["t", None]}, None],
                        "grid": [[{"id": None, "n": 1, "tags": None}], []],
                        "\u00e9t\u00e9 \"q\"": "v"},
         "context": [("k", 1), ("z", None)], "pair": [1, None]},
        {"type": "track", "event": None, 'we"ird name': None,
         "properties": {"a": None, "b": None, "items": [], "grid": None,
                        "\u00e9t\u00e9 \"q\"": None},
         "context": None, "pair": None},
        {"type": "identify", "event": None, 'we"ird name': None, "properties": None,
         "context": [], "pair": [None, 2]},
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, tmp_path / "nested.parquet")
    con = connect()
    lines = con.execute(parquet_lines(con, f"['{tmp_path / 'nested.parquet'}']")).fetchall()
    con.close()
    got = [json.loads(line) for (line,) in lines]
    expected = [without_nulls(row) for row in table.to_pylist()]
    for message in expected:  # pyarrow reads a map as (key, value) pairs; JSON as an object
        if isinstance(message.get("context"), list):
            message["context"] = {k: v for k, v in message["context"]}
    assert got == expected
    assert got[2] == {"type": "identify", "context": {}, "pair": [None, 2]}


def test_a_parquet_file_with_json_text_objects_is_audited_as_the_dataframe_is(tmp_path):
    """Properties kept as JSON text (as Spark and Dask are told to keep them) were read
    by DuckDB as strings: every message a "wrong type". They read as the DataFrame of
    the same rows does; text that is no JSON object is still a wrong type."""
    import pandas as pd

    truth = write_export(tmp_path / "export", 2_000, per_file=1_000)
    lines = [json.loads(line) for f in sorted((tmp_path / "export").rglob("*.gz"))
             for line in gzip.decompress(f.read_bytes()).splitlines()]  # fmt: skip
    as_text = pd.DataFrame([{**m, "properties": json.dumps(m["properties"])} for m in lines])
    as_text.loc[0, "properties"] = "not JSON"
    as_text.loc[1, "properties"] = "[1, 2]"
    as_text.to_parquet(tmp_path / "messages.parquet")
    from_file = audit(sample_plan(), str(tmp_path / "messages.parquet"))
    assert from_file.messages == 2_000
    assert groups(from_file) == groups(audit(sample_plan(), as_text))
    lines[0]["properties"], lines[1]["properties"] = "not JSON", [1, 2]
    assert groups(from_file) == groups(audit(sample_plan(), lines)) != dict(truth.groups)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: getattr(s, "stem", s))
def test_a_plan_of_many_events_is_not_slow_to_start(source, tmp_path):
    """A guard, not a benchmark: DuckDB's optimizer once spent 9 s planning one pass
    for the ecommerce template (see audit_duckdb.KEEP_SEPARATE); a pass starts in well under
    a second."""
    import time

    path = tmp_path / "one.ndjson"
    path.write_text('{"type": "track", "event": "Product Viewed", "properties": {}}\n')
    started = time.monotonic()
    audit(load_plan(source), str(path))
    assert time.monotonic() - started < 3


def test_most_of_a_real_plan_is_checked_as_columns():
    compiled = compile_plan(load_plan("ecommerce"))
    assert len(compiled.events) >= len(compiled.by_rows)  # the rest: nested objects, arrays
    assert all(why for why in compiled.reasons.values())


# -- DataFrames, the magics, the plot ----------------------------------------------------------
def test_dataframes_with_nested_columns_or_json_text(tmp_path):
    import pandas as pd
    import polars as pl

    plan = sample_plan()
    rows = [{"type": "track", "event": "Event 01", "userId": "u", "timestamp": "2024-01-01T00:00:00Z",
             "properties": {"id": "item-1", "count": -1}} for _ in range(3)]  # fmt: skip
    nested = audit(plan, pd.DataFrame(rows))
    as_text = audit(plan, pd.DataFrame([{**r, "properties": json.dumps(r["properties"])}
                                        for r in rows]))  # fmt: skip
    polars = audit(plan, pl.DataFrame([{**r, "properties": json.dumps(r["properties"])}
                                       for r in rows]))  # fmt: skip
    for report in (nested, as_text, polars):
        assert groups(report) == {("Event 01", "properties.count", "value rule"): 3}


def test_an_export_as_segment_stores_it_is_checked_as_it_is_audited(tmp_path, make_shell):
    """Segment adds ``_metadata``, ``projectId`` (and more) to what it stores: ``check``
    refused every line of a real export ("_metadata: is not a Segment message field")
    while the audit read them."""
    from conftest import stored_message

    folder = tmp_path / "segment-logs" / "src" / "1704067200000"
    folder.mkdir(parents=True)
    lines = [stored_message(1), stored_message(2),
             stored_message(3, properties={"order_id": "o-3", "total": 1}),  # no currency
             stored_message(4, properties={"order_id": "o-4", "total": "ten",
                                           "currency": "USD"})]  # fmt: skip
    (folder / "1704100000000.a1b2c3.gz").write_bytes(
        gzip.compress("".join(json.dumps(m) + "\n" for m in lines).encode())
    )
    shell = make_shell()
    shell.run_cell("%segment_plan load ecommerce")
    audited = audit(load_plan("ecommerce"), str(tmp_path))
    assert groups(audited) == {
        ("Order Completed", "properties.currency", "missing required"): 1,
        ("Order Completed", "properties.total", "wrong type"): 1,
    }
    outcome = run(shell, f"%segment_plan check {tmp_path} -o checked")
    assert outcome.error is None
    checked = shell.user_ns["checked"]
    assert checked.checked == 4 and not checked.invalid_rows and checked.valid == 2
    assert sorted(v.field for _, v in checked.violations) == ["properties.currency",
                                                              "properties.total"]  # fmt: skip
    assert "STORED-KEY-NOT-OURS" not in json.dumps(outcome.outputs)


def test_a_json_file_of_one_document_is_read_as_the_messages_it_holds(tmp_path, reader,
                                                                    make_shell):  # fmt: skip
    """An array of messages, a /v1/batch body or one message over several lines, in a
    ``.json`` file: read a line at a time, every line was "not JSON" and nothing was
    audited. Each item is a message now; NDJSON named ``.json`` is still NDJSON, and a
    file that is no JSON as a whole is still listed line by line."""
    from conftest import stored_message

    plan = load_plan("ecommerce")
    broken = {"order_id": "o", "total": 1}  # no currency
    items = [stored_message(1), stored_message(2, properties=broken), stored_message(3)]
    files = {
        "pretty.json": json.dumps(items, indent=2),
        "flat.json": json.dumps(items),
        "batch.json": json.dumps({"batch": items, "sentAt": "2024-01-01T10:00:01Z"}, indent=1),
        "one.json": json.dumps(stored_message(4, properties=broken), indent=2),
        "lines.json": "\n".join(json.dumps(m) for m in items) + "\n",
        "odd.json": json.dumps([items[0], 5, "text"], indent=2),
        "cut.json": json.dumps(items, indent=2)[:-40],
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    expected = {"pretty.json": (3, 1, 0), "flat.json": (3, 1, 0), "batch.json": (3, 1, 0),
                "one.json": (1, 1, 0), "lines.json": (3, 1, 0), "odd.json": (1, 0, 2)}  # fmt: skip
    for name, (messages, broken_ones, bad) in expected.items():
        report = audit(plan, str(tmp_path / name))
        assert (report.messages, report.tally.broken, report.tally.bad_lines) == (
            messages, broken_ones, bad), name  # fmt: skip
    odd = audit(plan, str(tmp_path / "odd.json"))
    assert [where for where, _, _ in odd.tally.bad] == [
        f"{tmp_path / 'odd.json'} item 2",
        f"{tmp_path / 'odd.json'} item 3",
    ]
    assert "odd.json item 2" in str(odd)
    cut = audit(plan, str(tmp_path / "cut.json"))
    assert cut.messages == 0 and cut.tally.bad_lines > 10  # its lines, as before
    whole = audit(plan, str(tmp_path))
    assert whole.messages == 3 * 4 + 1 + 1 and whole.tally.broken == 5
    shell = make_shell()
    shell.run_cell("%segment_plan load ecommerce")
    checked = run(shell, f"%segment_plan check {tmp_path / 'pretty.json'} -o checked")
    assert checked.error is None and shell.user_ns["checked"].checked == 3
    ((label, _),) = shell.user_ns["checked"].violations
    assert str(label).endswith("pretty.json item 2")
    inferred = run(shell, f"%segment_plan infer --from {tmp_path / 'batch.json'}")
    assert inferred.error is None and "properties.order_id" in inferred.text


def test_a_pandas_frame_is_read_a_column_at_a_time_with_to_dicts_values():
    """Rows are built from each column's values (three times as fast as ``to_dict``,
    whose string columns iterate a value at a time); every kind of column must give
    what ``to_dict(orient="records")`` gives, NA as None."""
    import datetime as dt
    import decimal

    import numpy as np
    import pandas as pd

    from segment_magics.plan.tables import table_rows

    frame = pd.DataFrame({
        "ts": pd.to_datetime(["2024-01-01T00:00:00Z", None, "2024-01-02T00:00:00Z"]),
        "naive": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
        "i": pd.array([1, None, 3], dtype="Int64"),
        "b": pd.array([True, None, False], dtype="boolean"),
        "f": pd.array([1.5, None, 2.0], dtype="Float64"),
        "cat": pd.Categorical(["a", "b", None]),
        "td": pd.to_timedelta([1, 2, None], unit="s"),
        "per": pd.period_range("2024-01", periods=3, freq="M"),
        "obj": [{"a": 1}, [1, 2], None],
        "f32": np.array([1.5, np.nan, 2], dtype="float32"),
        "dec": [decimal.Decimal("1.1"), None, decimal.Decimal("2")],
        "u64": pd.array([2**64 - 1, 0, 1], dtype="uint64"),
        "s": ["x", None, "z"],
        "py": pd.array(["x", None, "z"], dtype="string[python]"),
        "date": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)],
    }, index=["r1", "r2", "r3"])  # fmt: skip
    for part in (frame, frame.iloc[1:], frame.iloc[:0], pd.DataFrame(index=range(2))):
        ours = list(table_rows(part))
        theirs = part.to_dict(orient="records")
        assert len(ours) == len(theirs)
        for mine, reference in zip(ours, theirs, strict=True):
            assert list(mine) == list(reference)
            for key, value in reference.items():
                got = mine[key]
                assert type(got) is type(value), key
                assert got is value or got == value or (got != got and value != value), key


def test_every_table_and_a_list_of_paths_is_audited_alike(tmp_path):
    """A Polars LazyFrame, Arrow tables, batches and streams, a generator of messages and
    a list of paths (what glob.glob gives) are audited, not refused or read as nothing;
    tables are turned into dicts a slice at a time."""
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from segment_magics.errors import ValidationError

    truth = write_export(tmp_path, 3_000, per_file=1_000)
    files = sorted(str(f) for f in tmp_path.rglob("*.gz"))
    lines = [json.loads(line) for f in files for line in gzip.decompress(Path(f).read_bytes())
             .splitlines()]  # fmt: skip
    as_text = [{**m, "properties": json.dumps(m["properties"])} for m in lines]
    expected = dict(truth.groups)
    for source in (
        files,
        [Path(f) for f in files[:2]] + [files[2]],
        (m for m in lines),
        pd.DataFrame(lines),
        pl.DataFrame(as_text).lazy(),
        pa.Table.from_pylist(as_text),
        pa.RecordBatch.from_pylist(as_text),
        pa.Table.from_pylist(as_text).to_reader(max_chunksize=700),
    ):
        report = audit(sample_plan(), source)
        assert report.messages == 3_000 and groups(report) == expected, type(source)
    assert audit(sample_plan(), files).source == f"{files[0]} and 2 more"
    for wrong in ({"type": "track"}, 5, None):
        with pytest.raises(ValidationError, match="cannot read messages from a value of type"):
            audit(sample_plan(), wrong)


def test_check_infer_and_diff_read_every_table_the_audit_reads(tmp_path, make_shell):
    """A LazyFrame raised a TypeError from our code, and Arrow or Polars tables with the
    export's JSON text in ``properties`` gave "invalid" rows (check) or nothing at all
    (infer, diff): each now reads as the list of messages it holds."""
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from segment_magics.plan import PlanValidator, check_messages, diff_plan, infer_plan
    from segment_magics.plan.check import iter_messages

    write_export(tmp_path, 2_000, per_file=1_000)
    lines = [json.loads(line) for f in sorted(tmp_path.rglob("*.gz"))
             for line in gzip.decompress(f.read_bytes()).splitlines()]  # fmt: skip
    as_text = [{**m, "properties": json.dumps(m["properties"])} for m in lines]
    validator = PlanValidator(sample_plan())
    reference = check_messages(validator, lines)
    inferred = infer_plan(iter_messages(lines)).plan
    differences = diff_plan(sample_plan(), iter_messages(lines))
    for source in (pl.DataFrame(as_text), pl.DataFrame(as_text).lazy(),
                   pa.Table.from_pylist(as_text), pd.DataFrame(as_text)):  # fmt: skip
        checked = check_messages(validator, source)
        assert (checked.checked, checked.valid, checked.invalid_rows) == (
            reference.checked, reference.valid, []), type(source)  # fmt: skip
        assert infer_plan(iter_messages(source)).plan == inferred, type(source)
        assert diff_plan(sample_plan(), iter_messages(source)) == differences, type(source)
    labelled = check_messages(validator, pd.DataFrame(lines, index=[f"r{i}" for i in range(2_000)]))
    assert {str(label)[0] for label, _ in labelled.violations} == {"r"}  # its own labels
    shell = make_shell()
    shell.user_ns["lazy"] = pl.DataFrame(as_text).lazy()
    shell.run_cell("%segment_plan load ecommerce")
    cell = run(shell, "%segment_plan check lazy")
    assert cell.error is None and "2,000" in cell.text
    shell.user_ns["paths"] = sorted(str(f) for f in tmp_path.rglob("*.gz"))  # as glob gives
    cell = run(shell, "%segment_plan infer --from paths -o from_paths")
    assert cell.error is None and shell.user_ns["from_paths"] == inferred
    shell.user_ns["number"] = 5
    wrong = run(shell, "%segment_plan check number")
    assert "number is of type int; pass a list of messages or a DataFrame" in str(wrong.error)


def test_a_json_normalized_export_reads_as_the_messages_it_came_from(tmp_path, make_shell):
    """``pd.json_normalize`` of an export (``properties.id``, ``context.page.url``
    columns) is how analysts flatten one. The audit read each row as a message without
    properties (every one "missing required"), check refused every row and infer found
    no events: all now read the rows as the nested messages, group by group."""
    import pandas as pd
    import polars as pl

    from segment_magics.plan import PlanValidator, check_messages, diff_plan, infer_plan
    from segment_magics.plan.check import iter_messages

    truth = write_export(tmp_path, 2_000, per_file=1_000)
    lines = [json.loads(line) for f in sorted(tmp_path.rglob("*.gz"))
             for line in gzip.decompress(f.read_bytes()).splitlines()]  # fmt: skip
    for n, message in enumerate(lines[:50]):
        message["context"] = {"page": {"url": f"https://example.com/{n}"}}
    validator = PlanValidator(sample_plan())
    reference = check_messages(validator, lines)
    inferred = infer_plan(iter_messages(lines)).plan
    flat = pd.json_normalize(lines)
    assert {"properties.count", "context.page.url"} <= set(flat.columns)
    report = audit(sample_plan(), flat)
    assert report.messages == 2_000 and groups(report) == dict(truth.groups)
    checked = check_messages(validator, flat)
    assert (checked.checked, checked.valid, checked.invalid_rows) == (
        reference.checked, reference.valid, [])  # fmt: skip
    assert infer_plan(iter_messages(flat)).plan == inferred
    assert diff_plan(sample_plan(), iter_messages(flat)) == diff_plan(
        sample_plan(), iter_messages(lines))  # fmt: skip
    # Polars holds one type a column: the messages whose counts are numbers (or missing)
    numbers = [m for m in lines if not isinstance(m["properties"].get("count", 0), str)]
    polars = pl.from_pandas(pd.json_normalize(numbers))
    assert groups(audit(sample_plan(), polars)) == groups(audit(sample_plan(), numbers))
    checked, reference = check_messages(validator, polars), check_messages(validator, numbers)
    assert (checked.checked, checked.valid, checked.invalid_rows) == (
        reference.checked, reference.valid, [])  # fmt: skip
    records = flat.to_dict("records")  # rows as dicts: read alike, and left as they are
    before = repr(records[:60])
    assert groups(audit(sample_plan(), records)) == dict(truth.groups)
    assert repr(records[:60]) == before
    shell = make_shell()
    shell.user_ns["flat"] = flat
    shell.run_cell("%segment_plan load ecommerce")
    cell = run(shell, "%segment_plan infer --from flat -o guessed")
    assert cell.error is None and shell.user_ns["guessed"] == inferred


def test_dataframes_with_datetime_and_decimal_columns_are_audited_as_sent(tmp_path):
    """A DataFrame of stored history has datetime columns (and Decimals): read as the
    wire's UTC text and numbers, as a send would write them, the same report as the
    NDJSON of the same messages. They stopped the row checker ('Unsupported type')."""
    import decimal

    import pandas as pd
    import polars as pl

    plan = parse_compact("Signed Up\n  plan: string!\n  amount: number\n")
    stamps = ["2024-01-01T23:00:00.000Z", "2024-01-02T01:00:00.000Z", "2024-01-03T00:00:00.000Z"]
    bodies = [{"plan": 1, "amount": 2.5}, {"plan": "pro", "amount": 1.5}, None]  # None: none
    messages = [{"type": "track", "event": "Signed Up", "userId": "u", "messageId": f"m{n}",
                 "timestamp": stamp, **({"properties": body} if body else {})}
                for n, (stamp, body) in enumerate(zip(stamps, bodies, strict=True))]  # fmt: skip
    path = tmp_path / "messages.ndjson"
    path.write_text("\n".join(json.dumps(m) for m in messages) + "\n")
    expected = audit(plan, str(path), since="2024-01-02")
    assert expected.messages == 2 and groups(expected)
    frame = pd.DataFrame(messages)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).dt.tz_convert("Asia/Kolkata")
    frame["properties"] = [body and {k: decimal.Decimal(str(v)) if k == "amount" else v
                                     for k, v in body.items()} for body in bodies]  # fmt: skip
    texts = [json.dumps(b) if b else None for b in bodies]
    sources = [frame, pl.from_pandas(frame.assign(properties=texts)), frame.to_dict("records")]
    for source in sources:
        report = audit(plan, source, since="2024-01-02")
        assert report.messages == expected.messages and groups(report) == groups(expected)
        assert [(g.first, g.last) for g in report.groups] == [
            (g.first, g.last) for g in expected.groups]  # fmt: skip


def test_the_magic_audits_an_export_and_infers_a_plan_from_it(make_shell, tmp_path):
    truth = write_export(tmp_path / "export", 4_000, per_file=500)
    shell = make_shell()
    shell.user_ns["plan"] = sample_plan()
    assert run(shell, "%segment_plan load plan").error is None
    cell = run(shell, f'%segment_plan audit "{tmp_path / "export"}" -o report')
    assert cell.error is None, cell.error
    report = shell.user_ns["report"]
    assert groups(report) == dict(truth.groups)
    assert "Audit of" in cell.html and "properties.count" in cell.html
    narrowed = run(shell, f'%segment_plan audit "{tmp_path / "export"}" --events "Event 03"')
    assert narrowed.error is None and "Event 04" not in narrowed.html
    inferred = run(shell, f'%segment_plan infer --from "{tmp_path / "export"}" '
                          "--required-share 0.9 -o guess")  # fmt: skip
    assert inferred.error is None, inferred.error
    guess = shell.user_ns["guess"]
    rule = guess.rule_for("TRACK", "Event 03")
    assert rule is not None and "count" in rule.body_schema.get("required", [])
    bad = run(shell, '%segment_plan audit "/no/such/place/*.gz"')
    assert bad.error is not None and "no files" in str(bad.error)
    remote = run(shell, "%segment_plan audit s3://bucket/segment-logs/src/")  # not fetched
    assert str(remote.error).endswith("is not a local path; copy the export here first, "
                                      "e.g. aws s3 sync s3://BUCKET/segment-logs/SOURCE_ID "
                                      "./export")  # fmt: skip
    as_percent = run(shell, f'%segment_plan infer --from "{tmp_path / "export"}" '
                            "--required-share 90% -o percent")  # fmt: skip
    assert as_percent.error is None and shell.user_ns["percent"].rule_for(
        "TRACK", "Event 03").body_schema == rule.body_schema  # fmt: skip
    whole = run(shell, f'%segment_plan infer --from "{tmp_path / "export"}" '
                       "--required-share 90 -o whole")  # no share is above 1: 90 is 90 %  # fmt: skip
    assert whole.error is None and shell.user_ns["whole"].rule_for(
        "TRACK", "Event 03").body_schema == rule.body_schema  # fmt: skip
    wrong = run(shell, f'%segment_plan infer --from "{tmp_path / "export"}" --required-share 150')
    assert wrong.error is not None and "e.g. 0.95 or 95%" in str(wrong.error)


def test_infer_is_narrowed_like_audit_and_no_option_is_silently_ignored(make_shell, tmp_path):
    """--since/--until/--events narrow infer as they narrow audit (files, Parquet and
    variables alike); an option a command does not read is refused, naming what it takes."""
    import pandas as pd

    write_export(tmp_path / "export", 4_000, per_file=500, days=8)
    lines = [json.loads(line) for f in sorted((tmp_path / "export").rglob("*.gz"))
             for line in gzip.decompress(f.read_bytes()).splitlines()]  # fmt: skip
    plain = [{**m, "properties": {"id": str(m["properties"].get("id"))}} for m in lines]
    pd.json_normalize(plain, max_level=0).to_parquet(tmp_path / "messages.parquet")
    shell = make_shell()
    shell.user_ns["messages"] = lines
    for source in (f'"{tmp_path / "export"}"', f'"{tmp_path / "messages.parquet"}"', "messages"):
        cell = run(shell, f'%segment_plan infer --from {source} --events "Event 03,Event 04" '
                          "--since 2024-01-02 --until 2024-01-05 -o narrow")  # fmt: skip
        assert cell.error is None, cell.error
        narrow = shell.user_ns["narrow"]
        assert sorted(r.key for r in narrow.rules) == ["Event 03", "Event 04"], source
        expected = sum(1 for m in lines if m["event"] in ("Event 03", "Event 04")
                       and "2024-01-02" <= m["timestamp"][:10] <= "2024-01-05")  # fmt: skip
        assert f"Inferred from {expected:,} messages" in cell.html, source
    upside_down = run(shell, "%segment_plan infer --from messages --since 2024-02-01 "
                             "--until 2024-01-01")  # fmt: skip
    assert "is not after since=" in str(upside_down.error)
    for line, words in (
        ("%segment_plan check messages --since 2024-01-02", "check: --since does not apply"),
        ("%segment_plan load ecommerce --use", "load: --use does not apply here; it takes --merge"),
        ("%segment_plan show --required-share 0.5", "show: --required-share does not apply"),
    ):
        refused = run(shell, line)
        assert refused.error is not None and words in str(refused.error), line
    shell.run_cell("%segment_plan load ecommerce")
    audited = run(shell, f'%segment_plan audit --from "{tmp_path / "export"}" -o by_from')
    assert audited.error is None and shell.user_ns["by_from"].messages == 4_000


def test_a_value_that_holds_no_messages_is_named_by_every_plan_command(make_shell):
    """check, infer, diff and audit given a date, a number or one message: a usage error
    naming what it is (found by fuzzing the magics: infer and diff said "internal error")."""
    from segment_magics.errors import ValidationError
    from segment_magics.plan.infer import diff_plan, infer_plan

    shell = make_shell()
    shell.run_cell("import datetime; when = datetime.datetime(2024, 1, 1); one = {'type': 'track'}")
    shell.run_cell("%segment_plan load ecommerce")
    for command in ("check when", "infer --from when", "diff --from when", "audit --from when",
                    "infer --from one", "diff --from one"):  # fmt: skip
        cell = run(shell, f"%segment_plan {command}")
        error = str(cell.error)
        assert cell.error is not None and "internal error" not in error, command
        assert "datetime" in error or "dict" in error, error
    for bad in (5, "text", {"type": "track"}):
        with pytest.raises(ValidationError, match=r"messages: .*is not rows"):
            infer_plan(bad)
        with pytest.raises(ValidationError, match=r"messages: .*is not rows"):
            diff_plan(load_plan(sample_plan()), bad)
    assert infer_plan([1, "text", {"type": "track", "event": "E"}]).plan.rules  # dicts kept
    import pandas as pd
    import polars as pl

    rows = [{"type": "track", "event": "E", "properties": {"a": 1}}]
    for table in (pd.DataFrame(rows), pl.DataFrame(rows), pl.DataFrame(rows).lazy()):
        assert [r.key for r in infer_plan(table).plan.rules] == ["E"]  # not its column names
        assert diff_plan(load_plan(sample_plan()), table)


def test_check_and_diff_read_an_export_and_parquet_json_text_as_audit_does(
    tmp_path, make_shell, monkeypatch
):
    """``check EXPORT`` and ``diff --from EXPORT`` said "name 'export' is not defined",
    though infer and audit read the same path; ``infer --from`` a Parquet file whose
    properties are JSON text inferred events without properties. Each now reads the
    messages the audit reads."""
    import pandas as pd

    from segment_magics.plan import PlanValidator, check_messages, diff_plan, infer_plan
    from segment_magics.plan.check import iter_messages

    write_export(tmp_path / "export", 2_000, per_file=1_000)
    lines = [json.loads(line) for f in sorted((tmp_path / "export").rglob("*.gz"))
             for line in gzip.decompress(f.read_bytes()).splitlines()]  # fmt: skip
    pd.DataFrame([{**m, "properties": json.dumps(m["properties"])} for m in lines]).to_parquet(
        tmp_path / "messages.parquet")  # fmt: skip
    reference = check_messages(PlanValidator(sample_plan()), lines)
    differences = diff_plan(sample_plan(), iter_messages(lines))
    inferred = infer_plan(iter_messages(lines)).plan

    def counted(found: list[Any]) -> set[tuple[Any, ...]]:
        return {(d.direction, d.event, d.field, d.kind, d.count) for d in found}

    shell = make_shell()
    paths = sorted(str(f) for f in (tmp_path / "export").rglob("*.gz"))  # as glob gives
    shell.user_ns.update(plan=sample_plan(), paths=paths)
    shell.run_cell("%segment_plan load plan")
    monkeypatch.setenv("HOME", str(tmp_path))
    for source in (f'"{tmp_path / "export"}"', "paths", f'"{tmp_path / "messages.parquet"}"',
                   '"~/export"'):  # fmt: skip
        cell = run(shell, f"%segment_plan check {source} -o checked")
        checked = shell.user_ns["checked"]
        assert cell.error is None and (checked.checked, checked.valid) == (
            reference.checked, reference.valid), source  # fmt: skip
        where, _ = checked.violations[0]  # where it was read, not its position in the export
        shown = "messages.parquet row " if "parquet" in source else ".json.gz:"
        assert shown in where and f"{where} " in cell.text and "row 0" not in cell.text
        assert where.startswith("segment-logs/") == source.endswith('export"')  # the folder's
        cell = run(shell, f"%segment_plan diff --from {source} -o differ")
        found = shell.user_ns["differ"].differences  # (ties in the files' order)
        assert cell.error is None and counted(found) == counted(differences), source
        cell = run(shell, f"%segment_plan infer --from {source} -o guessed")
        assert cell.error is None and shell.user_ns["guessed"] == inferred, source


def test_the_plot_draws_violations_per_day(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    write_export(tmp_path, 3_000, days=5)
    figure = audit(sample_plan(), str(tmp_path)).plot()
    axes = figure.axes[0]
    assert axes.get_lines() and "per day" in axes.get_title()


def test_the_plot_is_drawn_once_in_a_notebook(tmp_path):
    """``report.plot()`` as a cell's value drew the chart twice in a real kernel: once as
    the value, once more by pyplot at the cell's end."""
    import nbformat
    from nbclient import NotebookClient

    write_export(tmp_path / "export", 2_000, days=4)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code) for code in (
        "from segment_magics.plan import audit\n"
        "from segment_magics.plan.sample_export import sample_plan\n"
        "report = audit(sample_plan(), 'export')",
        "report.plot()",
        "report.plot().savefig('trend.png')",
    )]  # fmt: skip
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    images = [[o for o in cell.outputs if "image/png" in o.get("data", {})]
              for cell in notebook.cells[1:]]  # fmt: skip
    assert [len(shown) for shown in images] == [1, 0]
    assert (tmp_path / "trend.png").stat().st_size > 10_000


def test_a_missing_optional_library_is_named_with_the_extra_that_installs_it():
    """A lean install (no pandas, no matplotlib) audits a list; what needs them says so."""
    import subprocess
    import sys

    script = """
import sys
for name in ("pandas", "matplotlib", "matplotlib.pyplot"):
    sys.modules[name] = None  # as if not installed
from segment_magics.plan import audit
from segment_magics.plan.sample_export import sample_plan
report = audit(sample_plan(), [{"type": "track", "event": "Event 01", "userId": "u"}])
print(report.messages)
for call in (report.plot, report.to_pandas):
    try:
        call()
    except ImportError as exc:
        print(exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "1",
        "report.plot() needs matplotlib: pip install 'segment-magics[audit]'",
        "report.to_pandas() needs pandas: pip install 'segment-magics[audit]'",
    ]


def test_infer_leaves_out_a_parquet_file_it_cannot_read(tmp_path, make_shell):
    import pandas as pd

    pd.DataFrame([{"type": "track", "event": "Seen", "userId": "u",
                   "properties": {"a": 1}}]).to_parquet(tmp_path / "good.parquet")  # fmt: skip
    (tmp_path / "bad.parquet").write_text("not parquet at all")
    shell = make_shell()
    cell = run(shell, f'%segment_plan infer --from "{tmp_path}" -o guess')
    assert cell.error is None, cell.error
    assert [r.key for r in shell.user_ns["guess"].rules] == ["Seen"]


def test_a_type_in_capitals_is_checked_alike_by_both_checkers(tmp_path):
    """{"type": "TRACK"}: the row checker reads a type in any case, and DuckDB's column
    checks compared it as written, so such messages broke nothing there."""
    from segment_magics.plan.audit import _audit_files_by_rows, find_files

    messages = [
        {"type": kind, "event": "Event 01", "userId": "u", "messageId": f"m{i}",
         "timestamp": "2024-01-02T00:00:00Z", "properties": {"count": "many"}}
        for i, kind in enumerate(["TRACK", "Track", "track"])
    ] + [{"type": "TRACK", "userId": "u", "properties": {}}]  # fmt: skip
    (tmp_path / "messages.ndjson").write_text("\n".join(json.dumps(m) for m in messages) + "\n")
    window = Window(None, None, None)
    report = audit(sample_plan(), str(tmp_path))
    rows = _audit_files_by_rows(load_plan(sample_plan()), str(tmp_path),
                                *find_files(str(tmp_path), window), window)  # fmt: skip
    assert groups(report) == groups(rows)
    assert groups(report)[("Event 01", "properties.count", "wrong type")] == 3
    assert groups(report)[("TRACK", "event", "unplanned event")] == 1


def test_windows_take_dates_datetimes_and_one_event_name(tmp_path):
    """A Python user passes ``datetime.date``, a (pandas) datetime and one event name:
    they narrow as the same text does (before: AttributeError on ``.strip``, and one
    event's name was read as its letters, which matched nothing)."""
    import datetime as dt

    import pandas as pd

    from segment_magics.errors import ValidationError

    write_export(tmp_path, 4_000, days=4)
    plan = sample_plan()
    as_text = audit(plan, str(tmp_path), since="2024-01-02", until="2024-01-03",
                    events=["Event 01"])  # fmt: skip
    assert as_text.messages > 0
    for since, until in [
        (dt.date(2024, 1, 2), dt.date(2024, 1, 3)),
        (dt.datetime(2024, 1, 2), pd.Timestamp("2024-01-04")),  # until a time: exclusive
        (
            dt.datetime(2024, 1, 2, 5, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
            pd.Timestamp("2024-01-03T19:00:00-05:00"),
        ),  # the same instants, in other zones
    ]:
        report = audit(plan, str(tmp_path), since=since, until=until, events="Event 01")
        assert report.messages == as_text.messages and groups(report) == groups(as_text)
    for bad, words in [(20240102, "since: give a date or time such as '2024-01-31'"),
                       ([1], "events: names are text; 1 is int")]:  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            if isinstance(bad, list):
                audit(plan, str(tmp_path), events=bad)
            else:
                audit(plan, str(tmp_path), since=bad)
        assert str(refused.value).startswith(words)


def test_a_duckdb_that_reads_cut_files_whole_still_lists_them(tmp_path, monkeypatch):
    """DuckDB before 2.0 (the newest for Python 3.10) reads a gzip file cut short as if
    it ended there, with no error: the audit then listed nothing and lost the file's
    tail in silence. Such DuckDBs get the files checked first; each kind of damage is
    named as the row reader names it."""
    import gzip as gz

    from segment_magics.plan import audit_feed, audit_lines

    asked = audit_lines.reads_cut_files_whole()
    monkeypatch.setattr(audit_module, "reads_cut_files_whole", lambda: True)
    monkeypatch.setattr(audit_feed, "available", lambda: False)  # DuckDB reads the files
    test_broken_files_and_lines_are_counted_listed_and_never_stop_an_audit(tmp_path, "-")
    member = gz.compress(b'{"a": 1}\n' * 50_000)
    shapes = {
        "whole": member,
        "two members": member + member,
        "zeros after": member + b"\0" * 9,
        "cut short": member[:-100],
        "cut in the second": member + member[:500],
        "not gzip": b"plain text",
        "empty": b"",
        "bad data": member[:40] + b"\xff" * 60,
    }
    for name, data in shapes.items():
        path = tmp_path / f"{name}.json.gz"
        path.write_bytes(data)
        _, why = audit_lines.file_lines(str(path))
        assert audit_lines.gzip_damage(str(path)) == why, name
    assert isinstance(asked, bool)


@pytest.mark.parametrize("isal", [True, False], ids=["isa-l", "duckdb"])
def test_ctrl_c_stops_an_audit_with_a_keyboard_interrupt(tmp_path, isal):
    """A real SIGINT, wherever it lands in an audit (reading, checking, the row checker):
    the audit stops promptly with ``KeyboardInterrupt``, as Python code does, never a
    DuckDB ``RuntimeError`` and never by reading everything again with another reader
    (the ISA-L stream used to take the interrupt as a file DuckDB could not read)."""
    import signal
    import subprocess
    import sys
    import time

    write_export(tmp_path, 100_000, per_file=2_000)
    script = f"""
import sys
from segment_magics.plan import audit, audit_feed
from segment_magics.plan.sample_export import sample_plan
if not {isal}:
    audit_feed.available = lambda: False
print("ready", flush=True)
try:
    while True:
        audit(sample_plan(), {str(tmp_path)!r})
        print("audited", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""
    for delay in (0.02, 0.06, 0.1):  # an audit takes about 0.15 s here: inside one
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        assert child.stdout.readline().strip() == "audited"  # warmed up
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        started = time.monotonic()
        try:
            out, err = child.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            raise AssertionError("Ctrl-C did not stop the audit") from None
        assert time.monotonic() - started < 10, "the interrupt took too long"
        last = (out.strip().splitlines() or [""])[-1]
        assert last == "interrupted" and "Traceback" not in err, (out, err)


def test_large_files_go_to_duckdbs_own_reader(tmp_path, monkeypatch):
    """Files over the feed's size limit are read by DuckDB's own reader (which streams
    them), the rest through ISA-L, in the same audit, each file once. The verdicts are
    the same either way."""
    from segment_magics.plan import audit_feed

    if not audit_feed.available():
        pytest.skip("pip install 'segment-magics[audit]' (isal, pyarrow)")
    truth = write_export(tmp_path, 9_000, per_file=1_000, bad_lines=3)
    sizes = sorted(f.stat().st_size for f in tmp_path.rglob("*.gz"))
    monkeypatch.setattr(audit_feed, "LARGEST", sizes[len(sizes) // 2])  # half and half
    fed = []
    real = audit_feed.Lines.stream
    monkeypatch.setattr(audit_feed.Lines, "stream", lambda self: fed.extend(self.files) or
                        real(self))  # fmt: skip
    report = audit(sample_plan(), str(tmp_path))
    assert 0 < len(fed) < len(sizes) and len(set(fed)) == len(fed)
    assert report.messages == truth.messages and groups(report) == dict(truth.groups)
    assert report.tally.bad_lines == 3 and "ISA-L" in report.engine


def test_the_magic_audits_this_sessions_history_and_says_what_it_was_narrowed_to(ip, tmp_path):
    """``%segment_plan audit history`` checks what this session sent (as ``check`` and
    ``infer`` read it); a date as ``--until`` is shown as given, inclusive; infer told
    to read a misspelt event names the planned one that is close."""
    assert run(ip, "%segment_plan load ecommerce").error is None
    ip.user_ns["order"] = {"order_id": "o-1", "total": "lots"}  # total: a number
    for _ in range(3):
        assert run(ip, '%segment_track "Order Completed" --user-id u1 '
                       "--properties order").error is None  # fmt: skip
    assert run(ip, '%segment_track "Order Complete" --user-id u1').error is None
    cell = run(ip, "%segment_plan audit history -o report")
    assert cell.error is None, cell.error
    report = ip.user_ns["report"]
    assert report.source == "this session's history" and report.messages == 4
    assert ("Order Completed", "properties.total", "wrong type") in {
        (g.event, g.field, g.kind) for g in report.groups}  # fmt: skip
    assert dict(report.unplanned_events) == {"Order Complete": 1}
    write_export(tmp_path, 400, per_file=200, days=3)
    dated = run(ip, f"%segment_plan audit {tmp_path} --until 2024-01-02 -o dated")
    assert "window: until 2024-01-02 (inclusive)" in str(ip.user_ns["dated"])
    ip.user_ns["plan"] = sample_plan()
    assert run(ip, "%segment_plan load plan").error is None
    misspelt = run(ip, f"%segment_plan infer --from {tmp_path} --events 'Evnt 01'")
    assert misspelt.error is not None and dated.error is None
    assert str(misspelt.error).endswith("did you mean 'Event 01'?")
    assert "no events to infer from in the window (events 'Evnt 01')" in str(misspelt.error)
