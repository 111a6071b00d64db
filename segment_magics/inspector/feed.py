"""What the event inspector shows, worked out in the kernel (no widget code here).

Two feeds answer the same questions: a page of rows for the filters, one event's
detail, the plan's violations grouped, the counts, and a version that goes up when
something changed.

- :class:`CollectorFeed`: the events that reached the embedded collector, with its
  verdicts (the notebook's plan, Segment's drop reasons).
- :class:`HistoryFeed`: what this notebook sent, from its history, when it sends to
  Segment itself (``us``, ``eu`` or a URL) and there is no collector to ask.

Rows are small summaries; a payload crosses to the browser only for the one event
selected, so a burst of 100,000 events costs the browser one page of rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from ..client import BulkResult, History, Outcome, Result
from ..collector.store import EventStore, Record

PAGE_ROWS = 100  # rows a page brings
VERDICTS = ("", "valid", "violations", "dropped")  # the verdict filter's choices
FILTER_KEYS = ("type", "event", "userId", "q", "verdict", "field")


Page = tuple[int, list[dict[str, Any]]]  # the matching count, and one page of rows


class Feed(Protocol):
    label: str

    def version(self) -> int: ...

    def page(self, filters: Mapping[str, str], before: int | None = None) -> Page: ...

    def detail(self, row_id: int) -> dict[str, Any] | None: ...

    def groups(self) -> list[dict[str, Any]]: ...

    def counts(self) -> dict[str, int]: ...


def clean_filters(filters: Mapping[str, Any]) -> dict[str, str]:
    """The filters a browser sent, as plain strings of the known keys."""
    out = {k: str(filters.get(k) or "").strip() for k in FILTER_KEYS}
    if out["verdict"] not in VERDICTS:
        out["verdict"] = ""
    return {k: v for k, v in out.items() if v}


# -- the collector ----------------------------------------------------------------------
class CollectorFeed:
    """The embedded collector's events and verdicts."""

    def __init__(self, store: EventStore, label: str) -> None:
        self.store = store
        self.label = label

    def version(self) -> int:
        return self.store.version

    def page(
        self, filters: Mapping[str, str], before: int | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        query = dict(filters)
        verdict = query.pop("verdict", "")
        if verdict == "valid":
            query["valid"] = "true"
        elif verdict == "violations":
            query["valid"] = "false"
        elif verdict == "dropped":
            query["dropped"] = "true"
        count, records = self.store.query(PAGE_ROWS, before=before, filters=query)
        return count, [_row(record.parsed()) for record in records]

    def detail(self, row_id: int) -> dict[str, Any] | None:
        record = self.store.record(row_id)
        return _detail(record.parsed()) if record is not None else None

    def groups(self) -> list[dict[str, Any]]:
        return self.store.violation_groups()

    def counts(self) -> dict[str, int]:
        return self.store.counts()


def _payload(record: Mapping[str, Any]) -> dict[str, Any]:
    payload = record.get("payload")
    return payload if isinstance(payload, dict) else {}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _badges(verdict: Mapping[str, Any]) -> list[dict[str, str]]:
    badges = []
    if verdict.get("duplicate"):
        badges.append({"kind": "drop", "text": "duplicate messageId"})
    elif verdict.get("dropped"):
        badges.append({"kind": "drop", "text": "Segment would drop"})
    violations = verdict.get("violations") or []
    if violations:
        count = len(violations)
        badges.append({"kind": "bad", "text": f"{count} violation{'s' if count > 1 else ''}"})
    elif verdict.get("valid") is True and not verdict.get("dropped"):
        badges.append({"kind": "ok", "text": "valid"})
    return badges


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    payload = _payload(record)
    verdict = record.get("verdict") or {}
    label = (
        payload.get("event")
        or payload.get("name")
        or payload.get("groupId")
        or payload.get("previousId")
    )
    return {
        "id": record["id"],
        "time": _text(record.get("receivedAt")),
        "type": _text(payload.get("type")),
        "label": _text(label),
        "user": _text(payload.get("userId") or payload.get("anonymousId")),
        "messageId": _text(payload.get("messageId")),
        "badges": _badges(verdict),
    }


MISSING = "(missing)"  # what a violation's value cell shows where the path holds nothing


def value_at(payload: Any, path: str) -> str:
    """The JSON of the value a violation's path names (``properties.products[0].price``),
    or "(missing)" where there is none: a member left out is not a ``null`` (the
    collector's page says the same)."""
    current = payload
    for part in path.replace("]", "").replace("[", ".").split("."):
        if part == "":
            continue
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return json.dumps(current, default=str)


def _detail(record: Mapping[str, Any]) -> dict[str, Any]:
    payload = record.get("payload")
    verdict = record.get("verdict") or {}
    reasons = []
    if verdict.get("dropped"):
        reasons.append(f"Segment would drop this: {verdict['dropped']}")
    violations = [
        {
            "field": _text(v.get("field")),
            "kind": _text(v.get("kind")),
            "expected": _text(v.get("detail")),
            "value": value_at(payload, _text(v.get("field"))),
        }
        for v in verdict.get("violations") or []
        if isinstance(v, dict)
    ]
    return {
        "id": record["id"],
        "title": _row(record)["label"] or _text(_payload(record).get("type")),
        "time": _text(record.get("receivedAt")),
        "payload": json.dumps(payload, indent=2, ensure_ascii=False, default=str),
        "reasons": reasons,
        "violations": violations,
        "checked": bool(verdict.get("checked")),
    }


# -- the history, when calls go to Segment itself -----------------------------------------
class HistoryFeed:
    """What this notebook sent, newest first: each single call with the message it sent,
    each bulk run as one row. The verdicts are the notebook's (its plan's check, and
    what the server answered)."""

    def __init__(self, history: History, label: str) -> None:
        self.history = history
        self.label = label

    def version(self) -> int:
        return self.history.version

    def _entries(self) -> list[tuple[int, Outcome]]:
        """Oldest first: the position is the row id (the history iterates newest first)."""
        return list(enumerate(reversed(list(self.history))))

    def page(
        self, filters: Mapping[str, str], before: int | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        rows = [_history_row(i, o) for i, o in reversed(self._entries())]
        rows = [r for r in rows if _matches(r, filters)]
        count = len(rows)
        if before is not None:
            rows = [r for r in rows if r["id"] < before]
        return count, rows[:PAGE_ROWS]

    def detail(self, row_id: int) -> dict[str, Any] | None:
        entries = self._entries()
        if not 0 <= row_id < len(entries):
            return None
        outcome = entries[row_id][1]
        row = _history_row(row_id, outcome)
        single = outcome if isinstance(outcome, Result) else None
        body: Any = single.message if single is not None else outcome.to_dict()
        violations = [
            {"field": v.field, "kind": v.kind, "expected": v.detail,
             "value": value_at(body, v.field)}
            for v in (single.violations if single is not None else ())
        ]  # fmt: skip
        return {
            "id": row_id,
            "title": row["label"] or row["type"],
            "time": row["time"],
            "payload": json.dumps(body, indent=2, ensure_ascii=False, default=str),
            "reasons": [outcome.error_message] if outcome.error_message else [],
            "violations": violations,
            "checked": outcome.plan_checked,
        }

    def groups(self) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for index, outcome in self._entries():
            if not isinstance(outcome, Result):
                continue
            row = _history_row(index, outcome)
            for v in outcome.violations:
                key = (row["type"], row["label"], v.field, v.kind)
                group = groups.setdefault(key, {
                    "type": row["type"], "event": row["label"], "field": v.field,
                    "kind": v.kind, "count": 0, "first": row["time"], "last": row["time"],
                    "example": index, "detail": v.detail,
                })  # fmt: skip
                group["count"] += 1
                group["last"] = row["time"]
        return sorted(groups.values(), key=lambda g: -int(g["count"]))

    def counts(self) -> dict[str, int]:
        total = valid = invalid = failed = 0
        for outcome in self.history:
            total += 1
            if isinstance(outcome, Result) and outcome.plan_checked:
                valid += not outcome.violations
                invalid += bool(outcome.violations)
            failed += not outcome.ok
        return {"total": total, "valid": valid, "invalid": invalid, "dropped": failed,
                "duplicates": 0, "trimmed": 0}  # fmt: skip


def _history_row(index: int, outcome: Outcome) -> dict[str, Any]:
    message = outcome.message if isinstance(outcome, Result) and outcome.message else {}
    label = message.get("event") or message.get("name") or message.get("groupId") or ""
    if isinstance(outcome, BulkResult):
        label = outcome.label
    badges = []
    if not outcome.ok:
        badges.append({"kind": "drop", "text": f"not delivered ({outcome.status_code})"})
    violations = outcome.violations if isinstance(outcome, Result) else ()
    if violations:
        badges.append({"kind": "bad", "text": f"{len(violations)} violation"
                       f"{'s' if len(violations) > 1 else ''}"})  # fmt: skip
    elif outcome.plan_checked and outcome.ok:
        badges.append({"kind": "ok", "text": "valid"})
    return {
        "id": index,
        "time": outcome.created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "type": outcome.type,
        "label": _text(label),
        "user": _text(message.get("userId") or message.get("anonymousId")),
        "messageId": _text(message.get("messageId")),
        "badges": badges,
        "_ok": outcome.ok,
        "_violations": [v.field for v in violations],
        "_text": json.dumps(message, default=str) if message else "",
    }


def _matches(row: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
    verdicts = {"valid": row["_ok"] and not row["_violations"],
                "violations": bool(row["_violations"]), "dropped": not row["_ok"]}  # fmt: skip
    checks = {
        "type": lambda v: row["type"] == v,
        "event": lambda v: row["label"] == v,
        "userId": lambda v: row["user"] == v,
        "q": lambda v: v.lower() in row["_text"].lower() or v.lower() in row["label"].lower(),
        "verdict": lambda v: verdicts.get(v, True),
        "field": lambda v: v in row["_violations"],
    }
    return all(checks[k](v) for k, v in filters.items() if k in checks)


def public_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the browser gets it (the history's matching aids left behind)."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


__all__ = ["CollectorFeed", "Feed", "HistoryFeed", "Record", "clean_filters", "public_row"]
