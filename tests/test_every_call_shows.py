"""Every call shows, and shows what it should: Series as rows, the form's notice, the
history's columns, plan tables that say things once, and completion that helps."""

from __future__ import annotations

import pandas as pd
from conftest import run
from test_comfort import complete

from segment_magics.widgets import SegmentForm


def test_a_series_of_dicts_is_read_like_a_list(ip, collector):
    ip.user_ns["s"] = pd.Series(
        [{"userId": "u1", "total": 1}, {"userId": "u2"}, {"total": 3}], index=["a", "b", "c"]
    )
    out = run(ip, '%segment_track "X" --from s --no-progress')
    assert "internal error" not in str(out.error) and collector.count() == 2
    frame = get_result(ip).to_pandas()
    assert list(frame.row) == ["a", "b", "c"] and list(frame.status)[2] == "invalid"


def get_result(ip):
    from segment_magics.session import get_session

    return next(iter(get_session(ip).history))


def test_the_forms_notice_clears_when_a_field_is_edited(ip, collector):
    from segment_magics.session import get_session

    form = SegmentForm(get_session(ip).send, "track")
    form.send()
    html = "".join(o["data"].get("text/html", "") for o in form.output.outputs)
    assert "Not sent: fix these fields first" in html
    form.inputs["event"].value = "Fixed"
    assert form.output.outputs == ()
    form.inputs["user_id"].value = "u"
    assert form.send().ok


def test_history_newest_first_dry_runs_and_clipped_ids(make_shell, collector, dead_url):
    shell = make_shell(dead_url, max_retries=0, display_limit=2)
    run(shell, '%segment_track "First" --user-id u')
    run(shell, '%segment_track "Second" --user-id u')
    failed = run(shell, "%segment_history --failed").result
    assert [r.label for r in failed] == ["Second", "First"]
    run(shell, '%segment_track "Dry" --user-id u --dry-run')
    out = run(shell, "%segment_history")
    assert ">dry run</span>" in out.html and ">200</span>" not in out.html
    assert 'class="sm-clip" title="' in out.html  # the whole messageId on hover
    assert "showing 2 of 3 rows (all of them: %config SegmentMagics.display_limit = 0)" in out.text


def test_plan_tables_say_each_thing_once(ip, collector):
    out = run(ip, "%segment_plan load ecommerce")
    assert (
        out.text.count("\n") == 1 and "Tracking plan 'Segment E-commerce v2' is active" in out.text
    )
    assert "properties.query" in run(ip, "%segment_plan show").text
    run(ip, '%segment_track "Order Completed" --user-id u --properties {"order_id": 7}')
    out = run(ip, "%segment_plan diff")
    never = [line for line in out.html.split("<tr") if "planned, never sent" in line]
    assert never and all("sm-muted" in line and "sm-fail" not in line for line in never)
    assert any("sm-fail" in line for line in out.html.split("<tr") if "observed" in line)


def test_completion_offers_no_ipython_names_and_describes_keys(ip):
    run(ip, "%%segment_plan\nOrder Completed\n  order_id: string!\n  total: number")
    run(ip, "1 + 1")  # Out now holds a dict
    assert complete(ip, "%segment_track E --properties O") == []
    ip.user_ns["order"] = {"a": 1}
    assert complete(ip, "%segment_track E --properties ") == ["order"]
    from IPython.core.completer import provisionalcompleter

    body = '%%segment_track "Order Completed"\n{"'
    with provisionalcompleter():
        found = {c.text: c.type for c in ip.Completer.completions(body, len(body))}
    assert found['"order_id"'] == "string, required" and found['"total"'] == "number"
