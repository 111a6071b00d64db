"""Per-shell state shared by the magics and the form: one client, one history.

The session is the UIs' only door to the client: ``send``, ``send_many``,
``retry`` and ``failed`` apply the session's settings (dry run, the session's
anonymous id, the active tracking plan) the same way for every call. It is below
both UI layers and free of IPython: the configuration is any object with the
SegmentMagics settings as attributes, and shells are only used as keys.
"""

from __future__ import annotations

import getpass
import sys
import uuid
import weakref
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from .client import (
    ENDPOINTS,
    LOCAL_WRITE_KEY,
    TOKEN_ENV_VAR,
    ApiToken,
    BulkOptions,
    BulkResult,
    History,
    HistoryView,
    Outcome,
    PublicApi,
    Result,
    SegmentClient,
    WriteKey,
    display_url,
    find_api_token,
    find_write_key,
    resolve_endpoint,
)
from .client.network import DIRECT, Network
from .collector import Collector, start_collector
from .display import ConnectionSummary
from .errors import SegmentError, ValidationError
from .messages import CALLS
from .messages.naive_time import NaiveTime
from .plan import Plan, PlanValidator

LOCAL = "local"
R = TypeVar("R", bound=Outcome | HistoryView)


def proxied_page(port: int) -> str | None:
    """The debugger page through jupyter-server-proxy (``/proxy/PORT/`` under the
    notebook server's base URL), where it is installed: on a remote JupyterHub the
    browser reaches the kernel's machine only through the notebook server."""
    import importlib.util
    import os

    if importlib.util.find_spec("jupyter_server_proxy") is None:
        return None
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    return f"{prefix.rstrip('/')}/proxy/{port}/"


class ConnectError(SegmentError):
    """%segment_connect could not set up the connection; nothing changed that matters."""


class SessionConfig(Protocol):
    endpoint: str
    write_key_env: str
    dry_run: bool
    timeout: float
    max_retries: int
    retry_budget: float
    gzip: bool
    anonymous_id: str
    outbox_path: str
    plan_mode: Any
    progress: bool
    display_limit: int
    public_api: str
    naive_timezone: str


_SESSIONS: weakref.WeakKeyDictionary[Any, SegmentSession] = weakref.WeakKeyDictionary()


def register_session(shell: Any, session: SegmentSession) -> None:
    _SESSIONS[shell] = session


def unregister_session(shell: Any) -> None:
    _SESSIONS.pop(shell, None)


def get_session(shell: Any = None) -> SegmentSession:
    """The shell's shared session (client, history, collector); default: the running one.

    Loads the ``segment_magics`` extension into the shell when it is not loaded
    yet: loading is what creates and registers the session.
    """
    if shell is None:
        ipython = sys.modules.get("IPython")  # already imported wherever a shell runs
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        raise RuntimeError("get_session() needs a running IPython shell")
    session = _SESSIONS.get(shell)
    if session is None:
        shell.extension_manager.load_extension("segment_magics")
        session = _SESSIONS.get(shell)
    if session is None:  # pragma: no cover - the extension always registers one
        raise RuntimeError("segment_magics did not register a session for this shell")
    return session


class SegmentSession:
    """The shared SegmentClient, built from the SegmentMagics configuration.

    The client is built on first use and rebuilt only when :meth:`rebuild` says
    the settings changed; reading state never starts or stops anything.
    """

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.history = History()
        self.collector: Collector | None = None
        self.anonymous_id = str(uuid.uuid4())
        self.plan: Plan | None = None
        self.validator: PlanValidator | None = None
        self._typed_key: WriteKey | None = None
        self._api_token: ApiToken | None = None
        self._client: SegmentClient | None = None
        # what the UIs of this session produced (their displays phrase its next steps)
        self.produced: weakref.WeakSet[Outcome | HistoryView] = weakref.WeakSet()

    # -- the client ---------------------------------------------------------------
    @property
    def client(self) -> SegmentClient | None:
        """The client built for the current settings; None before the first call since
        the last change. Reading it has no side effects."""
        return self._client

    def rebuild(self) -> None:
        """The settings changed: close the client; the next call builds a new one."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _ready(self) -> SegmentClient:
        """The client for the current settings (built now if a rebuild was asked for)."""
        if self._client is None:
            c = self.config
            local = c.endpoint == LOCAL  # the embedded collector needs no key: send none of ours
            self._client = SegmentClient(
                write_key=LOCAL_WRITE_KEY if local else self._url_key() or self._typed_key,
                endpoint=self._endpoint_url(),
                timeout=c.timeout,
                max_retries=c.max_retries,
                retry_budget=c.retry_budget,
                gzip=c.gzip,
                history=self.history,
                write_key_env=c.write_key_env,
                outbox=c.outbox_path or None,
                # what waits for the embedded collector is resent to whichever one runs now
                outbox_key=LOCAL if local else None,
                # the embedded collector is this process: never behind a proxy
                proxy=DIRECT if local else getattr(c, "proxy_url", None),
                ca_bundle=getattr(c, "ca_bundle", "") or None,
            )
        self._client.use_plan(self.validator, self.config.plan_mode)
        self._client.naive = NaiveTime.of(getattr(self.config, "naive_timezone", None))
        return self._client

    def _url_key(self) -> WriteKey | None:
        """A key written into the endpoint URL, which the setting does not keep."""
        key = getattr(self.config, "url_key", None)
        return key if isinstance(key, WriteKey) else None

    def _endpoint_url(self) -> str:
        if self.config.endpoint == LOCAL:
            if self.collector is None:  # first use; a stopped one stays stopped (an outage)
                self.ensure_collector()
            assert self.collector is not None
            return self.collector.url
        return resolve_endpoint(self.config.endpoint)

    def ensure_collector(self) -> Collector:
        """The session's collector; a stopped one comes back on the same port with the
        events it had, so its URL (and what the outbox keeps for it) stays valid."""
        if self.collector is None or not self.collector.running:
            old = self.collector
            port, store = (old.port, old.store) if old is not None else (None, None)
            try:
                self.collector = start_collector(port=port, store=store)
            except ValidationError:  # its port was taken meanwhile: any free one
                self.collector = start_collector(store=store)
            self.collector.use_plan(self.validator)
            self.rebuild()
        return self.collector

    # -- the tracking plan ------------------------------------------------------------
    def use_plan(self, plan: Plan | None) -> None:
        """Check every call of this session (magics, form, client) against ``plan``."""
        self.plan = plan
        self.validator = PlanValidator(plan) if plan is not None else None
        if self._client is not None:
            self._client.use_plan(self.validator, self.config.plan_mode)
        if self.collector is not None:  # the embedded collector checks against it too
            self.collector.use_plan(self.validator)

    # -- the door: every call from the UIs goes through these ---------------------
    def _dry(self, dry_run: bool | None) -> bool:
        return bool(dry_run) or self.config.dry_run

    def _fallback_id(self) -> str | None:
        return self.anonymous_id if self.config.anonymous_id == "session" else None

    def send(self, kind: str, *, dry_run: bool | None = None, **fields: Any) -> Result:
        """One call with this session's settings (dry run, the session's anonymous id)."""
        fallback = self._fallback_id()
        call = CALLS.get(kind)
        if (
            fallback is not None
            and call is not None
            and call.takes_anonymous_id
            and fields.get("user_id") is None
            and fields.get("anonymous_id") is None
        ):
            fields["anonymous_id"] = fallback
        return self._made(self._ready().send(kind, dry_run=self._dry(dry_run), **fields))

    def send_many(self, rows: Any, options: BulkOptions) -> BulkResult:
        """A bulk send with this session's settings (dry run; rows without ids get the
        session's anonymous id when ``anonymous_id = "session"``)."""
        call = CALLS.get(options.kind or "")
        takes = call is None or call.takes_anonymous_id  # (Segment dicts: per row's type)
        options = replace(
            options,
            dry_run=self._dry(options.dry_run),
            anonymous_id=options.anonymous_id or (self._fallback_id() if takes else None),
        )
        return self._made(self._ready().backfill(rows, options))

    def retry(self, *, rejected: bool = False, kept_for: str | None = None) -> BulkResult:
        """Resend what the outbox keeps for the current endpoint (rejected ones on request;
        ``kept_for``: also what waits for another endpoint, or ``all``)."""
        client = self._ready()
        progress = self.config.progress
        result = client.retry_outbox(progress=progress, rejected=rejected, kept_for=kept_for)
        return self._made(result)

    def kept_counts(self, **which: Any) -> dict[str, int]:
        """What :meth:`discard` would remove, per endpoint (nothing is removed)."""
        return self._ready().kept_counts(**which)

    def discard(self, **which: Any) -> int:
        """Remove what the outbox keeps (``kept_for``, ``run_id``, ``rejected`` choose,
        as for :meth:`SegmentClient.discard_outbox`); returns how many."""
        return self._ready().discard_outbox(**which)

    def _made(self, result: R) -> R:
        self.produced.add(result)
        return result

    def failed(self, **filters: Any) -> HistoryView:
        """Calls that did not succeed, and what waits in the outbox (also from earlier
        kernels), newest first."""
        return self._made(
            self.history.select(
                failed=True,
                display_limit=self.config.display_limit,
                extra=self._ready().kept_results(),
                **filters,
            )
        )

    def calls(self, **filters: Any) -> HistoryView:
        """Every call of this session, newest first (``type``, ``event``, ``limit``)."""
        return self._made(self.history.select(display_limit=self.config.display_limit,
                                              **filters))  # fmt: skip

    # -- %segment_connect ---------------------------------------------------------
    def connect(self, target: str | None, write_key_env: str | None) -> ConnectionSummary:
        if write_key_env:
            self.config.write_key_env = write_key_env
        target = (target or self.config.endpoint).strip()
        if target.lower() != LOCAL:
            try:
                url = resolve_endpoint(target)
            except ValueError as exc:
                raise ConnectError(f"%segment_connect: {exc}") from None
            if url != self.endpoint_url_for(self.config.endpoint):
                self._typed_key = None
            self.config.endpoint = target
            self.rebuild()
            # Only the embedded collector needs no key: any URL, this machine's too, gets
            # the key Segment would ask for (from the environment, else the prompt).
            env = self.config.write_key_env
            known = self._url_key() or self._typed_key or find_write_key(None, env)
            if known is None:
                self._prompt_for_key(url)
        else:
            self.config.endpoint = LOCAL
            self.ensure_collector()
        self.rebuild()
        client = self._ready()
        debugger = (
            self.collector.debugger_url
            if self.config.endpoint == LOCAL and self.collector
            else None
        )
        shown = display_url(client.endpoint)
        name = self.config.endpoint
        if name == LOCAL:
            endpoint = f"local collector ({shown})"
        elif name.lower() in ENDPOINTS:
            endpoint = f"{name} ({shown})"
        else:
            endpoint = shown
        key = (
            client.key_source
            if client.key_source == LOCAL_WRITE_KEY.source
            else f"{client.masked_key} from {client.key_source}"
        )
        return ConnectionSummary(
            endpoint=endpoint, key=key, debugger=debugger, dry_run=self.config.dry_run,
            proxied=proxied_page(self.collector.port) if debugger and self.collector else None,
        )  # fmt: skip

    def endpoint_url_for(self, endpoint: str) -> str | None:
        if endpoint == LOCAL:
            return self.collector.url + "/v1" if self.collector else None
        try:
            return resolve_endpoint(endpoint)
        except ValueError:
            return None

    def _prompt_for_key(self, url: str) -> None:
        env = self.config.write_key_env
        typed = _asked(f"Segment write key for {display_url(url)} (${env} is not set): ")
        if typed is None or not typed.strip():
            raise ConnectError(
                f"%segment_connect: no write key given; set ${env} or type it at the prompt"
                f"{NO_PROMPT if typed is None else ''}"
            )
        self._typed_key = WriteKey(typed.strip(), "typed at the getpass prompt")
        self.rebuild()

    # -- Segment's Public API (tracking plans) ---------------------------------------
    def public_api(self, where: str | None = None) -> PublicApi:
        """A Public API client for ``where`` (default: the ``public_api`` setting). The
        token comes from ``$SEGMENT_PUBLIC_API_TOKEN``, else from a getpass prompt; a
        typed token lives in this session's memory only, never in a file or history."""
        token = find_api_token() or self._api_token or self._prompt_for_token()
        network = Network(getattr(self.config, "proxy_url", None),
                          getattr(self.config, "ca_bundle", "") or None)  # fmt: skip
        return PublicApi(token, where or self.config.public_api or "us", network=network)

    def _prompt_for_token(self) -> ApiToken:
        typed = _asked(f"Segment Public API token (${TOKEN_ENV_VAR} is not set): ")
        if typed is None or not typed.strip():
            raise ConnectError(
                f"%segment_plan: no Public API token given; set ${TOKEN_ENV_VAR} or type it "
                f"at the prompt{NO_PROMPT if typed is None else ''}"
            )
        self._api_token = ApiToken(typed.strip(), "typed at the getpass prompt")
        return self._api_token

    def close(self) -> None:
        self.rebuild()
        if self.collector is not None:
            self.collector.stop()
            self.collector = None


NO_PROMPT = " (this kernel cannot prompt: it has no input, as under nbconvert or papermill)"


def _asked(prompt: str) -> str | None:
    """What the user typed at a getpass prompt; None when there is no one to ask (no
    stdin, or a frontend without input)."""
    try:
        return getpass.getpass(prompt)
    except (EOFError, NotImplementedError, OSError):  # (IPython's StdinNotImplementedError)
        return None
