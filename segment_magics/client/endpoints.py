"""Where calls go: Segment's US and EU hosts, or any Segment-compatible base URL."""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

ENDPOINTS = {
    "us": "https://api.segment.io/v1",
    "eu": "https://events.eu1.segmentapis.com/v1",
}


def endpoint_credentials(endpoint: str) -> str | None:
    """The ``user[:password]`` part of an endpoint URL (``http://KEY@host``), if any.

    Segment-compatible servers take the write key as the Basic-auth user name, so
    a key written into the URL is taken as the key and never kept in the URL.
    """
    parts = urlsplit(endpoint.strip())
    if parts.username is None and parts.password is None:
        return None
    return unquote(parts.username or parts.password or "") or None


def resolve_endpoint(endpoint: str) -> str:
    """Return the ``.../v1`` base URL for ``"us"``, ``"eu"`` or an http(s) URL.

    Any credentials in the URL are dropped (see :func:`endpoint_credentials`)."""
    name = endpoint.strip()
    if name.lower() in ENDPOINTS:
        return ENDPOINTS[name.lower()]
    parts = urlsplit(name)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            f"endpoint must be 'us', 'eu' or an http(s) URL such as "
            f"http://127.0.0.1:8791, got {display_url(name)!r}"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, _host_and_port(parts), path, "", ""))


def _host_and_port(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def display_url(url: str) -> str:
    """The URL without any user:password part, safe to show."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(
        (parts.scheme, _host_and_port(parts), parts.path, parts.query, parts.fragment)
    )


def is_loopback(url: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the local collector needs no real key."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
