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
.good{color:#1a7f37;font-weight:600}.bad{color:#cf222e}
"""


def _verdict(event: dict[str, Any]) -> str:
    if "_valid" not in event:
        return ""
    if event["_valid"]:
        return "<td class='good'>valid</td>"
    problems = "<br>".join(
        html.escape(f"{v.get('field')}: {v.get('detail')} ({v.get('kind')})")
        for v in event.get("_violations", [])
    )
    return f"<td class='bad'>{problems}</td>"


def render_page(
    events: list[dict[str, Any]],
    total: int,
    refresh_seconds: int = 2,
    counts: dict[str, int] | None = None,
) -> str:
    rows = []
    for event in events:
        shown = {k: v for k, v in event.items() if not k.startswith("_")}
        payload = html.escape(json.dumps(shown, indent=2, ensure_ascii=False))
        cells = [
            event.get("receivedAt", ""),
            event.get("type", ""),
            message_label(event),
            event.get("userId") or "",
            event.get("anonymousId") or "",
            event.get("messageId") or "",
        ]
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        if counts is not None:
            tds += _verdict(event) or "<td></td>"
        rows.append(
            f"<tr>{tds}<td><details><summary>payload</summary><pre>{payload}</pre></details></td></tr>"
        )
    split = (
        f"<p>Tracking plan: <span class='good'>{counts['valid']} valid</span>, "
        f"<span class='bad'>{counts['invalid']} with violations</span> "
        "(<a href='/v1/events?valid=false'>the bad ones</a>)</p>"
        if counts is not None
        else ""
    )
    plan_head = "<th>tracking plan</th>" if counts is not None else ""
    body = "".join(rows) or '<tr><td colspan="7" class="muted">No events yet.</td></tr>'
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{refresh_seconds}'>"
        f"<title>segment-magics collector</title><style>{_STYLE}</style></head><body>"
        "<h1>segment-magics local collector</h1>"
        f"<p class='muted'>{total} events received; showing the latest {len(events)}. "
        f"This page refreshes every {refresh_seconds} s. "
        "JSON: <a href='/v1/events'>/v1/events</a></p>"
        f"{split}"
        "<table><thead><tr><th>receivedAt</th><th>type</th><th>event/name</th><th>userId</th>"
        f"<th>anonymousId</th><th>messageId</th>{plan_head}<th>payload</th></tr></thead><tbody>{body}"
        "</tbody></table></body></html>"
    )
