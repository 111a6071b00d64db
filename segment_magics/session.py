"""Per-shell state shared by the magics and the form: one client, one history.

Below both UI layers and free of IPython: the configuration is any object with
the SegmentMagics settings as attributes, and shells are only used as keys.
"""

from __future__ import annotations

import getpass
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

from .client import (
    ENDPOINTS,
    History,
    Result,
    SegmentClient,
    WriteKey,
    display_url,
    is_loopback,
    resolve_endpoint,
)
from .collector import Collector, start_collector
from .display import Rendered, Table
from .errors import SegmentError
from .plan import Plan, PlanValidator

LOCAL = "local"


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
    plan_mode: str


_SESSIONS: weakref.WeakKeyDictionary[Any, SegmentSession] = weakref.WeakKeyDictionary()


def register_session(shell: Any, session: SegmentSession) -> None:
    _SESSIONS[shell] = session


def unregister_session(shell: Any) -> None:
    _SESSIONS.pop(shell, None)


def session_for(shell: Any) -> SegmentSession | None:
    """The session the magics registered for this shell, if they are loaded."""
    return _SESSIONS.get(shell)


@dataclass(eq=False)
class ConnectionSummary(Rendered):
    endpoint: str
    key: str
    debugger: str | None
    dry_run: bool

    def table(self) -> Table:
        rows: list[list[Any]] = [["Endpoint", self.endpoint], ["Write key", self.key]]
        if self.debugger:
            rows.append(["Debugger", self.debugger])
        if self.dry_run:
            rows.append(["Dry run", "on: calls are validated, nothing is sent"])
        return Table(title="Segment connection", rows=rows)


class SegmentSession:
    """Builds the shared SegmentClient from the SegmentMagics configuration, lazily."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.history = History()
        self.collector: Collector | None = None
        self.anonymous_id = str(uuid.uuid4())
        self._typed_key: WriteKey | None = None
        self.plan: Plan | None = None
        self._validator: PlanValidator | None = None
        self._client: SegmentClient | None = None
        self._built_for: tuple[Any, ...] | None = None

    # -- the client ---------------------------------------------------------------
    def _settings(self) -> tuple[Any, ...]:
        c = self.config
        return (c.endpoint, c.write_key_env, c.timeout, c.max_retries, c.retry_budget, c.gzip,
                c.outbox_path, self._typed_key is not None)  # fmt: skip

    @property
    def endpoint_url(self) -> str:
        if self.config.endpoint == LOCAL:
            return (self.collector or self.ensure_collector()).url
        return resolve_endpoint(self.config.endpoint)

    @property
    def client(self) -> SegmentClient:
        settings = self._settings()
        if self._client is None or settings != self._built_for or self._collector_gone():
            if self._client is not None:
                self._client.close()
            c = self.config
            self._client = SegmentClient(
                write_key=self._typed_key,
                endpoint=self.endpoint_url,
                timeout=c.timeout,
                max_retries=c.max_retries,
                retry_budget=c.retry_budget,
                gzip=c.gzip,
                history=self.history,
                write_key_env=c.write_key_env,
                outbox=c.outbox_path or None,
            )
            self._built_for = settings
        self._client.plan = self._validator  # the active plan and mode, as configured now
        self._client.plan_mode = self.config.plan_mode
        return self._client

    def activate_plan(self, plan: Plan) -> None:
        """Check every call of this session (magics, form, client) against ``plan``."""
        self.plan, self._validator = plan, PlanValidator(plan)

    def clear_plan(self) -> None:
        self.plan, self._validator = None, None

    @property
    def validator(self) -> PlanValidator | None:
        return self._validator

    def _collector_gone(self) -> bool:
        """Start the local collector on first use; one that was stopped stays stopped
        (an outage to try things with) until ``%segment_connect local``."""
        return self.config.endpoint == LOCAL and self.collector is None

    def ensure_collector(self) -> Collector:
        """The session's collector; a stopped one comes back on the same port with the
        events it had, so its URL (and what the outbox keeps for it) stays valid."""
        if self.collector is None or not self.collector.running:
            old = self.collector
            port, store = (old.port, old.store) if old is not None else (0, None)
            try:
                self.collector = start_collector(port=port, store=store)
            except OSError:
                self.collector = start_collector(store=store)
        return self.collector

    def send(self, kind: str, *, dry_run: bool | None = None, **fields: Any) -> Result:
        """One call through the shared client, with this session's settings applied
        (configured dry run, one anonymous id per session when asked for)."""
        if (
            kind != "alias"
            and self.config.anonymous_id == "session"
            and fields.get("user_id") is None
            and fields.get("anonymous_id") is None
        ):
            fields["anonymous_id"] = self.anonymous_id
        return self.client.send(kind, dry_run=bool(dry_run) or self.config.dry_run, **fields)

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
            if not is_loopback(url) and self.client.key_source == "missing":
                self._prompt_for_key(url)
        else:
            self.config.endpoint = LOCAL
            self.ensure_collector()
        client = self.client
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
            "not needed (local endpoint)"
            if client.key_source.startswith("not needed")
            else f"{client.masked_key} from {client.key_source}"
        )
        return ConnectionSummary(
            endpoint=endpoint,
            key=key,
            debugger=debugger,
            dry_run=self.config.dry_run,
        )

    def endpoint_url_for(self, endpoint: str) -> str | None:
        if endpoint == LOCAL:
            return self.collector.url + "/v1" if self.collector else None
        try:
            return resolve_endpoint(endpoint)
        except ValueError:
            return None

    def _prompt_for_key(self, url: str) -> None:
        env = self.config.write_key_env
        typed = getpass.getpass(f"Segment write key for {display_url(url)} (${env} is not set): ")
        if not typed.strip():
            raise ConnectError(
                f"%segment_connect: no write key given; set ${env} or type it at the prompt"
            )
        self._typed_key = WriteKey(typed.strip(), "typed at the getpass prompt")
        self._built_for = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.collector is not None:
            self.collector.stop()
            self.collector = None
