"""The thin ipywidgets layer: ``segment_magics.form(...)`` and ``%segment_form``.

Importing this package does not import ipywidgets; :class:`SegmentForm` is
loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .widget import SegmentForm

__all__ = ["SegmentForm"]


def __getattr__(name: str) -> Any:
    if name == "SegmentForm":
        from .widget import SegmentForm

        return SegmentForm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
