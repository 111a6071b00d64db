"""The collector's HTTP front: h11 parses, a thread per connection answers.

h11 (python-hyper's HTTP/1.1 state machine) does the parsing the collector must
not hand-write: chunked bodies, a Content-Length that is negative, garbage or
repeated, both framings at once, oversize headers; any of these gets a 4xx and
the connection is closed, so a body is never read as the next request. Around
it: a read timeout (a client that stalls is dropped), a deadline per request (a
client that drips is dropped too), a body limit, TCP_NODELAY (no delayed-ACK
stalls), and a stop() that closes every connection, keep-alive ones included.

Measured against waitress and the standard library's server on the same
machine (see the note on issue 10): waitress hands every request between two
threads and answered single calls about 1.4x slower; h11 with a thread per
connection was as fast as the standard library, which parses by hand.
"""

from __future__ import annotations

import contextlib
import io
import logging
import select
import socket
import socketserver
import threading
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import h11

from .app import CLOSE_CONNECTION, CollectorApp

log = logging.getLogger("segment_magics.collector")

READ_TIMEOUT = 5  # seconds a request may wait for its next bytes (headers or body)
IDLE_TIMEOUT = 30  # seconds a keep-alive connection may wait for its next request
REQUEST_DEADLINE = 30  # seconds one request may take to arrive from its first byte
# Bodies each route can need: Segment's 500 KB request limit (with room to answer a
# bigger one with Segment's own 400) for the ingest routes, little for the rest. More
# gets 413 unread.
INGEST_MAX_BODY = 600_000
OTHER_MAX_BODY = 16 * 1024
# An ingest body past its limit and up to this size is read and let go (never kept),
# so that the sender gets Segment's 400 rather than a reset connection; more gets 413.
DRAIN_MAX = 8 * 1024 * 1024
MAX_HEADERS = 64 * 1024
MAX_CONNECTIONS = 64  # connections served at once (a thread and a body each)
IDLE_GRACE = 0.25  # seconds an idle keep-alive connection keeps its slot when others wait
FIRST_REQUEST_GRACE = 2.0  # the same for a new connection before its first request
BUSY_WAIT = 5.0  # seconds a connection over the cap waits for a free slot, then 503
SERVER_NAME = b"segment-magics-collector"


class _Close(Exception):
    """Stop serving this connection (after answering ``status``, when there is one)."""

    def __init__(self, status: int = 0, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_body(status: int, message: str) -> bytes:
    import orjson

    codes = {400: "invalid_request", 408: "request_timeout", 413: "payload_too_large",
             431: "headers_too_large"}  # fmt: skip
    return orjson.dumps(
        {"success": False, "message": message, "code": codes.get(status, "invalid_request")}
    )


def _body_limit(request: h11.Request) -> int:
    """The most body a request may carry: enough for Segment's limits on the ingest
    routes, a little elsewhere."""
    ingest = request.method == b"POST" and request.target.startswith(b"/v1/")
    return INGEST_MAX_BODY if ingest else OTHER_MAX_BODY


_BUSY_BODY = b'{"success": false, "message": "too many connections; retry shortly", "code": "busy"}'
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1"
    b"\r\nConnection: close\r\nContent-Length: "
    + str(len(_BUSY_BODY)).encode()
    + b"\r\n\r\n"
    + _BUSY_BODY
)


def _too_large() -> tuple[int, list[tuple[str, str]], bytes]:
    """Segment's answer to a request over its 500 KB limit."""
    import orjson

    from ..messages import MAX_BATCH_BYTES

    body = orjson.dumps({"success": False, "code": "payload_too_large",
                         "message": f"request is over {MAX_BATCH_BYTES:,} bytes (Segment's "
                                    "500 KB limit)"})  # fmt: skip
    return 400, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class _Connection(socketserver.BaseRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
        self.started: float | None = None  # when the request being read began to arrive
        self.answered = False  # a new connection gets longer to send its first request

    def handle(self) -> None:
        try:
            while self.server.serving:
                if not self._one_request():
                    return
                self.h11.start_next_cycle()
                self.answered = True
        except _Close as closing:
            if closing.status:
                self._refuse(closing.status, closing.message)
        except OSError:  # the client went away, or stop() closed the socket
            return

    # -- one request --------------------------------------------------------------------
    def _receive(self) -> Any:
        """The next h11 event; reads from the socket when h11 needs more. Before a
        request's first byte the connection may idle (keep-alive); from it on, every
        read must come within ``read_timeout`` and the whole request within
        :data:`REQUEST_DEADLINE` (headers included)."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Close(exc.error_status_hint, f"bad request: {exc}") from None
            if event is not h11.NEED_DATA:
                return event
            started = self.started
            if started is None:
                self._idle()
                wait: float = self.server.read_timeout
            else:
                remaining = started + REQUEST_DEADLINE - time.monotonic()
                if remaining <= 0:
                    raise _Close(408, "the request took too long to arrive")
                wait = min(self.server.read_timeout, remaining)
            self.request.settimeout(wait)
            try:
                data = self.request.recv(65536)
            except TimeoutError:
                raise _Close(408 if started is not None else 0, "the request stalled") from None
            if started is None and data:
                self.started = time.monotonic()
            self.h11.receive_data(data)

    def _idle(self) -> None:
        """Wait (up to :data:`IDLE_TIMEOUT`) for a connection's next request (its first,
        or the next on a keep-alive one). When another connection waits for a slot (the
        server wakes the idle ones), give this one up once it has been idle for
        :data:`IDLE_GRACE` (:data:`FIRST_REQUEST_GRACE` before its first request: an SDK
        may open hundreds of connections before it writes to them): a client that sends
        at once is never cut off mid-request, a burst does not wait for idle
        connections to time out, and connections that never send cannot hold every
        slot."""
        self.request.settimeout(0)
        now = time.monotonic()
        idle_until = now + IDLE_TIMEOUT
        grace_until = now + (IDLE_GRACE if self.answered else FIRST_REQUEST_GRACE)
        own = woken = None
        while True:
            try:
                data: bytes | None = self.request.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                data = None
            if data:
                return  # a request arrived: serve it, even when others wait
            if own is None or woken is None:
                own, woken = select.poll(), select.poll()
                own.register(self.request, select.POLLIN)
                woken.register(self.request, select.POLLIN)
                woken.register(self.server.wake, select.POLLIN)
            now = time.monotonic()
            wanted = self.server.waiting
            if data == b"" or now >= idle_until or (wanted and now >= grace_until):
                raise _Close()  # closed by the client, idle too long, or wanted elsewhere
            if wanted:
                own.poll((grace_until - now) * 1000)
            else:
                woken.poll((idle_until - now) * 1000)

    def _one_request(self) -> bool:
        """Read and answer one request; False when the connection should end."""
        self.started = time.monotonic() if self.h11.trailing_data[0] else None  # (pipelined)
        event = self._receive()
        if isinstance(event, h11.ConnectionClosed):
            return False
        assert isinstance(event, h11.Request)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
        length = next((v for k, v in headers if k == "content-length"), None)
        chunked = any(k == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)
        if length is not None and chunked:  # RFC 9112 6.1: a classic smuggling vector
            raise _Close(400, "send Content-Length or Transfer-Encoding: chunked, not both")
        limit = _body_limit(event)
        declared = int(length) if length is not None else 0
        if declared > DRAIN_MAX or (declared > limit and limit != INGEST_MAX_BODY):
            raise _Close(413, f"request is over {limit:,} bytes")
        if self.h11.they_are_waiting_for_100_continue:
            self.request.sendall(
                self.h11.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
            )
        body = bytearray()
        size = 0
        while True:
            part = self._receive()
            if isinstance(part, h11.Data):
                size += len(part.data)
                if size <= limit:
                    body += part.data
                elif limit != INGEST_MAX_BODY or size > DRAIN_MAX:
                    raise _Close(413, f"request is over {limit:,} bytes")
                # else: read on and let go, to answer Segment's own 400 in step
            elif isinstance(part, h11.EndOfMessage):
                break
            elif isinstance(part, h11.ConnectionClosed):
                return False
        if size > limit:
            self._send(*_too_large())
            return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE
        close = self._answer(event, headers, bytes(body), chunked=chunked)
        return not close and self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def _answer(
        self, request: h11.Request, headers: list[tuple[str, str]], body: bytes, chunked: bool
    ) -> bool:
        """Run the application; True when it asked for the connection to be closed."""
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method.decode("latin-1"),
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "wsgi.input": io.BytesIO(body),
            "SERVER_PROTOCOL": f"HTTP/{request.http_version.decode()}",
        }
        for key, value in headers:
            name = key.upper().replace("-", "_")
            if name in {"CONTENT_LENGTH", "CONTENT_TYPE"}:
                environ[name] = value
            else:
                environ[f"HTTP_{name}"] = value
        if chunked or "CONTENT_LENGTH" in environ:
            environ["CONTENT_LENGTH"] = str(len(body))
        closing = threading.Event()
        environ[CLOSE_CONNECTION] = closing.set
        answer: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            answer["status"] = int(status.split(" ", 1)[0])
            answer["headers"] = response_headers

        payload = b"".join(self.server.app(environ, start_response))
        response_headers = [*answer["headers"], ("Server", SERVER_NAME.decode())]
        # Another connection waits for a slot: say so in the answer and let this one go,
        # which no client can race (closing an idle keep-alive connection can be).
        close = closing.is_set() or bool(self.server.waiting)
        if close:
            response_headers.append(("Connection", "close"))
        self._send(answer["status"], response_headers, payload)
        return close

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        h = self.h11
        data = h.send(h11.Response(status_code=status, headers=headers, reason=_phrase(status)))
        if payload:
            data = (data or b"") + (h.send(h11.Data(data=payload)) or b"")
        data = (data or b"") + (h.send(h11.EndOfMessage()) or b"")
        self.request.sendall(data)  # one write: no Nagle/delayed-ACK stall

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request h11 or our limits refused, then close the connection."""
        body = _error_body(status, message)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("Connection", "close")]  # fmt: skip
        with contextlib.suppress(h11.LocalProtocolError, OSError):
            if self.h11.our_state in {h11.IDLE, h11.SEND_RESPONSE}:
                self._send(status, headers, body)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # a burst (an SDK flushing batches in parallel) waits here

    def __init__(
        self,
        address: tuple[str, int],
        app: CollectorApp,
        read_timeout: float,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.app = app
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.serving = True
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(max_connections)
        self.waiting = 0  # connections waiting for a slot: idle ones then make way
        self.wake, self._wake_sender = socket.socketpair()  # readable while one waits
        self.wake.setblocking(False)
        self._wake_sender.setblocking(False)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Connection)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a thread of its own when one of the slots is free
        (a burst waits a moment, the next connections in the listen queue); beyond that,
        503 at once, without a thread: a flood of connections cannot hold memory."""
        free = self.slots.acquire(blocking=False) or self._wait_for_slot()
        if not free:
            with contextlib.suppress(OSError):
                request.sendall(BUSY)
            super().shutdown_request(request)
            return
        with self.lock:
            self.open.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.shutdown_request(request)
            raise

    def _wait_for_slot(self) -> bool:
        """Wake the idle keep-alive connections (they close and free their slots), then
        wait up to :data:`BUSY_WAIT` for a slot."""
        with self.lock:
            self.waiting += 1
            if self.waiting == 1:
                with contextlib.suppress(OSError):
                    self._wake_sender.send(b"!")
        try:
            return self.slots.acquire(timeout=BUSY_WAIT)
        finally:
            with self.lock:
                self.waiting -= 1
                if not self.waiting:
                    with contextlib.suppress(OSError):
                        self.wake.recv(64)

    def server_close(self) -> None:
        super().server_close()
        self.wake.close()
        self._wake_sender.close()

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            served = request in self.open
            self.open.discard(request)
        super().shutdown_request(request)
        if served:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("collector connection error from %s", client_address, exc_info=True)


class CollectorServer:
    """An HTTP server for a :class:`CollectorApp`, run in a background thread."""

    def __init__(
        self,
        app: CollectorApp,
        host: str = "127.0.0.1",
        port: int = 0,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.app = app
        self._server = _Server((host, port), app, read_timeout)
        self.host, self.port = str(self._server.server_address[0]), self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> Any:
        return self.app.store

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="segment-collector", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Run in this thread (``python -m segment_magics.collector``)."""
        self._server.serve_forever(0.05)

    def stop(self) -> None:
        """Close the listening socket and every connection, then end the thread."""
        self._server.serving = False
        if self.running:
            self._server.shutdown()
        with self._server.lock:
            connections = list(self._server.open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
