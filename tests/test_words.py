"""Words for the UI live in the UI: the next step said as a method call to a Python user
and as a magic in a notebook; every call in a cell shows its own block; the view is
chosen where a result is shown; one retry loop for all HTTP."""

from __future__ import annotations

import pytest
from conftest import fast_client, run
from fault_server import Step

from segment_magics.client import Remedy, python_phrase
from segment_magics.client.retry import RetryPolicy
from segment_magics.display import Style
from segment_magics.magics.phrasing import magic_phrase

ACTIONS = [
    "retry", "retry_rejected", "resume", "anonymous", "user_column", "show_failed",
    "resend_elsewhere", "move_outbox", "shared_failures",
]  # fmt: skip


@pytest.mark.parametrize("action", ACTIONS)
def test_every_remedy_has_words_in_both_uis(action):
    remedy = Remedy(action, run_id="20261201-abcdef", where="local")  # type: ignore[arg-type]
    assert "%" not in python_phrase(remedy) and "--" not in python_phrase(remedy)
    assert "client." in python_phrase(remedy) or "SegmentClient" in python_phrase(remedy)
    assert magic_phrase(remedy) != python_phrase(remedy)
    assert "client." not in magic_phrase(remedy)


def test_a_python_user_is_told_the_python_way(faults):
    faults.then(*[Step(503)] * 10)
    result = fast_client(faults.url, max_retries=1).track("E", user_id="u")
    shown = str(result) + result._repr_html_() + result.to_html(Style(view="full"))
    assert "client.retry_outbox()" in shown and "%segment" not in shown
    assert result.remedies == (Remedy("retry"),)
    assert "%segment_retry" in result.to_text(Style(phrase=magic_phrase))


def test_a_notebook_user_is_told_the_magic_way(make_shell, faults):
    faults.then(*[Step(503)] * 10)
    shell = make_shell(faults.url, max_retries=1)
    out = run(shell, '%segment_track "E" --user-id u')
    assert out.error is not None and "(next: %segment_retry)" in str(out.error)
    assert "%segment_retry" in out.html and "client.retry_outbox" not in out.html


def test_each_call_in_a_cell_shows_its_own_block_in_order(ip, collector):
    out = run(ip, '%segment_track "First" --user-id u\n%segment_track "Second" --user-id u')
    titles = [o["text/html"].split("<caption>")[1].split("</caption>")[0] for o in out.outputs]
    assert titles == ["Segment track · First", "Segment track · Second"]
    out = run(ip, 'for name in ["A", "B", "C"]:\n    %segment_track $name --user-id u')
    assert len(out.outputs) == 3


def test_an_assigned_or_silenced_call_shows_nothing(ip, collector):
    out = run(ip, 'r = %segment_track "E" --user-id u\n%segment_page Home --user-id u;')
    assert out.outputs == [] and ip.user_ns["r"].ok
    out = run(ip, '%segment_track "E" --user-id u\nx = 1')
    assert len(out.outputs) == 1  # a statement of its own: shown where it runs
    assert collector.count() == 3


def test_the_view_is_chosen_where_the_result_is_shown(ip, collector):
    out = run(ip, '%segment_track "E" --user-id u')
    result = out.result
    assert not hasattr(result, "view")
    compact, full = result.to_html(Style(view="compact")), result.to_html(Style(view="full"))
    assert "OriginalStatusCode" not in compact and "OriginalStatusCode" in full
    run(ip, '%config SegmentMagics.result_view = "full"')
    assert "OriginalStatusCode" in run(ip, '%segment_track "E" --user-id u').html


def test_retry_state_counts_waits_and_gives_up():
    policy = RetryPolicy(max_retries=2, backoff_base=1.0, backoff_cap=1.0, total_budget=100.0)
    state = policy.start()
    assert state.begin() == 1 and state.next_wait()[1] == ""
    assert 0.75 <= state.next_wait()[0] <= 1.25
    state.begin()
    state.begin()
    wait, why = state.next_wait()
    assert wait == 0 and why == "gave up after 3 attempts"
    tight = RetryPolicy(max_retries=5, max_retry_after=50.0, total_budget=3.0).start()
    tight.begin()
    assert "budget" in tight.next_wait(retry_after=10.0)[1]
