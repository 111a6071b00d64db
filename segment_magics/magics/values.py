"""Turn tokens into notebook values: literals, ``$name``, ``{expression}``, JSON, dict names.

Values are looked up or evaluated as objects, never through str()/repr round
trips, and an undefined name is an error that names it.
"""

from __future__ import annotations

import ast
import json
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from ..messages.jsonsafe import MAX_NESTING
from .errors import SegmentUsageError
from .parsing import Token

JSON_NAMES = {"true": True, "false": False, "null": None}
DICT_FORMS = "a dict variable name, $name, {expression} or an inline JSON object"


class Namespace:
    """The notebook's names (local scope first, then user_ns); JSON words last."""

    def __init__(
        self, user_ns: Mapping[str, Any], local_ns: Mapping[str, Any] | None = None
    ) -> None:
        self.user_ns = user_ns
        self.local_ns = local_ns or {}

    def _locals(self, with_json: bool) -> ChainMap[str, Any]:
        layers: list[Mapping[str, Any]] = [self.local_ns, self.user_ns]
        if with_json:
            layers.append(JSON_NAMES)
        return ChainMap(*layers)  # type: ignore[arg-type]

    def evaluate(self, source: str, where: str, *, with_json: bool = False) -> Any:
        try:
            code = compile(source.strip(), f"<{where}>", "eval")
        except SyntaxError as exc:
            raise SegmentUsageError(
                f"{where}: cannot read {_short(source)} as a Python expression ({exc.msg})"
            ) from None
        try:
            globals_ = self.user_ns if isinstance(self.user_ns, dict) else dict(self.user_ns)
            return eval(code, globals_, self._locals(with_json))  # noqa: S307 - the user's own notebook
        except NameError as exc:
            raise SegmentUsageError(f"{where}: {exc} in the notebook; nothing was sent") from None
        except Exception as exc:
            raise SegmentUsageError(
                f"{where}: evaluating {_short(source)} raised {type(exc).__name__}: {exc}"
            ) from None

    def has(self, name: str) -> bool:
        return any(name in layer for layer in (self.local_ns, self.user_ns))

    def lookup(self, name: str, where: str) -> Any:
        for layer in (self.local_ns, self.user_ns):
            if name in layer:
                return layer[name]
        raise SegmentUsageError(
            f"{where}: name {name!r} is not defined in the notebook; nothing was sent"
        )


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _dollar(token: Token, ns: Namespace, where: str) -> tuple[bool, Any]:
    if token.kind == "word" and token.text.startswith("$") and len(token.text) > 1:
        expr = token.text[1:]
        if expr.startswith("{") and expr.endswith("}"):
            expr = expr[1:-1]
        if expr.isidentifier():
            return True, ns.lookup(expr, where)
        return True, ns.evaluate(expr, where)
    return False, None


def resolve_scalar(token: Token, ns: Namespace, where: str) -> Any:
    """A literal (quoted or not), ``$name``, or ``{expression}``."""
    if token.kind == "quoted":
        return token.text
    found, value = _dollar(token, ns, where)
    if found:
        return value
    if token.kind == "braced":
        if token.text.startswith("{"):
            return ns.evaluate(token.text[1:-1], where)
        return parse_json_or_python(token.text, ns, where)
    return token.text


def resolve_object(token: Token, ns: Namespace, where: str) -> Any:
    """A dict: a variable's name, ``$name``, ``{expression}``, or inline JSON/Python."""
    found, value = _dollar(token, ns, where)
    if found:
        return value
    if token.kind == "braced":
        return parse_json_or_python(token.text, ns, where)
    if token.kind == "quoted":
        try:
            return json.loads(token.text)
        except ValueError:
            raise SegmentUsageError(
                f"{where}: {_short(token.text)} is not JSON; pass {DICT_FORMS}"
            ) from None
    if token.text.isidentifier():
        return ns.lookup(token.text, where)
    raise SegmentUsageError(f"{where}: {_short(token.text)} is not a dict; pass {DICT_FORMS}")


def too_deep(where: str) -> SegmentUsageError:
    """A value nested deeper than anything can be sent: one line that names the limit."""
    return SegmentUsageError(
        f"{where}: nests more than {MAX_NESTING} levels deep, the most a message may have "
        "(orjson and Segment's parsers stop there); flatten it, or send the deep part as a "
        "JSON string"
    )


def parse_json_or_python(text: str, ns: Namespace, where: str) -> Any:
    """JSON first (so pasted payloads work); else a Python expression with true/false/null.

    ``{expr}`` (a one-element set display) means "the value of expr", as in the
    line syntax, so ``--properties {order}`` passes the dict ``order`` itself.
    """
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError:
        raise too_deep(where) from None
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (RecursionError, MemoryError):
        raise too_deep(where) from None
    except SyntaxError as exc:
        if "too many nested" in exc.msg or "too complex" in exc.msg:
            raise SegmentUsageError(
                f"{where}: nests deeper than Python reads (200 levels of brackets; a message "
                f"may have {MAX_NESTING}); flatten it, or write it as JSON"
            ) from None
        raise SegmentUsageError(
            f"{where}: cannot read {_short(text)} as JSON or a Python expression ({exc.msg})"
        ) from None
    if isinstance(tree.body, ast.Set) and len(tree.body.elts) == 1:
        return ns.evaluate(ast.unparse(tree.body.elts[0]), where, with_json=True)
    return ns.evaluate(text, where, with_json=True)


def parse_cell_body(cell: str, ns: Namespace, where: str) -> dict[str, Any]:
    """The cell body: a JSON object or a Python dict expression; empty means ``{}``."""
    if not cell.strip():
        return {}
    value = parse_json_or_python(cell, ns, where)
    if not isinstance(value, dict):
        raise SegmentUsageError(
            f"{where}: the cell body must be a JSON object or a dict, got {type(value).__name__}"
        )
    return value
