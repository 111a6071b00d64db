"""The requests adapter every call to Segment goes through.

requests reaches Segment the way analysts expect (proxies with CONNECT for https,
``NO_PROXY``, CA bundles); its adapter is given connection pools whose connections
report to the attempt being watched, so the whole-attempt deadline and Ctrl-C still
end a request at once (:mod:`.deadline`). Where a request goes is worked out once,
by :class:`~.network.Network` with requests' own rules, and passed explicitly: the
environment and ``.netrc`` are not read again per request (a ``.netrc`` entry must
never replace the write key).
"""

from __future__ import annotations

from typing import Any

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


class HttpSession:
    """Requests to one host through requests' adapter (its proxies, CONNECT, TLS), with
    what the Session class adds per request left out (cookies, hooks, redirects, the
    environment and ``.netrc`` read again): measured, that was 40 % of a request's CPU."""

    def __init__(self, network: Network, url: str, maxsize: int = 8) -> None:
        self._adapter = _WatchedAdapter(pool_connections=4, pool_maxsize=maxsize, max_retries=0)
        proxy, bundle = network.checked_for(url)  # raises ValidationError naming the setting
        self._proxies = {"http": proxy, "https": proxy} if proxy else {}
        self._verify: str | bool = bundle or True  # never False: always checked
        self._templates: dict[tuple[str, str], requests.PreparedRequest] = {}

    def request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | tuple[float, float] = 10.0,
    ) -> requests.Response:
        prepared = self._prepared(method, url, headers or {}, data)
        response = self._adapter.send(
            prepared, timeout=timeout, verify=self._verify, proxies=self._proxies
        )
        _ = response.content  # read now: within the attempt (and its deadline), as a whole
        return response

    def _prepared(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> requests.PreparedRequest:
        """requests' prepared request, made once per method and URL and copied with this
        request's headers and body (preparing a URL anew costs more than the rest)."""
        template = self._templates.get((method, url))
        if template is None:
            template = requests.PreparedRequest()
            template.prepare(method=method, url=url, headers={}, data=b"")
            self._templates[(method, url)] = template
        prepared = template.copy()
        prepared.prepare_headers(headers)
        prepared.prepare_body(data, None)
        return prepared

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
