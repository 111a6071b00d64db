"""Where in its cell a magic line stands, so that every call shows exactly once.

IPython shows the value of a cell's last expression only. Two ``%segment_track``
lines in one cell, or one in a loop, would show nothing but the last, so a magic
asks how its line is used: as the last expression (IPython shows the result), as
a statement of its own (the magic shows it), or assigned (``r = %segment_...``:
nothing is shown). The answer comes from the cell as IPython transformed it.
"""

from __future__ import annotations

import ast
from typing import Literal

Usage = Literal["shown by IPython", "statement", "assigned", "unknown"]
_RUNNERS = {"run_line_magic"}


def usages(code: str, name: str, line: str, interactivity: str = "last_expr") -> list[Usage]:
    """How each ``get_ipython().run_line_magic(name, line)`` in ``code`` is used, in
    the order they run at first (an empty list when the code cannot be read)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found: list[tuple[int, int, Usage]] = []
    body = tree.body
    last = body[-1] if body else None
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.stmt):
                continue
            call = child.value if isinstance(child, ast.Expr | ast.Assign) else None
            if isinstance(child, ast.AnnAssign | ast.AugAssign):
                call = child.value
            if not _is_magic(call, name, line):
                continue
            if not isinstance(child, ast.Expr):
                usage: Usage = "assigned"
            elif node is tree and _shown(child, last, interactivity):
                usage = "shown by IPython"
            else:
                usage = "statement"
            found.append((child.lineno, child.col_offset, usage))
    return [usage for *_, usage in sorted(found)]


def _shown(node: ast.stmt, last: ast.stmt | None, interactivity: str) -> bool:
    if interactivity == "all":
        return True
    if interactivity in ("last_expr", "last", "last_expr_or_assign"):
        return node is last
    return False


def _is_magic(call: ast.expr | None, name: str, line: str) -> bool:
    if not isinstance(call, ast.Call) or len(call.args) < 2:
        return False
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in _RUNNERS):
        return False
    first, second = call.args[0], call.args[1]
    return (
        isinstance(first, ast.Constant)
        and first.value == name
        and isinstance(second, ast.Constant)
        and second.value == line
    )
