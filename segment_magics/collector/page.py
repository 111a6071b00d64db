"""The collector's debugger page: live, filterable, readable in light and dark.

The page is static HTML (``debugger.html``) that reads ``/v1/events``: new events
appear at the top without a reload (open payloads stay open), and it can be
paused, filtered and paged through every stored event. It builds the table with
DOM text nodes only, so nothing an event contains is ever read as HTML.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import orjson

POLL_MS = 1000
PAGE_SIZE = 100


@cache
def _template() -> str:
    return resources.files(__package__).joinpath("debugger.html").read_text(encoding="utf-8")


def render_page(counts: dict[str, int], plan: bool) -> str:
    config = {"counts": counts, "plan": plan, "interval": POLL_MS, "pageSize": PAGE_SIZE}
    # "<" written as \u003c: nothing inside the JSON can close the script element
    blob = orjson.dumps(config).decode().replace("<", "\\u003c")
    return _template().replace("__CONFIG__", blob)
