"""Exceptions shared by every layer. None of them ever carries the write key."""

from __future__ import annotations

import importlib
from types import ModuleType


class SegmentError(Exception):
    """Base class for every error segment-magics raises on purpose."""


class ValidationError(SegmentError, ValueError):
    """A message cannot be sent as given; ``field`` names the offending path."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class PlanWarning(UserWarning):
    """Part of a tracking plan cannot be checked (the plan is still used for the rest)."""


class MissingDependency(SegmentError, ImportError):
    """An optional library a feature needs is not installed; the message says how."""


def require(module: str, feature: str, extra: str) -> ModuleType:
    """Import ``module`` for ``feature``, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(
            f"{feature} needs {module.split('.')[0]}: pip install 'segment-magics[{extra}]'"
        ) from None
