"""segment-magics: talk to Segment from Jupyter.

``%load_ext segment_magics`` for the magics; ``SegmentClient`` for Python code;
``start_collector()`` for a local Segment-compatible server; ``form()`` for an
ipywidgets form; ``debugger()`` for the live event inspector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .client import BatchResult, BulkResult, History, Result, SegmentClient
from .collector import Collector, start_collector
from .errors import SegmentError, ValidationError
from .messages import DEFAULT_KIND

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .inspector import EventInspector
    from .widgets.form import SegmentForm

__all__ = [
    "BatchResult",
    "BulkResult",
    "Collector",
    "History",
    "Result",
    "SegmentClient",
    "SegmentError",
    "ValidationError",
    "__version__",
    "debugger",
    "form",
    "load_ipython_extension",
    "start_collector",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the ``%segment_*`` magics (``%load_ext segment_magics``)."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Remove the magics again (``%unload_ext segment_magics``)."""
    from .magics import unload

    unload(ipython)


def debugger() -> EventInspector:
    """The event inspector for the notebook's session (``%segment_debugger``): events as
    they reach the local collector, or what the notebook sent to Segment."""
    from .inspector.build import inspector_for
    from .session import get_session

    return inspector_for(get_session())


def form(
    kind: str = DEFAULT_KIND, client: SegmentClient | None = None, **prefill: Any
) -> SegmentForm:
    """An ipywidgets form for ``kind``, prefilled with ``prefill``.

    It sends through ``client`` when given, else through the notebook's shared
    session (loading the extension when needed), like ``%segment_form``.
    """
    from .widgets.form import SegmentForm

    if client is not None:
        if not isinstance(client, SegmentClient):
            raise ValidationError("client", f"give a SegmentClient, not {type(client).__name__}")
        return SegmentForm(client.send, kind, **prefill)
    from .session import get_session

    return SegmentForm(get_session().send, kind, **prefill)
