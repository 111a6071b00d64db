"""Auditing history against a plan: exports with known answers, broken input, the same
verdicts from the column checks as from the row checker, DataFrames and the magics."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import hypothesis.strategies as st
import pytest
from conftest import run
from hypothesis import HealthCheck, given, settings

from segment_magics.plan import audit, load_plan
from segment_magics.plan.audit import Window, audit_messages
from segment_magics.plan.audit_sql import compile_plan
from segment_magics.plan.sample_export import sample_plan, write_export
from segment_magics.plan.templates import TEMPLATES

pytest.importorskip("duckdb", reason="pip install 'segment-magics[audit]'")
PLANS = sorted((Path(__file__).with_name("data") / "plans").glob("*.json"))


def groups(report) -> dict[tuple[str, str, str], int]:
    return {(g.event, g.field, g.kind): g.count for g in report.groups}


# -- known answers ---------------------------------------------------------------------------
def test_an_export_is_audited_exactly_group_by_group(tmp_path):
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
    assert "unplanned events, by volume: Unplanned Event" in str(report)


def test_broken_files_and_lines_are_counted_listed_and_never_stop_an_audit(tmp_path):
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
            out.append({"type": "track", "event": rule.key, "userId": "u",
                        "messageId": f"m{n}-{variant}", "timestamp": f"2024-01-0{variant + 1}T00:00:00Z",
                        "properties": values})  # fmt: skip
    out.append({"type": "track", "event": "Nobody Planned This", "userId": "u",
                "timestamp": "2024-01-01T00:00:00Z", "properties": {}})  # fmt: skip
    out.append({"type": "identify", "userId": "u", "traits": {"email": 5}})
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


def test_the_plot_draws_violations_per_day(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    write_export(tmp_path, 3_000, days=5)
    figure = audit(sample_plan(), str(tmp_path)).plot()
    axes = figure.axes[0]
    assert axes.get_lines() and "per day" in axes.get_title()
