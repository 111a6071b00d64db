"""A loopback HTTP server that answers from a script: faults on demand.

Used by the tests and by ``make bench``'s fault table. Each request gets the next
scripted :class:`Step`, else what ``policy`` says for the n-th request, else a
200. ``stored`` lists the messageIds the server kept, which is what "delivered"
means; ``rows`` maps each stored message's ``properties.n`` (the input row) to
the messageIds it arrived under, to count copies sent under different ids.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    """One scripted answer: a status (with headers/body), a delay, or a dropped connection."""

    status: int = 200
    body: bytes = b'{"success": true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    store: bool | None = None  # keep the messages? default: when the status is 2xx
    hook: Callable[[], None] | None = None  # run when the request arrives (e.g. send SIGINT)
    drip: float = 0.0  # write the answer one byte at a time, this many seconds apart


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    port: int = 0  # the client's port: one per connection
    arrived: float = 0.0  # time.monotonic() when the whole request had arrived


class FaultServer:
    """Answers POSTs from a script, then 200; records every request that arrived."""

    def __init__(self, policy: Callable[[int], Step] | None = None) -> None:
        self.policy = policy
        self.requests = 0
        self.rows: dict[Any, set[str]] = {}
        self.script: list[Step] = []
        self.received: list[Received] = []
        self.stored: list[str] = []  # messageIds the server kept (what "delivered" means)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if len(raw) < length:  # the sender died mid-request (kill -9): nothing kept
                    self.close_connection = True
                    return
                with outer.lock:
                    body = json.loads(raw or b"{}")
                    port, now = self.client_address[1], time.monotonic()
                    outer.received.append(
                        Received(self.path, dict(self.headers.items()), body, port, now)
                    )
                    outer.requests += 1
                    if outer.script:
                        step = outer.script.pop(0)
                    elif outer.policy is not None:
                        step = outer.policy(outer.requests)
                    else:
                        step = Step()
                    keep = step.store if step.store is not None else 200 <= step.status < 300
                    if (keep and not step.drop) or step.store:
                        body = outer.received[-1].body
                        items = body.get("batch", [body])
                        outer.stored.extend(item.get("messageId", "") for item in items)
                        for item in items:
                            row = (item.get("properties") or {}).get("n")
                            outer.rows.setdefault(row, set()).add(item.get("messageId", ""))
                if step.hook is not None:
                    step.hook()
                if step.delay:
                    time.sleep(step.delay)
                if step.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if step.drip:
                    head = f"HTTP/1.1 {step.status} X\r\nContent-Length: {len(step.body)}\r\n\r\n"
                    try:
                        for byte in head.encode() + step.body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(step.drip)
                    except OSError:  # the client gave up on us: that is the point
                        self.close_connection = True
                    return
                self.send_response(step.status)
                for key, value in step.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(step.body)))
                self.end_headers()
                self.wfile.write(step.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def then(self, *steps: Step) -> FaultServer:
        self.script.extend(steps)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
