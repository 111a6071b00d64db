"""One POST to the Tracking API with Segment's retry rules; every send goes through here.

(The Public API has its own requests in :mod:`.public_api`; both count their
attempts and waits with :class:`~.retry.RetryState`.)
"""

from __future__ import annotations

import gzip
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import requests
import urllib3

from .._version import __version__
from ..messages.timestamps import now_iso
from .deadline import Cancel, watched
from .endpoints import display_url
from .http_session import Answer, HttpSession, root_cause
from .keys import WriteKey
from .network import CERTIFICATE_FIX, Network, proxy_refusal
from .retry import RetryPolicy, is_retryable_status, parse_retry_after
from .scrub import clear_frames

USER_AGENT = f"segment-magics/{__version__}"
PROXY_AUTH = 407  # the proxy wants credentials
_HEADERS = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}


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
        """The message was refused for good: kept as rejected, resent only on request. (A
        proxy's 407 refused the request, not the message: it waits as pending.)"""
        return self.final_http_error and not self.interrupted and self.status != PROXY_AUTH


@dataclass(frozen=True)
class TransportSettings:
    """Where and how requests go: everything a transport needs but the key (a Spark or
    Dask task gets these, and the key separately)."""

    base_url: str
    timeout: float = 10.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    compress: bool = False
    network: Network = field(default_factory=Network)  # the proxy and the CAs to trust


def _parse_body(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _api_message(status: int, body: dict[str, Any]) -> str:
    error = body.get("error")
    for candidate in (
        body.get("message"),
        error.get("message") if isinstance(error, dict) else error,
    ):
        if isinstance(candidate, str) and candidate.strip():
            return f"{status}: {candidate.strip()}"
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "error"
    return f"{status} {reason}"


def _left_machine(exc: BaseException) -> bool:
    """False when the connection was never made (refused, DNS, connect timeout, a proxy
    or a TLS handshake that failed)."""
    return not isinstance(
        root_cause(exc),
        urllib3.exceptions.NewConnectionError
        | urllib3.exceptions.NameResolutionError
        | urllib3.exceptions.ConnectTimeoutError
        | urllib3.exceptions.ProxyError
        | urllib3.exceptions.SSLError,
    )


def describe_failure(error: BaseException, shown_proxy: str = "") -> str:
    """What went wrong, in words that never quote the request (its headers hold the key)
    and that name the setting to change when it is the proxy or a certificate."""
    exc = root_cause(error)
    if isinstance(exc, urllib3.exceptions.SSLError | ssl.SSLError) or (
        "CERTIFICATE_VERIFY_FAILED" in str(exc)
    ):
        return CERTIFICATE_FIX
    if isinstance(exc, urllib3.exceptions.ProxyError):
        if f" {PROXY_AUTH}" in str(exc):
            return proxy_refusal(PROXY_AUTH, shown_proxy)
        return (
            f"cannot go through the proxy {shown_proxy}: check the proxy setting "
            "(or $HTTPS_PROXY/$HTTP_PROXY, and $NO_PROXY)"
        )
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    if isinstance(
        exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError
    ):
        return "connection refused or host unreachable"  # (a subclass of ConnectTimeoutError)
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "connection timed out"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return "no response within the timeout"
    if not _left_machine(exc):
        return "connection refused or host unreachable"
    if isinstance(exc, urllib3.exceptions.ProtocolError | OSError | urllib3.exceptions.HTTPError):
        return "connection broken before the response arrived"
    return type(exc).__name__


class Transport:
    """POSTs JSON to ``<base>/<path>``, retrying what Segment says is retryable.

    requests' adapter (:mod:`.http_session`): a thread-safe pool of keep-alive
    connections, the proxy and CAs the analyst's environment names, no redirects, no
    retries of its own; every attempt watched for its whole-attempt deadline.
    """

    def __init__(self, settings: TransportSettings, key: WriteKey) -> None:
        self.settings = settings
        self.base_url = settings.base_url
        self._key = key
        self.timeout = settings.timeout
        self.policy = settings.policy
        self.compress = settings.compress
        self._http = HttpSession(settings.network, self.base_url)
        proxy = settings.network.proxy_for(self.base_url)
        self.shown_proxy = display_url(proxy) if proxy else ""  # never with credentials

    def close(self) -> None:
        self._http.close()

    def post(
        self, path: str, make_body: Callable[[str], bytes], cancel: Cancel | None = None
    ) -> Delivery:
        """Send ``make_body(sentAt)``; a fresh sentAt on every attempt, same payload otherwise.

        Each attempt ends within ``timeout`` seconds, however slowly the server
        answers; ``cancel`` (Ctrl-C) ends the attempt in flight and the retries.
        """
        url = f"{self.base_url}/{path}"
        shown = display_url(url)
        out = Delivery()
        retry = self.policy.start()
        while True:
            out.attempts = retry.begin()
            data = make_body(now_iso())
            if self.compress:
                data = gzip.compress(data, compresslevel=6)
            retry_after: float | None = None
            try:
                with watched(self.timeout, cancel) as watch:
                    response = self._urlopen(url, data, out.attempts)
            except KeyboardInterrupt as exc:  # no guard (not the main thread's own handler)
                clear_frames(exc.__traceback__)  # no traceback of it can show the key
                out.interrupted = True
                out.error = f"interrupted (Ctrl-C) before {shown} answered"
                break
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                    ValueError) as exc:  # fmt: skip
                clear_frames(exc.__traceback__)
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
                elif self._proxy_refuses(exc):
                    out.error = f"{proxy_refusal(PROXY_AUTH, self.shown_proxy)} ({shown})"
                    out.sent = False
                    break
                else:
                    out.error = f"{describe_failure(exc, self.shown_proxy)} ({shown})"
            except BaseException as exc:
                clear_frames(exc.__traceback__)
                raise
            else:
                out.sent = response.status_code != PROXY_AUTH  # a proxy's 407: it never left
                out.status = response.status_code
                out.body = _parse_body(self._key.cut_from(response.content))
                if out.delivered:
                    out.error = ""
                    break
                out.error = (
                    proxy_refusal(PROXY_AUTH, self.shown_proxy)
                    if out.status == PROXY_AUTH and self.shown_proxy
                    else _api_message(out.status, out.body)
                )
                if out.final_http_error:
                    break
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            wait, gave_up = retry.next_wait(retry_after)
            if gave_up:
                out.error += f"; {gave_up}"
                break
            if retry.sleep(wait, cancel):
                out.interrupted = True
                out.error += "; interrupted (Ctrl-C) before the next attempt"
                break
        out.elapsed = retry.elapsed
        return out

    def _proxy_refuses(self, exc: BaseException) -> bool:
        """A proxy that refuses a request often answers 407 and closes the connection
        before the body is read: the body's send fails, the answer is lost. Ask the proxy
        once more, without a body (and without the key), whether it wants credentials."""
        root = root_cause(exc)
        if not self.shown_proxy or not isinstance(root, urllib3.exceptions.ProtocolError | OSError):
            return False
        if isinstance(root, urllib3.exceptions.NewConnectionError):
            return False  # the proxy itself is not there
        try:
            answer = self._http.request(
                "HEAD", self.base_url, headers={"User-Agent": USER_AGENT},
                timeout=min(self.timeout, 5.0),
            )  # fmt: skip
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            return False
        return answer.status_code == PROXY_AUTH

    def _urlopen(self, url: str, data: bytes, attempt: int) -> Answer:
        """One attempt. The headers, the key among them, exist only in this call and
        the HTTP library's frames under it (cleared by the caller when it fails)."""
        headers: dict[str, str] = {"Authorization": self._key.basic_auth_header()}
        if self.compress:
            headers["Content-Encoding"] = "gzip"
        if attempt > 1:
            headers["X-Retry-Count"] = str(attempt - 1)
        headers.update(_HEADERS)
        return self._http.request("POST", url, data=data, headers=headers, timeout=self.timeout)


# Bodies are put together with one join into one new buffer: a chain of ``+``, or a
# joined batch kept beside the body, holds two 475 KB buffers at once, and the memory
# they take and give back (page faults, mostly) cost more than the request itself.
def single_body(encoded: bytes) -> Callable[[str], bytes]:
    """Body for /v1/<type>: the serialized message plus this attempt's sentAt."""
    head = encoded[:-1]

    def make(sent_at: str) -> bytes:
        return b"".join((head, b',"sentAt":"', sent_at.encode(), b'"}'))

    return make


def batch_body(serialized: list[bytes]) -> Callable[[str], bytes]:
    """Body for /v1/batch from already-serialized messages (no second json.dumps)."""
    parts: list[bytes] = [b'{"batch":[']
    for message in serialized:
        parts += (message, b",")
    parts[-1] = b'],"sentAt":"' if serialized else b'{"batch":[],"sentAt":"'

    def make(sent_at: str) -> bytes:
        return b"".join((*parts, sent_at.encode(), b'"}'))

    return make
