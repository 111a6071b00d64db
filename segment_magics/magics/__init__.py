"""The thin IPython layer: ``%load_ext segment_magics`` registers ``%segment_*``."""

from __future__ import annotations

import warnings

from IPython.core.interactiveshell import InteractiveShell

from ..session import SegmentSession, get_session, register_session, unregister_session
from .completion import matcher_for
from .errors import SegmentCallFailed, SegmentMagicError, SegmentUsageError
from .magic_class import SegmentMagics

__all__ = [
    "SegmentCallFailed",
    "SegmentMagicError",
    "SegmentMagics",
    "SegmentSession",
    "SegmentUsageError",
    "get_session",
    "load",
    "unload",
]


def load(shell: InteractiveShell) -> SegmentMagics:
    """Register the magics, leaving alone any same-named magic another package owns."""
    existing = shell.magics_manager.registry.get(SegmentMagics.__name__)
    if isinstance(existing, SegmentMagics):
        return existing
    magics = SegmentMagics(shell)
    for kind in ("line", "cell"):
        taken = shell.magics_manager.magics[kind]
        for name in list(magics.magics[kind]):
            if name in taken:
                warnings.warn(
                    f"%{name} already exists; segment-magics leaves it alone", stacklevel=2
                )
                del magics.magics[kind][name]
    shell.register_magics(magics)
    register_session(shell, magics.session)
    completer = getattr(shell, "Completer", None)
    if completer is not None:  # plain InteractiveShell subclasses always have one
        magics.matcher = matcher_for(shell, lambda: magics.session.plan)
        completer.custom_matchers.append(magics.matcher)
    return magics


def unload(shell: InteractiveShell) -> None:
    """Remove the magics and stop the embedded collector, if one was started."""
    magics = shell.magics_manager.registry.pop(SegmentMagics.__name__, None)
    if not isinstance(magics, SegmentMagics):
        return
    for kind in ("line", "cell"):
        table = shell.magics_manager.magics[kind]
        for name in magics.magics[kind]:
            bound = table.get(name)
            if getattr(bound, "__self__", None) is magics:
                del table[name]
    matcher = getattr(magics, "matcher", None)
    completer = getattr(shell, "Completer", None)
    if matcher is not None and completer is not None and matcher in completer.custom_matchers:
        completer.custom_matchers.remove(matcher)
    magics.session.close()
    unregister_session(shell)
    if magics in shell.configurables:
        shell.configurables.remove(magics)
