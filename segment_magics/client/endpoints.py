"""Where calls go: Segment's US and EU hosts, or any Segment-compatible base URL."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

ENDPOINTS = {
    "us": "https://api.segment.io/v1",
    "eu": "https://events.eu1.segmentapis.com/v1",
}


def resolve_endpoint(endpoint: str) -> str:
    """Return the ``.../v1`` base URL for ``"us"``, ``"eu"`` or an http(s) URL."""
    name = endpoint.strip()
    if name.lower() in ENDPOINTS:
        return ENDPOINTS[name.lower()]
    parts = urlsplit(name)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            f"endpoint must be 'us', 'eu' or an http(s) URL such as "
            f"http://127.0.0.1:8787, got {display_url(name)!r}"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def display_url(url: str) -> str:
    """The URL without any user:password part, safe to show."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_loopback(url: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the local collector needs no real key."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
