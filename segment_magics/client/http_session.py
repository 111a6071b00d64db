"""The HTTP session every call to Segment goes through.

requests' adapter decides how Segment is reached, the way analysts expect (proxies
with CONNECT for https, ``NO_PROXY``, CA bundles): it picks and configures the urllib3
connection pool for a URL, and its pools' connections report to the attempt being
watched, so the whole-attempt deadline and Ctrl-C still end a request at once
(:mod:`.deadline`). Where a request goes is worked out once, by
:class:`~.network.Network` with requests' own rules, and passed explicitly: the
environment and ``.netrc`` are not read again per request (a ``.netrc`` entry must
never replace the write key).

The request itself goes through that pool: requests' response (cookies, hooks, its
prepared copy of each request) is left out, as we use none of it. Measured on 450 KB
batches to a local nginx, that took a request from 0.46-0.56 ms of CPU to 0.31-0.42.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .deadline import watching
from .network import Network


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose pools (direct or through a proxy) are watched, with no retries
    of its own (ours follow Segment's rules)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        watching(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        known = proxy in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **kwargs)
        return manager if known else watching(manager)


class Answer(NamedTuple):
    """A server's answer, read whole within the attempt."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]  # (case-insensitive)


class HttpSession:
    """Requests to one host, over the pools requests' adapter chooses (its proxies,
    CONNECT, TLS) with nothing of requests' per-request work (cookies, hooks,
    redirects, the environment and ``.netrc`` read again): measured, requests' Session
    was 40 % of a request's CPU, and its adapter's response and prepared copies 0.1-0.15
    ms of the 0.46-0.56 that a 450 KB batch then took."""

    def __init__(self, network: Network, url: str, maxsize: int = 8) -> None:
        self._adapter = _WatchedAdapter(pool_connections=4, pool_maxsize=maxsize, max_retries=0)
        proxy, bundle = network.checked_for(url)  # raises ValidationError naming the setting
        self._proxies = {"http": proxy, "https": proxy} if proxy else {}
        self._verify: str | bool = bundle or True  # never False: always checked
        self._routes: dict[tuple[str, str], tuple[requests.PreparedRequest, str]] = {}

    def request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | tuple[float, float] = 10.0,
    ) -> Answer:
        """One request, its answer read whole. Failures are urllib3's (or the socket's)
        exceptions, as requests' adapter would have wrapped them."""
        prepared, target = self._route(method, url)
        adapter = self._adapter
        pool = adapter.get_connection_with_tls_context(prepared, self._verify, self._proxies)
        adapter.cert_verify(pool, url, self._verify, None)
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        response = pool.urlopen(
            method, target, body=data, headers=headers or {}, redirect=False,
            assert_same_host=False, preload_content=True, decode_content=True,
            retries=adapter.max_retries, timeout=urllib3.Timeout(connect=connect, read=read),
        )  # fmt: skip
        return Answer(response.status, response.data, response.headers)

    def _route(self, method: str, url: str) -> tuple[requests.PreparedRequest, str]:
        """The request requests' adapter chooses a pool for, and the target it writes on
        the request line (the whole URL for plain http through a proxy), once per
        method and URL (preparing a URL anew costs more than the rest)."""
        route = self._routes.get((method, url))
        if route is None:
            prepared = requests.PreparedRequest()
            prepared.prepare(method=method, url=url, headers={}, data=b"")
            route = self._routes[(method, url)] = (
                prepared,
                self._adapter.request_url(prepared, self._proxies),
            )
        return route

    def close(self) -> None:
        self._adapter.close()


def root_cause(exc: BaseException) -> BaseException:
    """The urllib3 (or socket) error under requests' wrappers."""
    for _ in range(6):
        inner: Any = None
        if isinstance(exc, urllib3.exceptions.MaxRetryError):
            inner = exc.reason
        elif isinstance(exc, requests.RequestException) and exc.args:
            inner = exc.args[0]
        if not isinstance(inner, BaseException):
            return exc
        exc = inner
    return exc
