"""A Segment-compatible HTTP server (stdlib only) for tutorials, tests and offline work.

It answers like Segment's Tracking API (auth, gzip, size limits, 200 ``{"success":
true}``) and keeps every message it accepts so that people and tests can look.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import gzip
import json
import logging
import socket
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..messages import CALL_KINDS, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, format_datetime, serialize
from ..plan import PlanValidator
from .page import render_page
from .store import EventStore

log = logging.getLogger("segment_magics.collector")

MAX_REQUEST_BYTES = MAX_BATCH_BYTES
MAX_READ_BYTES = 8 * MAX_REQUEST_BYTES  # beyond this we do not even read the body
DEFAULT_LIMIT = 100


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return format_datetime(dt.datetime.now(dt.timezone.utc))


def _basic_user(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = decoded.split(":", 1)[0]
    return user or None


class CollectorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], store: EventStore, plan: PlanValidator | None = None
    ) -> None:
        self._open: set[Any] = set()
        super().__init__(address, CollectorHandler)
        self.store = store
        self.plan = plan

    def get_request(self) -> tuple[Any, Any]:
        request, address = super().get_request()
        self._open.add(request)
        return request, address

    def shutdown_request(self, request: Any) -> None:
        self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Stopping means stopping: keep-alive connections are closed too."""
        for request in list(self._open):
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)


class CollectorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CollectorServer
    server_version = "segment-magics-collector"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # -- plumbing -----------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, close: bool = False) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", close)

    def _error(self, status: int, message: str, close: bool = False) -> None:
        self._json(status, {"success": False, "message": message}, close)

    def _guard(self, handler: Any) -> None:
        try:
            handler()
        except BadRequest as exc:
            self._error(
                exc.status, exc.message, close=exc.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            )
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # never let bad input take the server down
            log.exception("collector error on %s %s", self.command, self.path)
            try:
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal collector error")
            except OSError:
                self.close_connection = True

    def do_GET(self) -> None:
        self._guard(self._get)

    def do_POST(self) -> None:
        self._guard(self._post)

    def do_DELETE(self) -> None:
        self._guard(self._delete)

    # -- routes -------------------------------------------------------------------
    def _get(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        store = self.server.store
        if url.path in {"/", "/index.html"}:
            total, events = store.query(limit=50)
            counts = store.counts() if self.server.plan is not None else None
            page = render_page(events, total, counts=counts)
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        elif url.path == "/health":
            counts = store.counts()
            health: dict[str, Any] = {"status": "ok", "events": counts["total"]}
            if self.server.plan is not None:
                health.update(valid=counts["valid"], invalid=counts["invalid"])
            self._json(HTTPStatus.OK, health)
        elif url.path == "/v1/events":
            try:
                limit = int(query.pop("limit", DEFAULT_LIMIT))
            except ValueError:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "limit must be an integer") from None
            unknown = set(query) - {"type", "event", "userId", "messageId", "valid"}
            if unknown:
                raise BadRequest(
                    HTTPStatus.BAD_REQUEST,
                    f"unknown filter {sorted(unknown)[0]!r}; "
                    "use type, event, userId, messageId, valid, limit",
                )
            total, events = store.query(limit=limit, **query)
            self._json(HTTPStatus.OK, {"count": total, "events": events})
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route {url.path}")

    def _delete(self) -> None:
        if urlsplit(self.path).path != "/v1/events":
            self._error(HTTPStatus.NOT_FOUND, "only /v1/events can be deleted")
            return
        self._json(HTTPStatus.OK, {"success": True, "deleted": self.server.store.reset()})

    def _post(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        kind = path.removeprefix("/v1/")
        raw = self._read_body()  # always read, so keep-alive stays in step
        if not path.startswith("/v1/") or kind not in {*CALL_KINDS, "batch"}:
            raise BadRequest(HTTPStatus.NOT_FOUND, f"no route {path}")
        body = self._decode(raw)
        key = _basic_user(self.headers.get("Authorization")) or body.pop("writeKey", None)
        body.pop("writeKey", None)  # never store a key
        if not key:
            raise BadRequest(
                HTTPStatus.UNAUTHORIZED,
                "missing write key: send HTTP Basic auth with the write key as user name, "
                "or writeKey in the body",
            )
        messages = self._messages(kind, body)
        received = _now()
        for message in messages:
            message["receivedAt"] = received
        plan = self.server.plan
        verdicts = None
        if plan is not None:
            verdicts = [
                [{"kind": v.kind, "field": v.field, "detail": v.detail} for v in plan.check(m)]
                for m in messages
            ]
        self.server.store.add(messages, verdicts)
        self._json(HTTPStatus.OK, {"success": True})

    # -- body handling ------------------------------------------------------------
    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        try:
            length = int(length_header)
        except ValueError:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
        if length > MAX_READ_BYTES:
            raise BadRequest(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request is {length:,} bytes; the limit is {MAX_REQUEST_BYTES:,}",
            )
        return self.rfile.read(length)

    def _decode(self, raw: bytes) -> dict[str, Any]:
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                raw = decompressor.decompress(raw, MAX_REQUEST_BYTES + 1)
            except (zlib.error, gzip.BadGzipFile):
                raise BadRequest(HTTPStatus.BAD_REQUEST, "body is not valid gzip") from None
        if len(raw) > MAX_REQUEST_BYTES:
            raise BadRequest(
                HTTPStatus.BAD_REQUEST,
                f"request is over {MAX_REQUEST_BYTES:,} bytes (Segment's 500 KB limit)",
            )
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(HTTPStatus.BAD_REQUEST, f"invalid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body

    def _messages(self, kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        if kind != "batch":
            body.setdefault("type", kind)
            if body["type"] != kind:
                raise BadRequest(
                    HTTPStatus.BAD_REQUEST, f"type {body['type']!r} sent to /v1/{kind}"
                )
            items = [body]
        else:
            items = body.get("batch")  # type: ignore[assignment]
            if not isinstance(items, list):
                raise BadRequest(HTTPStatus.BAD_REQUEST, "batch must be a list of messages")
            shared = {
                k: body[k] for k in ("context", "integrations") if isinstance(body.get(k), dict)
            }
            sent_at = body.get("sentAt")
            for index, item in enumerate(items):
                if not isinstance(item, dict) or item.get("type") not in CALL_KINDS:
                    raise BadRequest(
                        HTTPStatus.BAD_REQUEST,
                        f"batch[{index}] needs a type ({', '.join(CALL_KINDS)})",
                    )
                for name, value in shared.items():
                    item[name] = {**value, **(item.get(name) or {})}
                if sent_at and "sentAt" not in item:
                    item["sentAt"] = sent_at
        for index, item in enumerate(items):
            size = len(serialize(item))
            if size > MAX_MESSAGE_BYTES:
                raise BadRequest(
                    HTTPStatus.BAD_REQUEST,
                    f"message {index} is {size:,} bytes; "
                    f"the limit is {MAX_MESSAGE_BYTES:,} (32 KB)",
                )
        return items
