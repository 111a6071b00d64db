"""``%segment_debugger``: the event inspector, in the notebook."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import line_magic, magics_class, no_var_expand

from .base import MagicsBase, boundary
from .errors import SegmentUsageError


@magics_class
class SegmentDebuggerMagics(MagicsBase):
    """A live view of what this notebook sends."""

    @no_var_expand
    @line_magic
    @boundary
    def segment_debugger(self, line: str = "") -> Any:
        """Show the event inspector: the events reaching the local collector as they
        arrive (or, when calls go to Segment itself, what this notebook sent), with
        filters, each event's payload and verdict, and the plan's violations grouped.
        It needs no open port: everything travels over the kernel's own channel."""
        if line.strip():
            raise SegmentUsageError("%segment_debugger takes no arguments")
        from ..inspector.build import inspector_for

        return inspector_for(self.session)
