"""The magics in a fresh InteractiveShell: values, forms, errors, display, delivery."""

from __future__ import annotations

import pytest
from conftest import SENTINEL_KEY, Step, release, run

from segment_magics.client import Result
from segment_magics.magics import SegmentCallFailed, SegmentUsageError, get_session

CALLS = ("track", "identify", "page", "screen", "group", "alias")


def test_load_registers_line_and_cell_magics_and_unload_removes_them(make_shell):
    shell = make_shell()
    line, cell = shell.magics_manager.magics["line"], shell.magics_manager.magics["cell"]
    for kind in CALLS:
        assert f"segment_{kind}" in line and f"segment_{kind}" in cell
    assert {"segment_connect", "segment_history"} <= set(line)
    ours = [n for n in line if n.startswith("segment_")]
    shell.run_line_magic("unload_ext", "segment_magics")
    assert not any(n in line for n in ours)
    assert not any(n.startswith("segment_") for n in cell)
    shell.run_line_magic("load_ext", "segment_magics")
    assert "segment_track" in line


def test_an_existing_magic_is_not_overridden(make_shell):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell(config=cfg)

    def segment_history(line):
        return "someone else's"

    shell.register_magic_function(segment_history)
    with pytest.warns(UserWarning, match="segment_history already exists"):
        shell.run_line_magic("load_ext", "segment_magics")
    assert shell.run_line_magic("segment_history", "") == "someone else's"
    assert "segment_track" in shell.magics_manager.magics["line"]
    shell.run_line_magic("unload_ext", "segment_magics")
    assert shell.run_line_magic("segment_history", "") == "someone else's"
    release(shell)


def test_config_lists_every_option_with_help(ip, caplog):
    out = run(ip, "%config SegmentMagics")
    for name in ("endpoint", "write_key_env", "dry_run", "timeout", "max_retries",
                 "short_errors", "display_limit", "anonymous_id"):  # fmt: skip
        assert f"SegmentMagics.{name}" in out.stdout
    run(ip, '%config SegmentMagics.endpoint = "eu"')
    assert get_session(ip).client is None  # rebuilt on the next call, not when read
    run(ip, "%segment_track Config --user-id u --dry-run")
    assert get_session(ip).client.endpoint == "https://events.eu1.segmentapis.com/v1"
    run(ip, '%config SegmentMagics.endpoint = "mars"')  # IPython logs the TraitError
    assert "endpoint must be 'us', 'eu' or an http(s) URL" in caplog.text
    assert get_session(ip).config.endpoint == "eu"


def test_line_form_resolves_every_value_kind(ip, collector):
    ip.user_ns.update(uid="u-1", order={"order_id": "o1", "total": 99.0}, n=3, meta={"k": 1})
    code = (
        '%segment_track "Order Completed" --user-id $uid --properties order '
        '--context {"ip": "8.8.8.8"} --integrations {meta} --message-id {f"m-{n * 2}"} '
        "--timestamp 2024-01-15T10:30:00Z"
    )
    out = run(ip, code)
    assert out.error is None
    (event,) = collector.events()
    assert event["event"] == "Order Completed" and event["userId"] == "u-1"
    assert event["properties"] == {"order_id": "o1", "total": 99.0}
    assert event["context"]["ip"] == "8.8.8.8"
    assert event["integrations"] == {"k": 1}
    assert event["messageId"] == "m-6"
    assert event["timestamp"] == "2024-01-15T10:30:00.000Z"


def test_ipython_expansion_trap_does_not_apply(ip, collector):
    """Stock expansion gives up on the whole line when {"total": 99} fails; we don't."""
    ip.user_ns["uid"] = "u-trap"
    assert (
        run(ip, '%segment_track Checkout --user-id $uid --properties {"total": 99}').error is None
    )
    (event,) = collector.events()
    assert event["userId"] == "u-trap" and event["properties"] == {"total": 99}
    # Proof that the trap is real: IPython's own var_expand leaves $uid alone here.
    assert "$uid" in ip.var_expand('--user-id $uid --properties {"total": 99}')


def test_quoted_values_are_literal_and_bare_words_join(ip, collector):
    ip.user_ns["uid"] = "not-used"
    run(ip, "%segment_track Order Completed --user-id '$uid'")
    (event,) = collector.events()
    assert event["event"] == "Order Completed" and event["userId"] == "$uid"


def test_undefined_name_is_named_and_nothing_is_sent(ip, collector):
    out = run(ip, "%segment_track Viewed --user-id $nobody")
    assert isinstance(out.error, SegmentUsageError)
    assert "'nobody' is not defined" in str(out.error)
    assert collector.count() == 0
    out = run(ip, "%segment_track Viewed --user-id u --properties order_dict")
    assert "'order_dict' is not defined" in str(out.error)
    assert collector.count() == 0


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('%segment_track Viewed --user-id u --properties {"a": 1', "--properties: missing '}'"),
        ('%segment_track Viewed --user-id u --context={"a": [1}', "--context: unbalanced '}'"),
        ('%segment_track "Viewed --user-id u', 'unclosed " quote'),
    ],
)
def test_an_unclosed_brace_or_quote_names_its_option_and_sends_nothing(ip, collector, line, words):
    out = run(ip, line)
    assert isinstance(out.error, SegmentUsageError) and words in str(out.error)
    assert collector.count() == 0


def test_errors_render_as_one_line_unless_short_errors_is_off(ip):
    out = run(ip, "%segment_track Viewed --user-id $nobody")
    lines = out.error._render_traceback_()
    assert len(lines) == 1 and "SegmentUsageError" in lines[0]
    assert "Traceback" not in out.stdout
    run(ip, "%config SegmentMagics.short_errors = False")
    out = run(ip, "%segment_track Viewed --user-id $nobody")
    assert not hasattr(out.error, "_render_traceback_")
    assert "Traceback" in out.stdout or "SegmentUsageError" in out.stdout


def test_unknown_option_suggests_the_closest(ip):
    out = run(ip, "%segment_track X --user_id 5")
    assert isinstance(out.error, SegmentUsageError)
    assert "did you mean --user-id?" in str(out.error)
    out = run(ip, "%segment_identify u --propertes {}")
    assert "--properties" not in str(out.error)  # identify has traits, not properties
    assert "unknown option '--propertes'" in str(out.error)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("%segment_track Viewed --user-id u --run-id r1", "--run-id only applies with --from"),
        ("%segment_track Viewed --anonymous", "--anonymous only applies with --from"),
        ("%segment_identify u --no-progress --max-rate 5", "--no-progress, --max-rate only"),
        ("%segment_page Home --user-id u --user-id-col uid", "--user-id-col only applies with"),
        (
            "%segment_alias new --previous-id old --anonymous-id a",
            "--anonymous-id does not apply: alias takes no anonymousId",
        ),
        ("%segment_alias --from rows --anonymous", "--anonymous does not apply: alias takes no"),
    ],
)
def test_an_option_that_would_do_nothing_is_refused_and_nothing_is_sent(ip, collector, line,
                                                                         words):  # fmt: skip
    """Backfill options on a single call, and an anonymousId for alias, would be silently
    ignored: the cell fails instead, naming the option."""
    ip.user_ns["rows"] = [{"userId": "new", "previousId": "old"}]
    out = run(ip, line)
    assert isinstance(out.error, SegmentUsageError) and words in str(out.error), out.error
    assert collector.count() == 0


def test_help_shows_usage(ip):
    doc = ip.find_line_magic("segment_track").__doc__
    assert "%segment_track" in doc and "--user-id" in doc and "--properties" in doc
    out = run(ip, "%segment_track?")
    assert "--user-id" in out.stdout


@pytest.mark.parametrize(
    ("line", "expect"),
    [
        ("%segment_identify u-9 --email ada@example.com --name Ada --traits {'plan': 'pro'}",
         {"type": "identify", "userId": "u-9",
          "traits": {"plan": "pro", "email": "ada@example.com", "name": "Ada"}}),
        ("%segment_page Pricing --user-id u-9 --category Docs --properties {'path': '/pricing'}",
         {"type": "page", "name": "Pricing", "category": "Docs", "properties": {"path": "/pricing"}}),
        ("%segment_screen Home --anonymous-id a-1",
         {"type": "screen", "name": "Home", "anonymousId": "a-1"}),
        ("%segment_group acme --user-id u-9 --traits {'employees': 50}",
         {"type": "group", "groupId": "acme", "traits": {"employees": 50}}),
        ("%segment_alias anon-1 u-9", {"type": "alias", "previousId": "anon-1", "userId": "u-9"}),
    ],
)  # fmt: skip
def test_every_magic_delivers(ip, collector, line, expect):
    out = run(ip, line)
    assert out.error is None, out.error
    (event,) = collector.events()
    for key, value in expect.items():
        assert event[key] == value


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"plan": "pro", "beta": true, "seats": null}', {"plan": "pro", "beta": True, "seats": None}),
        ("{'plan': plan, 'beta': true,\n 'seats': 5 * 2}", {"plan": "gold", "beta": True, "seats": 10}),
        ("   ", {}),  # IPython itself refuses a cell body that is exactly empty
    ],
)  # fmt: skip
def test_cell_form_takes_json_or_python(ip, collector, body, expected):
    ip.user_ns["plan"] = "gold"
    out = run(ip, f"%%segment_identify u-1\n{body}")
    assert out.error is None, out.error
    assert collector.events()[0]["traits"] == expected


def test_cell_form_track_properties(ip, collector):
    ip.user_ns["total"] = 12.5
    assert run(ip, '%%segment_track "Cart Viewed" --user-id u\n{"total": total}').error is None
    assert collector.events()[0]["properties"] == {"total": 12.5}


def test_cell_body_that_is_not_a_dict_is_refused(ip, collector):
    out = run(ip, "%%segment_track Viewed --user-id u\n[1, 2, 3]")
    assert isinstance(out.error, SegmentUsageError) and "got list" in str(out.error)
    out = run(ip, "%%segment_track Viewed --user-id u --properties {'a': 1}\n{'b': 2}")
    assert "not both" in str(out.error)
    assert collector.count() == 0


def test_result_is_returned_displayed_and_stored(ip):
    out = run(ip, "%segment_track Viewed --user-id u")
    assert isinstance(out.result, Result) and out.result.ok
    assert ip.user_ns["_"] is out.result
    assert "Segment track · Viewed" in out.html and "delivered" in out.text
    run(ip, "r = %segment_page Home --user-id u")
    assert ip.user_ns["r"].type == "page"
    run(ip, "%segment_group acme --user-id u -o grp")
    assert ip.user_ns["grp"].message["groupId"] == "acme"


def test_trailing_semicolon_silences_display(ip, collector):
    out = run(ip, "%segment_track Quiet --user-id u;")
    assert out.outputs == [] and out.error is None
    assert collector.events()[0]["event"] == "Quiet"
    out = run(ip, "r = %segment_track Kept --user-id u;")
    assert out.outputs == [] and out.error is None
    assert isinstance(ip.user_ns["r"], Result) and ip.user_ns["r"].label == "Kept"


def test_validation_failure_shows_table_then_fails_the_cell(ip, collector):
    out = run(ip, "%segment_group --user-id u")
    assert isinstance(out.error, SegmentCallFailed)
    assert out.error.result.status_code == -1
    assert "groupId" in str(out.error) and "StatusCode -1" in str(out.error)
    assert "invalid: not sent" in out.html and "sm-fail" in out.html
    assert collector.count() == 0


def test_api_error_and_network_failure_fail_the_cell(make_shell, faults, dead_url):
    faults.then(Step(400, body=b'{"message": "bad payload"}'))
    shell = make_shell(faults.url, max_retries=0)
    out = run(shell, "%segment_track Viewed --user-id u")
    assert isinstance(out.error, SegmentCallFailed) and "bad payload" in str(out.error)
    assert "HTTP 400" in str(out.error)
    down = make_shell(dead_url, max_retries=0)
    out = run(down, "%segment_track Viewed --user-id u")
    assert isinstance(out.error, SegmentCallFailed) and "StatusCode 500" in str(out.error)


def test_dry_run_flag_and_config_send_nothing(ip, collector):
    out = run(ip, "%segment_track Preview --user-id u --dry-run")
    assert out.error is None and out.result.dry_run and "dry run" in out.text
    run(ip, "%config SegmentMagics.dry_run = True")
    run(ip, "%segment_identify u")
    assert collector.count() == 0
    history = run(ip, "%segment_history").result
    assert [r.dry_run for r in history] == [True, True]


def test_anonymous_id_per_call_or_per_session(ip, collector):
    run(ip, "%segment_track A")
    run(ip, "%segment_track B")
    first, second = collector.events()
    assert first["anonymousId"] != second["anonymousId"]
    run(ip, "%config SegmentMagics.anonymous_id = 'session'")
    run(ip, "%segment_track C")
    run(ip, "%segment_page D")
    third, fourth = collector.events()[:2]
    assert third["anonymousId"] == fourth["anonymousId"] == get_session(ip).anonymous_id


def test_session_anonymous_id_reaches_bulk_rows_and_dry_run_applies(ip, collector):
    """--from goes through the session like single calls: its anonymous id and dry run."""
    run(ip, "%config SegmentMagics.anonymous_id = 'session'")
    ip.user_ns["rows"] = [{"event": "Bulk", "n": 1}, {"event": "Bulk", "userId": "u-7"}]
    assert run(ip, "%segment_track --from rows --no-progress").error is None
    by_user = {e.get("userId"): e for e in collector.events()}
    assert by_user[None]["anonymousId"] == get_session(ip).anonymous_id
    assert "anonymousId" not in by_user["u-7"]
    ip.user_ns["links"] = [{"userId": "u-7", "previousId": "guest-1"}]
    linked = run(ip, "%segment_alias --from links --no-progress")  # alias: no anonymousId
    assert linked.error is None and collector.count() == 3
    assert "anonymousId" not in collector.events()[0]
    run(ip, "%config SegmentMagics.dry_run = True")
    out = run(ip, "%segment_track --from rows --no-progress")
    assert out.error is None and "dry run" in out.text and collector.count() == 3


def test_an_anonymous_id_for_an_alias_backfill_is_refused_in_python_too(collector):
    from segment_magics import SegmentClient

    client = SegmentClient(endpoint=collector.url, write_key="k")
    links = [{"userId": "u-7", "previousId": "guest-1"}]
    for given, name in (
        ({"anonymous": True}, "anonymous"),
        ({"anonymous_id": "a"}, "anonymous_id"),
    ):
        result = client.send_many(links, "alias", progress=False, **given)
        assert result.accepted == 0 and result.error_message == (
            f"alias calls do not take an anonymousId; leave out {name}")  # fmt: skip
    assert collector.count() == 0
    assert client.send_many(links, "alias", progress=False).accepted == 1


def test_history_filters_and_truncates(ip):
    for i in range(5):
        run(ip, f"%segment_track E{i} --user-id u")
    run(ip, "%segment_page Home --user-id u")
    run(ip, "%segment_track '' --user-id u")
    run(ip, "%config SegmentMagics.display_limit = 3")
    out = run(ip, "%segment_history")
    view = out.result
    assert len(view) == 7 and view[0].status_code == -1  # newest first
    assert "showing 3 of 7 rows" in out.html and "showing 3 of 7 rows" in out.text
    assert [r.type for r in run(ip, "%segment_history --type page").result] == ["page"]
    assert len(run(ip, "%segment_history --failed").result) == 1
    assert [r.label for r in run(ip, "%segment_history --event E3").result] == ["E3"]
    assert len(run(ip, "%segment_history --limit 2 -o recent").result) == 2
    frame = ip.user_ns["recent"].to_pandas()
    assert list(frame.columns)[:3] == ["time", "type", "event/name"]
    for column in ("StatusCode", "OriginalStatusCode", "ErrorMessage", "messageId"):
        assert column in frame.columns
    assert [r.type for r in run(ip, "%segment_history --type Page").result] == ["page"]
    for line, words in (("--limit -3", "--limit: '-3' is not a whole number of 1 or more"),
                        ("--limit few", "'few' is not a whole number"),
                        ("--type pages", "--type: 'pages' is not a call; use one of track")):  # fmt: skip
        refused = run(ip, f"%segment_history {line}")
        assert refused.error is not None and words in str(refused.error), line


def test_connect_local_starts_the_collector_and_shows_the_debugger(make_shell):
    shell = make_shell()
    out = run(shell, "%segment_connect local")
    session = get_session(shell)
    assert session.collector is not None and session.collector.running
    assert session.collector.debugger_url in out.text
    url = session.collector.debugger_url
    assert f'<a href="{url}" target="_blank" rel="noopener">{url}</a>' in out.html
    run(shell, "%segment_track Local --user-id u")
    assert session.collector.events()[0]["event"] == "Local"


def test_connect_remote_masks_the_key_from_env(make_shell, monkeypatch):
    monkeypatch.setenv("MY_SEGMENT_KEY", SENTINEL_KEY)
    shell = make_shell()
    out = run(shell, "%segment_connect eu --write-key-env MY_SEGMENT_KEY")
    assert out.error is None
    assert "events.eu1.segmentapis.com" in out.text and "$MY_SEGMENT_KEY" in out.text
    assert "••••" in out.text
    assert SENTINEL_KEY not in out.text + out.html + out.stdout + out.stderr


def test_connect_prompts_with_getpass_when_no_env_key(make_shell, monkeypatch):
    monkeypatch.delenv("SEGMENT_WRITE_KEY", raising=False)
    prompts = []

    def fake_getpass(prompt):
        prompts.append(prompt)
        return SENTINEL_KEY

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    shell = make_shell()
    out = run(shell, "%segment_connect us")
    assert len(prompts) == 1 and "SEGMENT_WRITE_KEY" in prompts[0]
    assert "getpass" in out.text and SENTINEL_KEY not in out.text + out.html
    assert get_session(shell).client.key_source == "typed at the getpass prompt"


NO_INPUT = """
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_cell("%load_ext segment_magics")
for line in ("%segment_connect us", "%segment_plan pull tp_123"):
    result = shell.run_cell(line)
    print(type(result.error_in_exec).__name__, result.error_in_exec)
"""


def test_a_prompt_where_no_one_can_answer_says_so_and_fails_the_cell(tmp_path):
    """nbconvert, papermill, a script: getpass meets no input (EOFError). It was an
    'internal error'; now the cell fails with the variable to set."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("SEGMENT_WRITE_KEY", "SEGMENT_PUBLIC_API_TOKEN")}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", NO_INPUT], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path, check=False)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("Segment")]
    assert len(lines) == 2, done.stdout + done.stderr
    assert lines[0].startswith("SegmentUsageError") and "set $SEGMENT_WRITE_KEY" in lines[0]
    assert lines[1].startswith("SegmentUsageError") and "$SEGMENT_PUBLIC_API_TOKEN" in lines[1]
    assert all("this kernel cannot prompt" in line for line in lines)
    assert "internal error" not in done.stdout


def test_magics_share_one_client(ip):
    run(ip, "%segment_track A --user-id u")
    client = get_session(ip).client
    run(ip, "%segment_page B --user-id u")
    assert get_session(ip).client is client
    assert len(client.history) == 2


def test_sentinel_key_never_appears_in_output_or_history(make_shell, monkeypatch, faults):
    monkeypatch.setenv("SEGMENT_WRITE_KEY", SENTINEL_KEY)
    shell = make_shell(faults.url, max_retries=0)
    faults.then(Step(400, body=b"Bad Request"))
    cells = [
        "%segment_connect",
        "%segment_track A --user-id u",
        "%segment_track B --user-id u",
        "%segment_track '' --user-id u",
        "%segment_history",
        "%config SegmentMagics",
    ]
    seen = ""
    for cell in cells:
        out = run(shell, cell)
        seen += out.text + out.html + out.stdout + out.stderr + str(out.error or "")
    seen += repr(shell.user_ns.get("_")) + str(list(shell.history_manager.input_hist_raw))
    assert SENTINEL_KEY not in seen
    assert faults.received[0].headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("depth", [2_000, 5_000])
@pytest.mark.parametrize("shape", ["json", "python", "list"])
def test_a_cell_body_nested_thousands_deep_gets_one_line_naming_the_limit(
    ip, collector, depth, shape
):
    opener, closer = {
        "json": ('{"a": ', "}"),
        "python": ("{'a': ", "}"),
        "list": ('{"a": [', "]}"),
    }[shape]
    body = opener * depth + "1" + closer * depth
    out = run(ip, f"%%segment_track Deep --user-id u\n{body}")
    assert out.error is not None
    message = str(out.error)
    assert "\n" not in message and "Traceback" not in out.stdout + out.stderr
    assert "250" in message or "200 levels" in message
    assert "internal error" not in message and "RecursionError" not in message
    assert collector.count() == 0


def test_config_refuses_timeouts_and_retries_out_of_range(make_shell, caplog):
    """%config takes what SegmentClient takes: a timeout of -1 or nan, negative retries
    are refused by name and the setting keeps its value."""
    shell = make_shell()
    for line, words in [
        ("SegmentMagics.timeout = -1", "timeout: -1.0 seconds is out of range"),
        ("SegmentMagics.timeout = float('nan')", "timeout: nan is not a number of seconds"),
        ("SegmentMagics.retry_budget = -2", "retry_budget: -2.0 seconds is out of range"),
        ("SegmentMagics.max_retries = -1", "max_retries: -1 is not a number of retries"),
    ]:
        caplog.clear()
        shell.run_line_magic("config", line)
        assert words in caplog.text
    assert shell.run_line_magic("config", "SegmentMagics.timeout") == 10.0
    assert shell.run_line_magic("config", "SegmentMagics.max_retries") == 3
