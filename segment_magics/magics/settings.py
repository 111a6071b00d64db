"""``%config SegmentMagics``: every setting of the magics, in one configurable.

The settings belong to :class:`~.calls.SegmentMagics`, which inherits them from
here; the other families of magics read them through it. Changing a setting that
the client is built from rebuilds it on the next call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, observe, validate
from traitlets.config import Configurable

from ..client import PLAN_MODES, WriteKey, display_url, resolve_endpoint
from ..client.endpoints import endpoint_credentials
from ..client.network import checked_ca_bundle, checked_proxy
from ..display import VIEWS
from ..errors import ValidationError
from ..messages.arguments import checked_retries, checked_seconds
from ..messages.naive_time import NaiveTime
from ..session import LOCAL

if TYPE_CHECKING:
    from ..session import SegmentSession

# Settings the client is built from: changing one rebuilds it.
CLIENT_SETTINGS = ("endpoint", "write_key_env", "timeout", "max_retries", "retry_budget", "gzip",
                   "outbox_path", "proxy", "ca_bundle")  # fmt: skip


class SegmentSettings(Configurable):
    """The settings, and the session built from them (set by the class that owns them)."""

    _session: SegmentSession

    @property
    def session(self) -> SegmentSession:
        return self._session

    endpoint = Unicode(
        LOCAL,
        help="Where calls go: 'local' (the embedded collector, started on first use), "
        "'us', 'eu', or the URL of a Segment-compatible server.",
    ).tag(config=True)
    write_key_env = Unicode(
        "SEGMENT_WRITE_KEY", help="Environment variable that holds the write key."
    ).tag(config=True)
    dry_run = Bool(False, help="Validate and show payloads without sending anything.").tag(
        config=True
    )
    timeout = Float(10.0, help="Seconds an HTTP attempt may take in all.").tag(config=True)
    max_retries = Int(3, help="Retries after the first attempt (retryable errors only).").tag(
        config=True
    )
    retry_budget = Float(
        30.0, help="Most seconds a call may spend waiting between retries in all."
    ).tag(config=True)
    gzip = Bool(False, help="gzip-compress request bodies.").tag(config=True)
    short_errors = Bool(
        True, help="Fail cells with a one-line message; False shows the full traceback."
    ).tag(config=True)
    display_limit = Int(20, help="Rows shown in history tables (0 = all).").tag(config=True)
    anonymous_id = Enum(
        ["per_call", "session"],
        "per_call",
        help="When a call has no userId/anonymousId: 'per_call' generates a new UUID each "
        "time (the node spec's default); 'session' uses one stable id for this kernel.",
    ).tag(config=True)
    progress = Bool(True, help="Show a progress bar for bulk sends (--from).").tag(config=True)
    plan_mode = Enum(
        list(PLAN_MODES),
        "warn",
        help="With a tracking plan active: 'warn' sends and shows violations, 'block' refuses "
        "calls with violations (StatusCode -1, the cell fails), 'off' does not check.",
    ).tag(config=True)
    result_view = Enum(
        list(VIEWS),
        "compact",
        help="How a call shows: 'compact' (outcome, what needs attention, who and what; "
        "the payload folded) or 'full' (every field of the result).",
    ).tag(config=True)
    public_api = Unicode(
        "us",
        help="Segment's Public API for %segment_plan pull/push: us, eu or an https URL. "
        "The token comes from $SEGMENT_PUBLIC_API_TOKEN or a getpass prompt.",
    ).tag(config=True)
    naive_timezone = Unicode(
        "guess",
        help="How datetimes without a time zone are read: 'guess' (the official SDK's rule: "
        "local time within 5 s of this machine's clock, else UTC), 'UTC', 'local', or an "
        "IANA zone name such as 'Europe/Berlin'. Each value read this way is noted.",
    ).tag(config=True)
    proxy = Unicode(
        "",
        help="The proxy for Segment's APIs, e.g. 'http://proxy.example:3128' (credentials in "
        "the URL are kept out of this setting); 'direct' for none. Empty: $HTTPS_PROXY, "
        "$HTTP_PROXY and $NO_PROXY, read as requests reads them.",
    ).tag(config=True)
    ca_bundle = Unicode(
        "",
        help="A CA certificate file (or directory) to trust, for TLS inspection behind a "
        "corporate proxy. Empty: $REQUESTS_CA_BUNDLE or $SSL_CERT_FILE, else the system's.",
    ).tag(config=True)
    outbox_path = Unicode(
        "",
        help="sqlite file that keeps undeliverable messages for %segment_retry "
        "(empty: $SEGMENT_MAGICS_OUTBOX, else ~/.local/share/segment-magics/outbox.sqlite).",
    ).tag(config=True)

    _url_key: WriteKey | None = None
    _proxy_url: str = ""  # the proxy setting with its credentials, which the trait never holds

    @property
    def proxy_url(self) -> str | None:
        """The proxy to use (with any credentials); None: the environment decides."""
        return self._proxy_url or None

    @validate("proxy")
    def _check_proxy(self, proposal: dict[str, Any]) -> str:
        with _as_trait_error():
            value = checked_proxy(str(proposal["value"]))
        self._proxy_url = value
        return display_url(value) if value else ""

    @validate("ca_bundle")
    def _check_ca_bundle(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        with _as_trait_error():
            return checked_ca_bundle(value) if value else ""

    @property
    def url_key(self) -> WriteKey | None:
        """The write key written into the endpoint URL (``http://KEY@host``), if any: it
        is taken as the key and never kept in the setting, which %config prints."""
        return self._url_key

    @validate("endpoint")
    def _check_endpoint(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if value.lower() == LOCAL:
            self._url_key = None
            return LOCAL
        with _as_trait_error(ValueError):  # (resolve_endpoint raises a ValueError)
            resolve_endpoint(value)
            in_url = endpoint_credentials(value)
            self._url_key = WriteKey(in_url, "the endpoint URL") if in_url else None
        return display_url(value)

    @validate("naive_timezone")
    def _check_naive_timezone(self, proposal: dict[str, Any]) -> str:
        with _as_trait_error():
            return NaiveTime.of(str(proposal["value"])).setting

    @validate("display_limit")
    def _non_negative(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 0:
            raise TraitError(f"{proposal['trait'].name} must be 0 or more")
        return int(proposal["value"])

    @validate("max_retries")
    def _check_retries(self, proposal: dict[str, Any]) -> int:
        with _as_trait_error():
            return checked_retries(proposal["value"])

    @validate("timeout", "retry_budget")
    def _check_seconds(self, proposal: dict[str, Any]) -> float:
        name = proposal["trait"].name
        with _as_trait_error():
            return checked_seconds(name, proposal["value"], zero=name != "timeout")

    @observe(*CLIENT_SETTINGS)
    def _settings_changed(self, change: dict[str, Any]) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.rebuild()

    @observe("plan_mode")
    def _plan_mode_changed(self, change: dict[str, Any]) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.use_plan(session.plan)


@contextmanager
def _as_trait_error(*kinds: type[Exception]) -> Iterator[None]:
    """A setting refused by its checker (a ValidationError naming the fix) is refused to
    %config as traitlets expects: a TraitError with the same words."""
    refused: tuple[type[Exception], ...] = (ValidationError, *kinds)
    try:
        yield
    except refused as exc:
        raise TraitError(str(exc)) from None
