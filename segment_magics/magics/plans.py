"""``%segment_plan`` and ``%%segment_plan``: tracking plans (the commands live in
:mod:`.planning`)."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import line_cell_magic, magics_class, needs_local_scope, no_var_expand

from .base import MagicsBase, boundary
from .plan_spec import HELP, SPEC
from .planning import PlanCommand, run_plan_cell, run_plan_line


@magics_class
class SegmentPlanMagics(MagicsBase):
    """Tracking plans: load, write, check, infer, diff, export, pull and push."""

    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    @boundary
    def segment_plan(self, line: str = "", cell: str | None = None, local_ns: Any = None) -> Any:
        parsed = SPEC.parse(line)
        command = PlanCommand(
            self.session,
            parsed.positional,
            parsed,
            self._namespace(local_ns),
            self.settings.display_limit,
        )
        if cell is not None:
            shown, stored = run_plan_cell(command, cell)
        else:
            shown, stored = run_plan_line(command)
        self._store(parsed.values["output"], stored)
        return shown


SegmentPlanMagics.segment_plan.__doc__ = HELP
