"""The thin IPython layer: ``%load_ext segment_magics`` registers ``%segment_*``.

Three families of magics share one session and one set of settings: the calls
(:mod:`.calls`, which also owns ``%config SegmentMagics``), the tracking plans
(:mod:`.plans`) and the connection, outbox and history (:mod:`.connection`).
"""

from __future__ import annotations

import warnings
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics

from ..client import HistoryView, Outcome
from ..client.distributed import point_spark_at_this_python
from ..display import Style
from ..session import SegmentSession, get_session, register_session, unregister_session
from .base import forget_results, show_results
from .calls import SegmentMagics
from .completion import matcher_for
from .connection import SegmentConnectionMagics
from .debugger import SegmentDebuggerMagics
from .errors import SegmentCallFailed, SegmentMagicError, SegmentUsageError
from .phrasing import magic_phrase
from .plans import SegmentPlanMagics

__all__ = [
    "SegmentCallFailed",
    "SegmentConnectionMagics",
    "SegmentMagicError",
    "SegmentMagics",
    "SegmentPlanMagics",
    "SegmentSession",
    "SegmentUsageError",
    "get_session",
    "load",
    "unload",
]

FAMILIES = (SegmentPlanMagics, SegmentConnectionMagics, SegmentDebuggerMagics)


def load(shell: InteractiveShell) -> SegmentMagics:
    """Register the magics, leaving alone any same-named magic another package owns."""
    existing = shell.magics_manager.registry.get(SegmentMagics.__name__)
    if isinstance(existing, SegmentMagics):
        return existing
    magics = SegmentMagics(shell)
    point_spark_at_this_python()  # local Spark's executors then import this package
    families: list[Magics] = [magics]
    for family in FAMILIES:
        sibling = family(shell, magics)
        _forget_configurable(shell, sibling)  # their settings are SegmentMagics'
        families.append(sibling)
    for member in families:
        for kind in ("line", "cell"):
            taken = shell.magics_manager.magics[kind]
            for name in list(member.magics[kind]):
                if name in taken:
                    warnings.warn(
                        f"%{name} already exists; segment-magics leaves it alone", stacklevel=2
                    )
                    del member.magics[kind][name]
        shell.register_magics(member)
    register_session(shell, magics.session)
    show_results(shell, lambda result: _style(magics, result))
    completer = getattr(shell, "Completer", None)
    if completer is not None:  # plain InteractiveShell subclasses always have one
        magics.matcher = matcher_for(shell, lambda: magics.session.plan)
        completer.custom_matchers.append(magics.matcher)
    return magics


def _style(magics: SegmentMagics, result: Outcome | HistoryView) -> Style:
    """The configured view; next steps as magics for what this session's UIs made."""
    phrase = magic_phrase if result in magics.session.produced else None
    return Style(view=magics.result_view, phrase=phrase)


def unload(shell: InteractiveShell) -> None:
    """Remove the magics and stop the embedded collector, if one was started."""
    magics = shell.magics_manager.registry.pop(SegmentMagics.__name__, None)
    if not isinstance(magics, SegmentMagics):
        return
    members: list[Magics] = [magics]
    for family in FAMILIES:
        found = shell.magics_manager.registry.pop(family.__name__, None)
        if isinstance(found, Magics):
            members.append(found)
    for member in members:
        for kind in ("line", "cell"):
            table = shell.magics_manager.magics[kind]
            for name in member.magics[kind]:
                bound = table.get(name)
                if getattr(bound, "__self__", None) is member:
                    del table[name]
    matcher = getattr(magics, "matcher", None)
    completer = getattr(shell, "Completer", None)
    if matcher is not None and completer is not None and matcher in completer.custom_matchers:
        completer.custom_matchers.remove(matcher)
    forget_results(shell)
    magics.session.close()
    unregister_session(shell)
    _forget_configurable(shell, magics)


def _forget_configurable(shell: InteractiveShell, magics: Magics) -> None:
    configurables: list[Any] = shell.configurables
    if magics in configurables:
        configurables.remove(magics)
