"""The collector's debugger page: the latest events, each payload one click away."""

from __future__ import annotations

import html
import json
from typing import Any

from ..messages import message_label

_STYLE = """
body{font-family:system-ui,sans-serif;margin:16px;color:#1f2328}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}pre{margin:4px 0;font-size:12px;white-space:pre-wrap}
.muted{color:#57606a}
"""


def render_page(events: list[dict[str, Any]], total: int, refresh_seconds: int = 2) -> str:
    rows = []
    for event in events:
        payload = html.escape(json.dumps(event, indent=2, ensure_ascii=False))
        cells = [
            event.get("receivedAt", ""),
            event.get("type", ""),
            message_label(event),
            event.get("userId") or "",
            event.get("anonymousId") or "",
            event.get("messageId") or "",
        ]
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        rows.append(
            f"<tr>{tds}<td><details><summary>payload</summary><pre>{payload}</pre></details></td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="7" class="muted">No events yet.</td></tr>'
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{refresh_seconds}'>"
        f"<title>segment-magics collector</title><style>{_STYLE}</style></head><body>"
        "<h1>segment-magics local collector</h1>"
        f"<p class='muted'>{total} events received; showing the latest {len(events)}. "
        f"This page refreshes every {refresh_seconds} s. "
        "JSON: <a href='/v1/events'>/v1/events</a></p>"
        "<table><thead><tr><th>receivedAt</th><th>type</th><th>event/name</th><th>userId</th>"
        f"<th>anonymousId</th><th>messageId</th><th>payload</th></tr></thead><tbody>{body}"
        "</tbody></table></body></html>"
    )
