"""A loopback stand-in for Segment's Public API tracking-plan endpoints.

Built from the OpenAPI subset in tests/data/segment-public-api: it routes only the
operations listed there, checks the Bearer token, the media type, the pagination
query (``pagination[count]`` 1..200) and every request body against the document's
schemas (made strict: a field the schema does not list is refused too), and answers
in the document's shapes. Plans live in memory.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jsonschema_rs

SPEC = json.loads(
    (Path(__file__).parent / "data" / "segment-public-api" / "tracking-plans.json").read_text()
)
MEDIA = "application/vnd.segment.v1+json"
MAX_RULES = 200  # per PUT or PATCH: Segment answers 422 above it


def _strict(components: dict[str, Any]) -> dict[str, Any]:
    strict = copy.deepcopy(components)
    for name in ("RuleV1", "UpsertRuleV1", "ReplaceRulesInTrackingPlanV1Input",
                 "UpdateRulesInTrackingPlanV1Input"):  # fmt: skip
        strict["schemas"][name]["additionalProperties"] = False
    return strict


def _validator(ref: str) -> Any:
    return jsonschema_rs.validator_for(
        {"$ref": ref, "components": _strict(SPEC["components"])}, offline=True
    )


def _routes() -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    routes = []
    for template, operations in SPEC["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", template) + "$")
        for method, operation in operations.items():
            routes.append((pattern, method.upper(), operation))
    return routes


ROUTES = _routes()


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorized: bool


@dataclass
class PublicApiServer:
    token: str = "test-public-api-token-1234"
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    echo_auth: bool = False  # a hostile server that puts the Authorization header in errors
    refuse_write: int | None = None  # answer this PUT/PATCH (0 = the first) with a 422
    hook: Any = None  # run once when the next request arrives (e.g. send SIGINT)
    delay: float = 0.0  # then wait this long before answering (a slow answer)

    def add_plan(self, plan_id: str, name: str, rules: list[dict[str, Any]]) -> None:
        self.plans[plan_id] = {
            "trackingPlan": {"id": plan_id, "name": name, "slug": name.lower(), "type": "LIVE",
                             "description": "", "createdAt": "2024-01-01T00:00:00.000Z",
                             "updatedAt": "2024-01-01T00:00:00.000Z"},
            "rules": copy.deepcopy(rules),
        }  # fmt: skip

    def writes(self) -> list[Seen]:
        return [s for s in self.seen if s.method in ("PUT", "PATCH")]

    # -- the HTTP side ----------------------------------------------------------------
    def start(self) -> str:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                status, headers, payload = outer.answer(self)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", MEDIA if status < 300 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], Any]:
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        if self.delay:
            time.sleep(self.delay)
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query))
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        auth = request.headers.get("Authorization", "")
        authorized = auth == f"Bearer {self.token}"
        body = json.loads(raw) if raw else None
        self.seen.append(Seen(request.command, parts.path, query, body, authorized))
        if self.faults:
            status, headers, payload = self.faults.pop(0)
            return status, headers, payload
        if not authorized:
            detail = f" (got {auth})" if self.echo_auth else ""
            return 401, {}, _errors("Unauthorized", f"invalid token{detail}")
        for pattern, method, operation in ROUTES:
            match = pattern.match(parts.path)
            if match and method == request.command:
                plan_id = unquote(match.group(1))
                return self.operation(operation, plan_id, query, request, raw, body)
        return 404, {}, _errors("NotFound", "no such operation")

    def operation(self, operation, plan_id, query, request, raw, body):
        if plan_id not in self.plans:
            return 404, {}, _errors("NotFound", "Resource not found")
        plan = self.plans[plan_id]
        op = operation["operationId"]
        if op == "getTrackingPlan":
            return 200, {}, {"data": {"trackingPlan": plan["trackingPlan"]}}
        if op == "listRulesFromTrackingPlan":
            return self.list_rules(plan, query)
        if request.headers.get("Content-Type") != MEDIA:
            return 415, {}, _errors("UnsupportedMediaType", f"send {MEDIA}")
        schema_ref = operation["requestBody"]["content"][MEDIA]["schema"]["$ref"]
        errors = list(_validator(schema_ref).iter_errors(body))
        if errors:
            first = errors[0]
            where = "/".join(map(str, first.instance_path))
            return 422, {}, _errors("ValidationFailure", first.message, where)
        if self.refuse_write is not None and len(self.writes()) == self.refuse_write + 1:
            return 422, {}, _errors("ValidationFailure", "rule refused for the test", "rules")
        if len(body["rules"]) > MAX_RULES:  # documented in Segment's Protocols FAQ
            message = f"rules must contain less than or equal to {MAX_RULES} items"
            return 422, {}, _errors("ValidationFailure", message, "rules")
        if op == "replaceRulesInTrackingPlan":
            plan["rules"] = [_stored(rule) for rule in body["rules"]]
        else:  # updateRulesInTrackingPlan: upsert by (type, key)
            for rule in body["rules"]:
                stored = _stored(rule)
                key = (rule["type"], rule.get("key"))
                plan["rules"] = [r for r in plan["rules"] if (r["type"], r.get("key")) != key]
                if "newKey" in rule:
                    stored["key"] = rule["newKey"]
                plan["rules"].append(stored)
        return 200, {}, {"data": {"status": "SUCCESS"}}

    def list_rules(self, plan, query):
        count = query.get("pagination[count]") or query.get("pagination.count")
        cursor = query.get("pagination[cursor]") or query.get("pagination.cursor")
        if count is None:
            return (
                422,
                {},
                _errors("ValidationFailure", "pagination.count is required", "pagination"),
            )
        try:
            size = int(float(count))
        except ValueError:
            size = 0
        if not 1 <= size <= 200:
            return 422, {}, _errors("ValidationFailure", "count must be 1..200", "pagination")
        start = int(base64.b64decode(cursor).decode()) if cursor else 0
        rules = plan["rules"]
        page = rules[start : start + size]
        pagination: dict[str, Any] = {
            "current": base64.b64encode(str(start).encode()).decode(),
            "totalEntries": len(rules),
        }
        if start + size < len(rules):
            pagination["next"] = base64.b64encode(str(start + size).encode()).decode()
        return 200, {}, {"data": {"rules": page, "pagination": pagination}}


def _stored(rule: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rule.items() if k != "newKey"}
    out.setdefault("createdAt", "2024-06-01T00:00:00.000Z")
    out.setdefault("updatedAt", "2024-06-01T00:00:00.000Z")
    return out


def _errors(kind: str, message: str, where: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if where:
        error["field"] = where
    return {"errors": [error]}
