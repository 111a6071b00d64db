"""Which inspector a notebook gets: its collector's events, or what it sent to Segment."""

from __future__ import annotations

from ..client import display_url
from ..session import LOCAL, SegmentSession
from .feed import CollectorFeed, Feed, HistoryFeed
from .widget import EventInspector


def feed_for(session: SegmentSession) -> Feed:
    """The embedded collector's events when the notebook sends to it (started now when
    it is not running yet); else this notebook's history, labelled as such."""
    if session.config.endpoint == LOCAL:
        collector = session.ensure_collector()
        plan = f" · checked against {session.plan.name!r}" if session.plan is not None else ""
        return CollectorFeed(collector.store, f"Local collector, events as they arrive{plan}")
    client = session.client
    where = client.shown_endpoint if client is not None else session.config.endpoint
    return HistoryFeed(
        session.history,
        f"What this notebook sent to {display_url(where)} (its history: Segment's own "
        "debugger shows what arrived)",
    )


def inspector_for(session: SegmentSession) -> EventInspector:
    return EventInspector(feed_for(session))
