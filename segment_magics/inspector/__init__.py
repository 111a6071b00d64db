"""The event inspector: a widget that follows the events a notebook sends, wherever
its kernel runs (a UI layer beside the form; nothing below the session imports it)."""

from .feed import CollectorFeed, HistoryFeed
from .widget import EventInspector

__all__ = ["CollectorFeed", "EventInspector", "HistoryFeed"]
