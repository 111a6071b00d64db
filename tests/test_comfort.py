"""Issue 12: what an analyst who uses the package all day notices first."""

from __future__ import annotations

import collections
import dataclasses
import re

import pandas as pd
import pytest
from conftest import run
from IPython.core.completer import provisionalcompleter

from segment_magics import SegmentClient
from segment_magics.client import Outbox
from segment_magics.display import plural
from segment_magics.magics import get_session


# -- compact by default ----------------------------------------------------------------
def test_a_call_shows_one_compact_block_with_the_payload_folded(ip, collector):
    cell = run(ip, '%segment_track "Order Completed" --user-id u1 --properties {"total": 5}')
    html, text = cell.html, cell.text
    assert "<details" in html and "<summary>Payload</summary>" in html
    assert "ResponseBody" not in html and "OriginalStatusCode" not in html
    labels = re.findall(r"^  (\w+)", text, re.M)
    assert labels[:6] == ["Outcome", "Type", "Event", "User", "StatusCode", "messageId"]
    assert text.index("messageId") < text.index("Payload:") < text.index('"total": 5')
    alias = run(ip, "%segment_alias anon-1 u1").text
    assert re.search(r"^  PreviousId\s+anon-1$", alias, re.M)


def test_warnings_and_violations_come_first(ip, collector):
    run(ip, "%%segment_plan\nOrder Completed\n  order_id: string!")
    ip.user_ns["props"] = {"tags": {"b", "a"}}
    text = run(ip, '%segment_track "Order Completed" --user-id u1 --properties props').text
    order = [text.index(w) for w in ("Outcome", "Warning", "Tracking plan", "Type", "messageId")]
    assert order == sorted(order)
    assert "properties.order_id" in text and "was a set; sent as a list" in text


def test_full_view_brings_back_every_field(ip, collector):
    run(ip, '%config SegmentMagics.result_view = "full"')
    html = run(ip, "%segment_track E --user-id u1").html
    assert "ResponseBody" in html and "OriginalStatusCode" in html and "<details" not in html


# -- readable everywhere ---------------------------------------------------------------
def test_tables_take_their_colours_from_the_theme(ip, collector):
    html = run(ip, "%segment_track E --user-id u1").html + run(ip, "%segment_history").html
    for variable in ("--jp-content-font-color1", "--jp-layout-color2", "--jp-border-color2",
                     "--jp-error-color1", "--jp-success-color1"):  # fmt: skip
        assert f"var({variable}" in html
    assert "#fff5f5" not in html and "background:#f6f8fa" not in html  # light-only colours


# -- history that keeps its context ----------------------------------------------------
def test_history_keeps_context_counts_and_plurals(ip, collector):
    run(ip, '%segment_track "Order Completed" --user-id u1 --timestamp yesterday')
    one = run(ip, "%segment_history").text
    assert "(1 call, newest first)" in one
    row = one.splitlines()[3]
    assert "Order Completed" in row and "u1" in row and "-1" in row
    run(ip, "%%segment_plan\nOrder Completed\n  order_id: string!")
    ip.user_ns["rows"] = [
        {"event": "Order Completed", "userId": "a", "order_id": "o1"},
        {"event": "Order Completed", "userId": "b"},
        {"event": "Signed Up", "userId": "c"},
    ]
    run(ip, "%segment_track --from rows --no-progress")
    view = run(ip, "%segment_history --limit 1")
    latest = view.text.splitlines()[3]
    assert "Order Completed, Signed Up (3 rows)" in latest
    assert "2 rows with violations" in latest
    assert 'class="sm-nowrap"' in view.html


def test_plural_helper():
    assert [plural(n, "row") for n in (0, 1, 2, 1000)] == [
        "0 rows",
        "1 row",
        "2 rows",
        "1,000 rows",
    ]


# -- forgiving inputs -------------------------------------------------------------------
def test_assignment_with_a_semicolon_keeps_the_result(ip, collector):
    cell = run(ip, 'r = %segment_track "Kept" --user-id u1;')
    assert cell.outputs == [] and cell.stdout == ""
    assert ip.user_ns["r"].ok and ip.user_ns["r"].label == "Kept"
    assert run(ip, '%segment_track "Quiet" --user-id u1;').outputs == []


@dataclasses.dataclass
class Order:
    order_id: str
    total: float


@pytest.mark.parametrize(
    "value",
    [
        pd.Series({"order_id": "o1", "total": 5.0}),
        collections.namedtuple("Order", "order_id total")("o1", 5.0),
        Order("o1", 5.0),
    ],
    ids=["series", "namedtuple", "dataclass"],
)
def test_row_like_values_are_accepted_as_dicts(ip, collector, value):
    ip.user_ns["order"] = value
    cell = run(ip, '%segment_track "Order Completed" --user-id u1 --properties order')
    assert cell.error is None
    assert collector.events()[-1]["properties"] == {"order_id": "o1", "total": 5.0}


def test_email_overriding_traits_email_is_reported(ip, collector):
    cell = run(ip, '%segment_identify u1 --email a@x.io --traits {"email": "old@x.io"}')
    assert "traits.email 'old@x.io' was replaced by the email given ('a@x.io')" in cell.text
    assert collector.events()[-1]["traits"]["email"] == "a@x.io"


def test_a_backfill_without_ids_is_refused_before_anything_is_sent(ip, collector):
    ip.user_ns["df"] = pd.DataFrame({"event": ["A", "B"], "customer": ["c1", "c2"]})
    cell = run(ip, "%segment_track --from df --no-progress")
    message = str(cell.error)
    assert "no column gives a userId or anonymousId" in message
    assert "columns: event, customer" in message and "--user-id-col" in message
    assert "--anonymous" in message and collector.count() == 0
    ok = run(ip, "%segment_track --from df --user-id-col customer --no-progress")
    assert ok.error is None and {e["userId"] for e in collector.events()} == {"c1", "c2"}


def test_a_table_with_two_columns_of_one_name_is_refused(ip, collector):
    """pandas and Arrow allow two columns of one name (or 1 and '1'); a message cannot
    hold both, and the second silently overwrote the first."""
    import pyarrow as pa

    ip.user_ns["df"] = pd.DataFrame([["u1", 1, 2]], columns=["userId", 1, "1"])
    cell = run(ip, '%segment_track "Order Completed" --from df --no-progress')
    assert cell.error is not None and "more than one column named '1'" in str(cell.error)
    assert "rename them first" in str(cell.error) and collector.count() == 0
    table = pa.table([pa.array(["u1"]), pa.array([1]), pa.array([2])], names=["userId", "a", "a"])
    result = SegmentClient(endpoint=collector.url).send_many(table, "track", event="E")
    assert not result.ok and "more than one column named 'a'" in result.error_message
    assert collector.count() == 0


def test_anonymous_generates_ids_that_a_rerun_repeats(collector, outbox_path):
    client = SegmentClient(endpoint=collector.url, outbox=outbox_path)
    rows = [{"event": "A", "n": i} for i in range(3)]
    refused = client.send_many(rows, "track", progress=False)
    assert not refused.ok and "no row has a userId or anonymousId" in refused.error_message
    assert collector.count() == 0
    first = client.send_many(rows, "track", progress=False, anonymous=True, run_id="anon-1")
    assert first.ok and first.anonymized == 3
    ids = {e["anonymousId"] for e in collector.events()}
    assert len(ids) == 3
    elsewhere = SegmentClient(endpoint=collector.url, outbox=outbox_path.with_name("other.db"))
    again = elsewhere.send_many(rows, "track", progress=False, anonymous=True, run_id="anon-1")
    assert again.ok and {e["anonymousId"] for e in collector.events()} == ids  # same run id
    other = client.send_many(rows, "track", progress=False, anonymous=True, run_id="anon-2")
    assert other.ok and len({e["anonymousId"] for e in collector.events()}) == 6


def test_rows_missing_ids_among_others_are_counted_not_invented(collector):
    client = SegmentClient(endpoint=collector.url)
    rows = iter([{"event": "A", "userId": "u1"}, {"event": "A"}, {"event": "A", "userId": "u3"}])
    result = client.send_many(rows, "track", progress=False)
    assert result.accepted == 2 and result.invalid == 1 and result.missing_ids == 1
    assert "1 row had no userId or anonymousId: not sent" in str(result)
    assert all(e.get("userId") for e in collector.events())


# -- smaller -----------------------------------------------------------------------------
def test_retry_with_an_empty_outbox_prints_one_line(ip, collector, outbox_path):
    assert not Outbox(outbox_path).pending()
    cell = run(ip, "%segment_retry")
    assert cell.error is None and cell.outputs == []
    assert cell.stdout.count("\n") == 1 and cell.stdout.startswith("Nothing to resend")


def test_local_after_a_remote_endpoint_needs_no_key(ip, monkeypatch):
    import getpass

    monkeypatch.delenv("SEGMENT_WRITE_KEY", raising=False)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "typed-remote-key-123")
    run(ip, "%segment_connect https://api.segment.io")
    shown = run(ip, "%segment_connect local").text
    assert "not needed" in shown and "•" not in shown.split("Write key", 1)[1].splitlines()[0]
    client = get_session(ip).client or get_session(ip)._ready()
    assert client.key_source.startswith("not needed")


def test_help_shows_a_dataframe_metavar_for_from(ip):
    help_text = get_session(ip).config.shell.find_line_magic("segment_track").__doc__ or ""
    assert "--from DATAFRAME" in help_text and "--from DICT" not in help_text


def test_small_inputs_draw_no_bar_and_the_bar_agrees_with_the_summary(collector, capsys):
    client = SegmentClient(endpoint=collector.url)
    client.send_many([{"event": "E", "userId": "u"}] * 49, "track")
    assert capsys.readouterr().err == ""
    result = client.send_many([{"event": "E", "userId": f"u{i}"} for i in range(6000)], "track")
    bar = capsys.readouterr().err
    rates = re.findall(r"([\d.]+)(k?) events/s", bar)
    assert rates, bar
    value, kilo = rates[-1]
    shown = float(value) * (1000 if kilo else 1)
    assert shown == pytest.approx(result.events_per_second, rel=0.25)


# -- completion (IPython's completer API) -----------------------------------------------
def complete(shell, text):
    with provisionalcompleter():
        return [c.text for c in shell.Completer.completions(text, len(text))]


def test_tab_completes_options_plan_events_keys_and_variables(ip):
    run(ip, "%segment_plan load ecommerce")
    ip.user_ns.update(order={"order_id": "o1"}, frame=pd.DataFrame({"uid": [1]}), count=5)
    assert "--user-id" in complete(ip, "%segment_track --us")
    assert '"Order Completed"' in complete(ip, '%segment_track "Order Co')
    assert complete(ip, "%segment_track E --properties or") == ["order"]
    assert complete(ip, "%segment_track E --from fr") == ["frame"]
    assert complete(ip, "%segment_track --from frame --user-id-col u") == ["uid"]
    body = '%%segment_track "Order Completed"\n{"order_id": "o1", "curr'
    assert complete(ip, body) == ['"currency"']
    assert "ecommerce" in complete(ip, "%segment_plan load eco")
    assert complete(ip, "%segment_connect lo") == ["local"]
    assert complete(ip, "%segment_form identify --em") == ["--email"]
    assert complete(ip, "%segment_form --user-id u1 --prop") == ["--properties"]
    assert "count" in complete(ip, "cou")  # ordinary Python completion is untouched
    # %segment_plan offers the options its command reads, and refuses the others
    assert complete(ip, "%segment_plan audit exports --") == [
        "--events", "--from", "--no-progress", "--output", "--since", "--until"]  # fmt: skip
    assert "--required-share" in complete(ip, "%segment_plan infer --")
    assert "--since" not in complete(ip, "%segment_plan check frame --")
    assert complete(ip, "%%segment_plan --") == ["--merge", "--output"]
