"""One HTTP POST with Segment's retry rules. The only place that talks HTTP."""

from __future__ import annotations

import datetime as dt
import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from .._version import __version__
from ..messages import format_datetime
from .deadline import Cancel, WatchedAdapter, watched
from .endpoints import display_url
from .keys import WriteKey
from .retry import RetryPolicy, is_retryable_status, parse_retry_after

USER_AGENT = f"segment-magics/{__version__}"


@dataclass
class Delivery:
    """What the wire said, before it is turned into a Result."""

    sent: bool = False
    status: int = 0  # last HTTP status, 0 when no response arrived
    body: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # set when not delivered (network failure or HTTP error)
    attempts: int = 0
    elapsed: float = 0.0
    interrupted: bool = False  # Ctrl-C ended it

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300

    @property
    def final_http_error(self) -> bool:
        """The API answered with a status that retrying cannot fix (e.g. 400, 401)."""
        return self.status >= 300 and not is_retryable_status(self.status)

    @property
    def rejected(self) -> bool:
        """The message was refused for good: kept as rejected, resent only on request."""
        return self.final_http_error and not self.interrupted


def now_iso() -> str:
    return format_datetime(dt.datetime.now(dt.timezone.utc))


def _parse_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _api_message(response: requests.Response, body: dict[str, Any]) -> str:
    error = body.get("error")
    for candidate in (
        body.get("message"),
        error.get("message") if isinstance(error, dict) else error,
    ):
        if isinstance(candidate, str) and candidate.strip():
            return f"{response.status_code}: {candidate.strip()}"
    reason = response.reason or "error"
    return f"{response.status_code} {reason}"


def _left_machine(exc: Exception) -> bool:
    """False when the connection was never made (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        if isinstance(
            inner, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError
        ):
            return False
    return True


def _describe(exc: Exception) -> str:
    """What went wrong, in words that never quote the request (its headers hold the key)."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.Timeout):
        return "no response within the timeout"
    if isinstance(exc, requests.ConnectionError) and not _left_machine(exc):
        return "connection refused or host unreachable"
    if isinstance(exc, requests.ConnectionError):
        return "connection broken before the response arrived"
    return type(exc).__name__


class Transport:
    """POSTs JSON to ``<base>/<path>``, retrying what Segment says is retryable."""

    def __init__(
        self,
        base_url: str,
        key: WriteKey,
        *,
        timeout: float,
        policy: RetryPolicy,
        compress: bool = False,
    ) -> None:
        self.base_url = base_url
        self._key = key
        self.timeout = timeout
        self.policy = policy
        self.compress = compress
        self._local = threading.local()

    @property
    def _session(self) -> requests.Session:
        """One keep-alive session per thread: requests.Session is not thread-safe."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = WatchedAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json"})
            session.trust_env = False  # no proxy surprises: the endpoint is what was asked
            self._local.session = session
        return session

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()

    def post(
        self, path: str, make_body: Callable[[str], bytes], cancel: Cancel | None = None
    ) -> Delivery:
        """Send ``make_body(sentAt)``; a fresh sentAt on every attempt, same payload otherwise.

        Each attempt ends within ``timeout`` seconds, however slowly the server
        answers; ``cancel`` (Ctrl-C) ends the attempt in flight and the retries.
        """
        url = f"{self.base_url}/{path}"
        shown = display_url(url)
        policy = self.policy
        out = Delivery()
        start = time.monotonic()
        while True:
            out.attempts += 1
            data = make_body(now_iso())
            headers = {"Authorization": self._key.basic_auth_header()}
            if self.compress:
                data = gzip.compress(data, compresslevel=6)
                headers["Content-Encoding"] = "gzip"
            if out.attempts > 1:
                headers["X-Retry-Count"] = str(out.attempts - 1)
            retry_after: float | None = None
            try:
                with watched(self.timeout, cancel) as watch:
                    response = self._session.post(
                        url, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
                    )
            except KeyboardInterrupt:  # no guard (not the main thread's own handler)
                headers = {}  # so that no traceback of this frame can show the key
                out.interrupted = True
                out.error = f"interrupted (Ctrl-C) before {shown} answered"
                break
            except (requests.RequestException, OSError, ValueError) as exc:
                headers = {}
                out.sent = out.sent or _left_machine(exc)
                out.status = 0
                out.body = {}
                if watch.fired == "interrupted":
                    out.interrupted = True
                    out.error = f"interrupted (Ctrl-C) before {shown} answered"
                    break
                if watch.fired == "timeout":
                    out.error = (
                        f"no complete answer within the {self.timeout:g} s timeout ({shown})"
                    )
                else:
                    out.error = f"{_describe(exc)} ({shown})"
            else:
                out.sent = True
                out.status = response.status_code
                out.body = _parse_body(response)
                if out.delivered:
                    out.error = ""
                    break
                out.error = _api_message(response, out.body)
                if out.final_http_error:
                    break
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if out.attempts > policy.max_retries:
                out.error += f"; gave up after {out.attempts} attempts"
                break
            wait = policy.wait(out.attempts, retry_after)
            if time.monotonic() - start + wait > policy.total_budget:
                out.error += (
                    f"; gave up after {out.attempts} attempts "
                    f"(next wait {wait:.1f} s would pass the {policy.total_budget:g} s budget)"
                )
                break
            if cancel is not None:
                if cancel.wait(wait):
                    out.interrupted = True
                    out.error += "; interrupted (Ctrl-C) before the next attempt"
                    break
            else:
                time.sleep(wait)
        out.elapsed = time.monotonic() - start
        return out


def single_body(encoded: bytes) -> Callable[[str], bytes]:
    """Body for /v1/<type>: the serialized message plus this attempt's sentAt."""
    head = encoded[:-1]

    def make(sent_at: str) -> bytes:
        return head + b',"sentAt":"' + sent_at.encode() + b'"}'

    return make


def batch_body(serialized: list[bytes]) -> Callable[[str], bytes]:
    """Body for /v1/batch from already-serialized messages (no second json.dumps)."""
    joined = b",".join(serialized)

    def make(sent_at: str) -> bytes:
        return b'{"batch":[' + joined + b'],"sentAt":"' + sent_at.encode() + b'"}'

    return make
