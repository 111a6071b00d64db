"""The write key never shows: reprs, tables, errors, logs, warnings, history."""

from __future__ import annotations

import logging
import pickle

import pytest
from conftest import SENTINEL_KEY, Step, fast_client

from segment_magics import SegmentClient


def everything_shown(client, results) -> str:
    parts = [repr(client), str(client.history.select()), client.history.select()._repr_html_()]
    for result in results:
        parts += [repr(result), str(result), result._repr_html_(), repr(result.to_dict())]
        parts += list(result.warnings)
    return "\n".join(parts)


def test_sentinel_key_appears_nowhere(faults, dead_url, caplog):
    caplog.set_level(logging.DEBUG)
    faults.then(Step(400, body=b"Bad Request"), Step(503), Step(503), Step(503), Step(503))
    client = fast_client(faults.url, max_retries=3)
    results = [
        client.track("ok", user_id="u"),
        client.track("rejected", user_id="u"),
        client.track("", user_id="u"),
        client.track("server down", user_id="u"),
        client.batch([{"type": "track", "event": "b", "userId": "u"}]),
    ]
    down = fast_client(dead_url, max_retries=1)
    results.append(down.track("refused", user_id="u"))
    shown = everything_shown(client, results) + everything_shown(down, results[-1:])
    assert SENTINEL_KEY not in shown
    assert SENTINEL_KEY not in caplog.text
    assert "••••" in repr(client)


def test_key_in_url_userinfo_is_not_shown():
    client = SegmentClient(endpoint=f"http://{SENTINEL_KEY}:x@127.0.0.1:9", write_key="k")
    result = client.track("e", user_id="u", dry_run=True)
    assert SENTINEL_KEY not in repr(client) + str(result) + result._repr_html_()


def test_write_key_cannot_be_pickled_or_printed():
    client = SegmentClient(endpoint="us", write_key=SENTINEL_KEY)
    assert SENTINEL_KEY not in str(vars(client))
    with pytest.raises(TypeError):
        pickle.dumps(client._key)
