"""How a URL is reached: through which proxy, trusting which certificates.

Behind a corporate proxy and its TLS inspection, analysts set ``HTTPS_PROXY``,
``NO_PROXY`` and ``REQUESTS_CA_BUNDLE`` once, for every tool. The rules for reading
them are requests' own (:func:`requests.utils.get_environ_proxies`, which applies
``NO_PROXY`` in either case, and :func:`~requests.utils.select_proxy`), so a URL goes
where ``requests`` would send it. The ``proxy`` and ``ca_bundle`` settings override
the environment; certificate checks are never turned off.

requests then sends through the proxy (CONNECT for https; :mod:`.http_session`).
Credentials in a proxy URL travel in the Proxy-Authorization header and are never
shown: only :meth:`Network.shown_proxy` is.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from requests.utils import get_environ_proxies, select_proxy, should_bypass_proxies

from ..errors import ValidationError
from ..messages.arguments import checked_path, checked_text
from .endpoints import display_url

DIRECT = "direct"  # the proxy setting that means "no proxy, whatever the environment says"
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class Network:
    """The ``proxy`` and ``ca_bundle`` settings (None: from the environment).

    Picklable, so that Spark and Dask tasks reach Segment the way the notebook does;
    the proxy URL (with any credentials in it) is left out of the repr.
    """

    proxy: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        """The settings given are checked now, not at the first request that fails."""
        if self.proxy is not None:
            object.__setattr__(
                self, "proxy", checked_proxy(checked_text("proxy", self.proxy) or "")
            )
        if self.ca_bundle:
            bundle = checked_path("ca_bundle", self.ca_bundle) or ""
            object.__setattr__(self, "ca_bundle", checked_ca_bundle(bundle))

    def proxy_for(self, url: str) -> str | None:
        """The proxy for ``url``, or None to connect directly. ``NO_PROXY`` applies to the
        ``proxy`` setting as well, as it does to requests' ``proxies``."""
        if self.proxy is not None and self.proxy.strip().lower() in {DIRECT, "", "none"}:
            return None
        if should_bypass_proxies(url, no_proxy=None):
            return None
        if self.proxy:
            return self.proxy.strip()
        return select_proxy(url, get_environ_proxies(url, no_proxy=None)) or None

    def verify(self) -> str | None:
        """The CA bundle to trust (a file or a directory); None: the system's store."""
        return self.ca_source()[0]

    def ca_source(self) -> tuple[str | None, str]:
        """The CA bundle to trust and the setting it comes from (``ca_bundle`` or an
        environment variable such as ``$REQUESTS_CA_BUNDLE``)."""
        if self.ca_bundle:
            return self.ca_bundle, "ca_bundle"
        for name in CA_VARIABLES:
            value = os.environ.get(name, "").strip()
            if value:
                return value, f"${name}"
        return None, ""

    def checked_for(self, url: str) -> tuple[str | None, str | None]:
        """(proxy, CA bundle) for ``url``, each checked as the settings are, with the
        environment variable it came from named (ValidationError): a bad
        ``$HTTPS_PROXY`` or ``$REQUESTS_CA_BUNDLE`` is told as such, before a request
        fails for a reason it cannot name. The CA bundle only matters for https."""
        proxy = self.proxy_for(url)
        if proxy and not self.proxy:
            proxy = checked_proxy(proxy, "$HTTPS_PROXY/$HTTP_PROXY")
        bundle, source = self.ca_source()
        if bundle and source != "ca_bundle" and url.lower().startswith("https:"):
            bundle = checked_ca_bundle(bundle, source)
        return proxy, bundle

    def resolved(self, url: str) -> Network:
        """These settings with the environment read now, for tasks on other machines."""
        https = url.lower().startswith("https:")  # (a CA bundle means nothing to http)
        return Network(self.proxy_for(url) or DIRECT, self.verify() if https else None)

    def shown_proxy(self, url: str) -> str:
        """The proxy for ``url`` as it may be shown: no credentials ("" when direct)."""
        proxy = self.proxy_for(url)
        return display_url(proxy) if proxy else ""


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def checked_proxy(value: str, setting: str = "proxy") -> str:
    """A proxy setting as it will be used (``host:port`` gains ``http://``), or
    ValidationError naming the setting: not a URL, a port that is no number, a SOCKS
    proxy without PySocks. "direct" and "" pass as they are."""
    value = value.strip()
    if not value or value.lower() in {DIRECT, "none"}:
        return value
    parts = urlsplit(value if "://" in value else f"http://{value}")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ValidationError(
            setting, f"{display_url(value)!r}: the port is not a number from 1 to 65535"
        ) from None
    host = parts.hostname or ""
    if parts.scheme not in PROXY_SCHEMES or not host or any(c.isspace() for c in host):
        raise ValidationError(
            setting,
            f"{display_url(value)!r} is not a proxy URL; use e.g. 'http://proxy.example:3128', "
            "or 'direct'",
        )
    if parts.scheme.startswith("socks") and importlib.util.find_spec("socks") is None:
        raise ValidationError(setting, "a SOCKS proxy needs PySocks: pip install 'requests[socks]'")
    return parts.geturl()


def checked_ca_bundle(value: str, setting: str = "ca_bundle") -> str:
    """A CA bundle setting as a path, or ValidationError naming the setting: no such
    file or directory, or a file that holds no PEM certificate."""
    path = Path(value.strip()).expanduser()
    if not path.exists():
        raise ValidationError(
            setting, f"{value!r} does not exist; give your organisation's CA certificate file"
        )
    if path.is_file():
        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError):
            raise ValidationError(
                setting,
                f"{value!r} holds no PEM certificate; give the CA certificate file "
                "(-----BEGIN CERTIFICATE----- ...)",
            ) from None
    return str(path)


def proxy_refusal(status: int, shown_proxy: str) -> str:
    """One line for a proxy that wants credentials (407), naming the setting to change."""
    return (
        f"{status}: the proxy {shown_proxy or '(from $HTTPS_PROXY/$HTTP_PROXY)'} asks for "
        "credentials; put them in the proxy setting's URL, e.g. "
        "proxy='http://user:password@proxy.example:3128' (or in $HTTPS_PROXY)"
    )


CERTIFICATE_FIX = (
    "the server's certificate is not trusted: behind TLS inspection, set the ca_bundle "
    "setting (or $REQUESTS_CA_BUNDLE) to your company's CA certificate file"
)
