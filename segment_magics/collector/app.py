"""The collector as a WSGI application: Segment's Tracking API plus a read API and a page.

Every answer is JSON an SDK can read (``success``, ``message``, ``code``). The
application also guards the local machine: it answers only to loopback host
names (or the host it was told to serve: DNS rebinding), refuses cross-origin
browser requests that change state, and never answers 500 to bad input.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from ..messages import format_datetime
from ..plan import PlanValidator
from .page import render_page
from .rules import ROUTES, Rejected, bad, decode, drop_reason, messages_of, strip_write_keys
from .store import MAX_LIMIT, EventStore, Verdict

log = logging.getLogger("segment_magics.collector")

StartResponse = Callable[..., Any]
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
EVENT_FILTERS = ("type", "event", "userId", "messageId", "valid", "dropped", "duplicate", "field",
                 "q")  # fmt: skip
READ_ROUTES = frozenset({"/v1/events"})  # what only the collector's own page may read
CLOSE_CONNECTION = "segment_magics.close_connection"  # set by the server: close after answering
# Like Segment's API, the ingest routes take events from web pages on any origin
# (analytics.js); nothing else is readable or writable cross-origin.
INGEST_CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type, Authorization, Content-Encoding"),
    ("Access-Control-Max-Age", "600"),
]


def _json(status: int, payload: Any) -> tuple[int, str, bytes]:
    return status, "application/json", orjson.dumps(payload)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _host(value: str) -> str:
    """The host name of a Host header or an origin, without the port, lower-cased."""
    value = value.strip().lower()
    if "://" in value:
        value = urlsplit(value).netloc
    if value.startswith("["):  # [::1]:8787
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def write_key_of(environ: dict[str, Any], body: dict[str, Any]) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            user = base64.b64decode(header[6:].strip(), validate=True).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if user:
            return user
    key = body.get("writeKey")
    return key if isinstance(key, str) and key else None


def _ingest_route(environ: dict[str, Any]) -> str | None:
    """The call a Tracking API path takes (``/v1/t`` → track), or None."""
    path = environ.get("PATH_INFO", "/").rstrip("/")
    return ROUTES.get(path.removeprefix("/v1/")) if path.startswith("/v1/") else None


class CollectorApp:
    """Routes a request; ``plan`` (optional) gives every stored message a verdict."""

    def __init__(
        self, store: EventStore, plan: PlanValidator | None = None, hosts: Iterable[str] = ()
    ) -> None:
        self.store = store
        self.plan = plan
        self.hosts = LOOPBACK_HOSTS | {_host(h) for h in hosts if h}
        # One request's messages are decoded, checked and stored at a time: the work is
        # Python's and holds the GIL anyway, and the memory a flood of parallel requests
        # takes then stays at one request's worth.
        self._ingesting = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        ingest = _ingest_route(environ)  # worked out once: it routes and it sets CORS
        try:
            self._guard(environ, method)
            status, kind, body = self._route(environ, method, ingest)
        except Rejected as exc:
            status, kind, body = _json(
                exc.status, {"success": False, "message": exc.message, "code": exc.code}
            )
            if exc.close and CLOSE_CONNECTION in environ:
                environ[CLOSE_CONNECTION]()
        except Exception:  # never let a request take the collector down, nor leak a trace
            log.exception("collector error on %s %s", method, environ.get("PATH_INFO"))
            status, kind, body = _json(
                500, {"success": False, "message": "internal collector error", "code": "internal"}
            )
        headers = [("Content-Type", kind), ("Content-Length", str(len(body)))]
        if method in {"POST", "OPTIONS"} and ingest is not None:
            headers += INGEST_CORS
        if kind.startswith("text/html"):
            headers.append(("Cache-Control", "no-store"))
        start_response(_reason(status), headers)
        return [] if method == "HEAD" else [body]

    # -- guards -----------------------------------------------------------------------
    def _guard(self, environ: dict[str, Any], method: str) -> None:
        host = _host(environ.get("HTTP_HOST", ""))
        if host not in self.hosts:
            raise Rejected(
                403,
                "forbidden_host",
                f"this collector answers to {', '.join(sorted(self.hosts))} only "
                "(protection against DNS rebinding)",
            )
        if method in {"DELETE", "PUT", "PATCH"} and self._foreign(environ):
            raise Rejected(
                403, "forbidden_origin", "cross-origin requests cannot change the collector"
            )
        path = environ.get("PATH_INFO", "/").rstrip("/")
        if method in {"GET", "HEAD"} and path in READ_ROUTES and self._foreign(environ):
            # refused before any work: a page elsewhere could not read the answer, but
            # the collector would still build it (no-cors requests)
            raise Rejected(403, "forbidden_origin", "other sites cannot read the collector")

    def _foreign(self, environ: dict[str, Any]) -> bool:
        """A browser request made by a page of another origin (another port included)."""
        site = environ.get("HTTP_SEC_FETCH_SITE", "").lower()
        if site in {"cross-site", "same-site"}:
            return True
        origin = environ.get("HTTP_ORIGIN")
        return origin is not None and (origin == "null" or _host(origin) not in self.hosts)

    # -- routes -----------------------------------------------------------------------
    def _route(
        self, environ: dict[str, Any], method: str, ingest: str | None
    ) -> tuple[int, str, bytes]:
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        if method == "POST":
            return self._ingest(environ, path, ingest)
        if method in {"GET", "HEAD"}:
            if path in {"/", "/index.html"}:
                counts = self.store.counts()
                page = render_page(counts, plan=self.plan is not None)
                return 200, "text/html; charset=utf-8", page.encode()
            if path == "/health":
                counts = self.store.counts()
                health: dict[str, Any] = {"status": "ok", "events": counts["total"]}
                if self.plan is not None:
                    health.update(valid=counts["valid"], invalid=counts["invalid"])
                for name in ("dropped", "duplicates", "trimmed"):
                    if counts[name]:
                        health[name] = counts[name]
                return _json(200, health)
            if path == "/v1/events":
                return self._events(environ)
        if method == "DELETE" and path == "/v1/events":
            return _json(200, {"success": True, "deleted": self.store.reset()})
        if method == "OPTIONS" and ingest is not None:
            return 204, "text/plain", b""  # a browser's preflight: the CORS headers say yes
        if path == "/v1/events" or path in {"/", "/health"} or path.startswith("/v1/"):
            raise Rejected(405, "method_not_allowed", f"{method} is not allowed on {path}")
        raise Rejected(404, "not_found", f"no route {path}")

    def _events(self, environ: dict[str, Any]) -> tuple[int, str, bytes]:
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        limit = _bounded_int(query.pop("limit", "100"), "limit", 0, MAX_LIMIT)
        after = _bounded_int(query.pop("after", ""), "after", 0, 2**62)
        before = _bounded_int(query.pop("before", ""), "before", 0, 2**62)
        unknown = sorted(set(query) - set(EVENT_FILTERS))
        if unknown:
            raise bad(
                f"unknown filter {unknown[0]!r}; use {', '.join(EVENT_FILTERS)}, limit, after, "
                "before"
            )
        total, records = self.store.query(
            limit=100 if limit is None else limit, after=after, before=before, filters=query
        )
        for record in records:  # each payload embedded as it is stored: never re-encoded
            record["payload"] = orjson.Fragment(record["payload"])
        return _json(200, {"count": total, "events": records})

    def _ingest(
        self, environ: dict[str, Any], path: str, route: str | None
    ) -> tuple[int, str, bytes]:
        raw = self._read_body(environ)  # read before answering, so keep-alive stays in step
        if route is None:
            raise Rejected(404, "not_found", f"no route {path}")
        with self._ingesting:
            return self._store(environ, raw, route)

    def _store(self, environ: dict[str, Any], raw: bytes, route: str) -> tuple[int, str, bytes]:
        body = decode(raw, environ.get("HTTP_CONTENT_ENCODING", ""))
        key = write_key_of(environ, body)
        # the key name can only be in the body literally, or written with \u escapes (a
        # backslash is looked for first: memchr's speed, where a two-byte search took a
        # third of a batch's parse)
        escaped = b"\\" in raw and b"\\u" in raw
        if escaped or b"writeKey" in raw or environ.get("HTTP_CONTENT_ENCODING"):
            strip_write_keys(body)
        if not key:
            raise Rejected(
                400,
                "invalid_write_key",
                "An invalid write key was provided: send HTTP Basic auth with the write key "
                "as user name, or writeKey in the body",
            )
        messages, refused = messages_of(route, body)
        received = format_datetime(dt.datetime.now(dt.timezone.utc))
        size = len(messages)
        verdicts: list[Verdict] = [
            (self._violations(message), refused.get(index) or drop_reason(message, size))
            for index, (message, _) in enumerate(messages)
        ]
        self.store.add(messages, verdicts, received)
        return _json(200, {"success": True})

    def _violations(self, message: dict[str, Any]) -> list[dict[str, str]] | None:
        if self.plan is None:
            return None
        return [
            {"kind": v.kind, "field": v.field, "detail": v.detail} for v in self.plan.check(message)
        ]

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        length = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not length and not chunked:
            # whatever follows cannot be told apart from the next request: close
            raise Rejected(
                411, "length_required", "Content-Length (or chunked encoding) is required", True
            )
        stream = environ["wsgi.input"]
        return bytes(stream.read(int(length)) if length else stream.read())


def _bounded_int(text: str, name: str, low: int, high: int) -> int | None:
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad(f"{name} must be a whole number, got {text[:20]!r}") from None
    if not low <= value <= high:
        raise bad(f"{name} must be between {low:,} and {high:,}, got {value:,}")
    return value
