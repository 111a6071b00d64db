"""The thin ipywidgets layer: ``segment_magics.form(...)`` and ``%segment_form``.

This module is callable (``segment_magics.form("track", user_id=...)``) because
the layer is named ``form`` and a function of the same name in the parent
package would be replaced by this subpackage as soon as it is imported.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from ..client import SegmentClient
from ..session import SegmentSession, session_for
from .fields import KINDS
from .widget import SegmentForm

__all__ = ["KINDS", "SegmentForm", "make_form"]


def make_form(
    kind: str = "track", client: SegmentClient | None = None, **prefill: Any
) -> SegmentForm:
    """A form for ``kind``; uses the notebook's shared client unless one is given."""
    if client is not None:
        return SegmentForm(client.send, kind, **prefill)
    return SegmentForm(notebook_session().send, kind, **prefill)


def notebook_session() -> SegmentSession:
    """The running notebook's shared session, loading the extension when needed."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("outside IPython, pass client=SegmentClient(...) to form()")
    session = session_for(shell)
    if session is None:
        shell.extension_manager.load_extension("segment_magics")
        session = session_for(shell)
    assert session is not None
    return session


class _CallableModule(types.ModuleType):
    def __call__(
        self, kind: str = "track", client: SegmentClient | None = None, **prefill: Any
    ) -> SegmentForm:
        return make_form(kind, client, **prefill)


sys.modules[__name__].__class__ = _CallableModule
