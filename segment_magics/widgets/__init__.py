"""The thin ipywidgets layer: :class:`SegmentForm` (``segment_magics.form(...)`` and
``%segment_form``).

Importing this package does not import ipywidgets; the form is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .form import SegmentForm

__all__ = ["SegmentForm"]


def __getattr__(name: str) -> Any:
    if name == "SegmentForm":
        from .form import SegmentForm

        return SegmentForm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
