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

import os
from dataclasses import dataclass, field

from requests.utils import get_environ_proxies, select_proxy, should_bypass_proxies

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
        if self.ca_bundle:
            return self.ca_bundle
        for name in CA_VARIABLES:
            value = os.environ.get(name, "").strip()
            if value:
                return value
        return None

    def resolved(self, url: str) -> Network:
        """These settings with the environment read now, for tasks on other machines."""
        return Network(self.proxy_for(url) or DIRECT, self.verify())

    def shown_proxy(self, url: str) -> str:
        """The proxy for ``url`` as it may be shown: no credentials ("" when direct)."""
        proxy = self.proxy_for(url)
        return display_url(proxy) if proxy else ""


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
