"""The event inspector: a live widget over a :mod:`.feed`, drawn by anywidget.

Everything travels over the kernel's own channel (the widget's comm), so it works
wherever ipywidgets render (JupyterHub, Colab, VS Code remote), even where the
browser cannot reach the collector's port. The kernel looks for changes ten times a
second at most and sends one page of rows; the payload of an event crosses only when
it is selected.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anywidget
from traitlets import Bool, Dict, Int, List, Unicode, observe

from .feed import PAGE_ROWS, Feed, clean_filters, public_row

MAX_ROWS = 1_000  # rows the browser holds at most (older ones come a page at a time)
INTERVAL = 0.1  # seconds between looks for new events: at most ten updates a second


class EventInspector(anywidget.AnyWidget):
    """Events as they arrive: a filtered list, one event's detail, the plan's violations
    grouped as Segment's Protocols view groups them."""

    _esm = Path(__file__).with_name("inspector.js")
    _css = Path(__file__).with_name("inspector.css")

    source = Unicode("").tag(sync=True)  # what is shown: the collector, or the history
    rows = List(Dict(), []).tag(sync=True)
    matching = Int(0).tag(sync=True)
    counts = Dict({}).tag(sync=True)
    filters = Dict({}).tag(sync=True)
    selected = Int(-1).tag(sync=True)
    detail = Dict({}).tag(sync=True)
    groups = List(Dict(), []).tag(sync=True)
    paused = Bool(False).tag(sync=True)
    waiting = Int(0).tag(sync=True)  # new events held back while paused
    more = Bool(False).tag(sync=True)

    def __init__(self, feed: Feed, *, interval: float = INTERVAL, live: bool = True) -> None:
        super().__init__()
        self._feed = feed
        self._lock = threading.RLock()
        self._seen = -1
        self._paused_total = 0
        self.source = feed.label
        self.on_msg(self._message)
        self.refresh()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if live:
            self._thread = threading.Thread(
                target=self._watch, args=(interval,), name="segment-inspector", daemon=True
            )
            self._thread.start()

    # -- what the browser asks -------------------------------------------------------------
    @observe("filters")
    def _filters_changed(self, change: dict[str, Any]) -> None:
        self.refresh()

    @observe("selected")
    def _selected_changed(self, change: dict[str, Any]) -> None:
        row_id = int(change["new"])
        self.detail = (self._feed.detail(row_id) or {}) if row_id >= 0 else {}

    @observe("paused")
    def _paused_changed(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._paused_total = self._feed.counts().get("total", 0)
        else:
            self.refresh()

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") == "older":
            self.load_older()

    # -- updates ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """The first page for the filters, the counts and the groups, sent at once."""
        with self._lock:
            self._seen = self._feed.version()
            count, rows = self._feed.page(clean_filters(self.filters))
            with self.hold_sync():
                self.rows = [public_row(r) for r in rows]
                self.matching = count
                self.more = count > len(rows)
                self.counts = self._feed.counts()
                self.groups = self._feed.groups()
                self.waiting = 0

    def load_older(self) -> None:
        """The next page of older rows, after the ones shown (up to :data:`MAX_ROWS`)."""
        with self._lock:
            if not self.rows or len(self.rows) >= MAX_ROWS:
                self.more = False
                return
            before = min(int(r["id"]) for r in self.rows)
            _, rows = self._feed.page(clean_filters(self.filters), before=before)
            shown = [*self.rows, *(public_row(r) for r in rows)][:MAX_ROWS]
            with self.hold_sync():
                self.rows = shown
                self.more = len(rows) == PAGE_ROWS and len(shown) < MAX_ROWS

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                if self._feed.version() == self._seen:
                    continue
                if self.paused:
                    total = self._feed.counts().get("total", 0)
                    self.waiting = max(0, total - self._paused_total)
                    continue
                self.refresh()
            except Exception:  # noqa: S112 - a closed comm or a stopped collector: try later
                continue

    def close(self) -> None:
        self._stop.set()
        super().close()
