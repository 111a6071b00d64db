"""The collector's HTTP front: waitress, a well-kept pure-Python WSGI server.

waitress does the request parsing the collector must not hand-write: chunked
bodies, Content-Length that is missing, negative, garbage or repeated (400 and
the connection closed), oversize bodies (413), limits on headers, and a read
timeout that drops clients that stall. Two small additions: the application can
ask for the connection to be closed after its answer (a POST without a length,
whose body cannot be told apart from a next request), and stopping the server
closes every connection, keep-alive ones included.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

from .app import CLOSE_CONNECTION, CollectorApp

READ_TIMEOUT = 5  # seconds a connection may sit idle (mid-request included) before it is dropped
MAX_BODY = 8 * 1024 * 1024  # bigger requests get 413 before they are read
MAX_HEADERS = 64 * 1024

logging.getLogger("waitress").setLevel(logging.ERROR)  # no "queue depth" chatter in notebooks
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


class _Task(WSGITask):
    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[CLOSE_CONNECTION] = self.set_close_on_finish
        return environ


class _Channel(HTTPChannel):
    task_class = _Task


class CollectorServer:
    """A waitress server for a :class:`CollectorApp`, run in a background thread."""

    def __init__(
        self,
        app: CollectorApp,
        host: str = "127.0.0.1",
        port: int = 0,
        read_timeout: int = READ_TIMEOUT,
    ) -> None:
        self.app = app
        self._server = create_server(
            app,
            host=host,
            port=port,
            threads=4,
            channel_timeout=read_timeout,
            cleanup_interval=1,
            max_request_body_size=MAX_BODY,
            max_request_header_size=MAX_HEADERS,
            ident="segment-magics-collector",
            expose_tracebacks=False,
            clear_untrusted_proxy_headers=True,
            log_socket_errors=False,
        )
        self._server.channel_class = _Channel
        self.host = str(self._server.effective_host)
        self.port = int(self._server.effective_port)
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> Any:
        return self.app.store

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.run, name="segment-collector", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Run in this thread (``python -m segment_magics.collector``)."""
        self._server.run()

    def stop(self) -> None:
        """Close the listening socket and every connection, then end the thread."""
        server = self._server
        done = threading.Event()

        def close_all() -> None:
            wasyncore.close_all(server._map)
            done.set()

        if self.running:
            server.trigger.pull_trigger(close_all)
            done.wait(5)
        else:
            wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown(timeout=2)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
