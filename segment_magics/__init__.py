"""segment-magics: talk to Segment from Jupyter.

``%load_ext segment_magics`` for the magics; ``SegmentClient`` for Python code;
``start_collector()`` for a local Segment-compatible server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .client import BatchResult, History, Result, SegmentClient
from .collector import Collector, start_collector
from .errors import SegmentError, ValidationError

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

__all__ = [
    "BatchResult",
    "Collector",
    "History",
    "Result",
    "SegmentClient",
    "SegmentError",
    "ValidationError",
    "__version__",
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


def __getattr__(name: str) -> Any:
    if name == "form":  # a callable module: segment_magics.form("track", ...)
        import importlib

        return importlib.import_module(".form", __name__)
    raise AttributeError(f"module 'segment_magics' has no attribute {name!r}")
