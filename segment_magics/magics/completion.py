"""Tab completion for the ``%segment_*`` magics, through IPython's matcher API (v2).

Completes option names; event and page names from the active tracking plan;
property or trait keys of that event in a ``%%segment_*`` cell body; notebook
variables after options that take a dict or a DataFrame; the columns of the
``--from`` DataFrame after ``--*-col``; and the words of ``%segment_plan`` and
``%segment_connect``. :func:`suggest` is plain Python (text in, completions out);
:func:`matcher_for` wraps it for a shell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..messages import CALLS, DEFAULT_KIND
from ..plan import TEMPLATES, Plan
from ..plan.fields import flatten
from .parsing import MagicSpec, Option
from .plan_spec import SPEC as PLAN_SPEC
from .plan_spec import TAKES
from .planning import COMMANDS as PLAN_COMMANDS
from .specs import CALL_SPECS, COLUMN_SUFFIX, CONNECT, HISTORY, RETRY

SPECS: dict[str, MagicSpec] = {
    **{f"segment_{kind}": spec for kind, spec in CALL_SPECS.items()},
    "segment_connect": CONNECT,
    "segment_retry": RETRY,
    "segment_history": HISTORY,
    "segment_plan": PLAN_SPEC,
}
_SOURCE_COMMANDS = {"check", "infer", "diff"}


@dataclass(frozen=True)
class Suggestions:
    fragment: str  # the text before the cursor that the completions replace
    items: list[tuple[str, str]]  # (text, type)


def _split(prefix: str) -> tuple[list[str], str]:
    """Finished tokens and the one being typed (quotes and {...} kept whole)."""
    tokens: list[str] = []
    current = ""
    quote = ""
    depth = 0
    for char in prefix:
        if quote:
            current += char
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current += char
        elif char in "{[":
            depth += 1
            current += char
        elif char in "}]":
            depth = max(0, depth - 1)
            current += char
        elif char.isspace() and not depth:
            if current:
                tokens.append(current)
            current = ""
        else:
            current += char
    return tokens, current


def _unquote(token: str) -> str:
    return token[1:-1] if len(token) > 1 and token[0] == token[-1] and token[0] in "\"'" else token


def _quoted(name: str, fragment: str) -> str:
    """How a name is inserted: in the fragment's quotes, or quoted when it has spaces."""
    if fragment[:1] in ("'", '"'):
        return f"{fragment[0]}{name}{fragment[0]}"
    return f'"{name}"' if any(c.isspace() for c in name) else name


def _starts(name: str, fragment: str) -> bool:
    return name.lower().startswith(fragment.lstrip("\"'").lower())


def _option(spec: MagicSpec, flag: str) -> Option | None:
    return next((o for o in spec.options if flag in o.flags), None)


# IPython's own names in every notebook (In and Out are dicts of past cells)
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})


def _names(ns: Mapping[str, Any], want: Callable[[Any], bool], fragment: str) -> list[str]:
    return sorted(
        name
        for name, value in ns.items()
        if not name.startswith("_") and name not in _IPYTHON_NAMES and name.isidentifier()
        and _starts(name, fragment) and _safe(want, value)
    )  # fmt: skip


def _safe(want: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(want(value))
    except Exception:
        return False


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping) or (hasattr(value, "to_dict") and hasattr(value, "index"))


def _is_rows(value: Any) -> bool:
    is_frame = hasattr(value, "columns") and hasattr(value, "iloc")
    return is_frame or (isinstance(value, list | tuple) and bool(value))


def _keyed_rule(kind: str) -> str | None:
    """The rule type of a call whose rules are picked by a name (track, page, screen)."""
    call = CALLS.get(kind)
    return call.rule if call is not None and call.keyed_by else None


def _keys(plan: Plan | None, kind: str) -> list[str]:
    rule = _keyed_rule(kind)
    if plan is None or rule is None:
        return []
    return sorted({r.key for r in plan.rules if r.type == rule and r.key})


def suggest(
    text: str, line: int, column: int, plan: Plan | None, ns: Mapping[str, Any]
) -> Suggestions | None:
    """Completions for the cursor at ``line``/``column`` of a cell, or None when the
    cursor is not in a ``%segment_*`` magic."""
    lines = text.split("\n")
    if not lines or line >= len(lines):
        return None
    head_tokens, last = _split(lines[0])
    if last:
        head_tokens.append(last)
    magic = head_tokens[0].lstrip("%") if head_tokens else ""
    if line > 0:
        if not lines[0].startswith("%%segment_") or len(head_tokens) < 1:
            return None
        return _body(magic.removeprefix("segment_"), head_tokens, lines[line][:column], plan, text)
    prefix = lines[0][:column]
    if not prefix.lstrip().startswith("%segment_") and not prefix.startswith("%%segment_"):
        return None
    tokens, fragment = _split(prefix)
    if not tokens:
        return None  # still typing the magic's name: IPython completes that
    name = tokens[0].lstrip("%")
    if name == "segment_form":
        named = len(tokens) > 1 and tokens[1] in CALL_SPECS  # %segment_form identify ...
        name = f"segment_{tokens[1] if named else DEFAULT_KIND}"
        tokens = tokens[:1] + tokens[2:] if named else tokens
    spec = SPECS.get(name)
    if spec is None:
        return None
    args = tokens[1:]
    if fragment.startswith("-"):
        options = spec.options
        if name == "segment_plan":  # only what the command reads (the rest is refused)
            verb = "cell" if prefix.startswith("%%") else next(
                (a for a in args if not a.startswith("-")), None)  # fmt: skip
            if verb in TAKES:
                options = [o for o in options if o.dest in (*TAKES[verb], "output")]
        flags = sorted({f for o in options for f in o.flags if f.startswith(fragment)})
        return Suggestions(fragment, [(f, "option") for f in flags])
    if args and args[-1].startswith("-"):
        return _after_option(spec, args, fragment, plan, ns)
    return _positional(name, args, fragment, plan, ns)


def _after_option(
    spec: MagicSpec, args: list[str], fragment: str, plan: Plan | None, ns: Mapping[str, Any]
) -> Suggestions | None:
    option = _option(spec, args[-1])
    if option is None:
        return None
    if option.kind == "object":
        return Suggestions(fragment, [(n, "variable") for n in _names(ns, _is_mapping, fragment)])
    if option.kind == "source":
        return Suggestions(fragment, [(n, "variable") for n in _names(ns, _is_rows, fragment)])
    if option.dest in ("event", "name"):
        kind = spec.name.removeprefix("segment_")
        keys = [k for k in _keys(plan, kind) if _starts(k, fragment)]
        return Suggestions(fragment, [(_quoted(k, fragment), "event") for k in keys])
    if option.dest.endswith(COLUMN_SUFFIX):
        source = args[args.index("--from") + 1] if "--from" in args[:-1] else None
        frame = ns.get(source.lstrip("$")) if source else None
        columns = [str(c) for c in getattr(frame, "columns", [])]
        found = [c for c in columns if _starts(c, fragment)]
        return Suggestions(fragment, [(_quoted(c, fragment), "column") for c in found])
    return None


def _positional(
    name: str, args: list[str], fragment: str, plan: Plan | None, ns: Mapping[str, Any]
) -> Suggestions | None:
    given = [a for a in args if not a.startswith("-")]
    if name == "segment_plan":
        if not given:
            return Suggestions(
                fragment, [(c, "command") for c in PLAN_COMMANDS if c.startswith(fragment)]
            )
        if given[0] == "load" and len(given) == 1:
            loadable = [(t, "template") for t in sorted(TEMPLATES) if t.startswith(fragment)]
            loadable += [
                (n, "variable")
                for n in _names(ns, lambda v: isinstance(v, Mapping | list), fragment)
            ]
            return Suggestions(fragment, loadable)
        if given[0] in _SOURCE_COMMANDS and len(given) == 1:
            return Suggestions(fragment, [(n, "variable") for n in _names(ns, _is_rows, fragment)])
        return None
    if name == "segment_connect" and not given:
        return Suggestions(
            fragment, [(t, "endpoint") for t in ("us", "eu", "local") if t.startswith(fragment)]
        )
    kind = name.removeprefix("segment_")
    if _keyed_rule(kind) and not given:
        keys = [k for k in _keys(plan, kind) if _starts(k, fragment)]
        return Suggestions(fragment, [(_quoted(k, fragment), "event") for k in keys])
    return None


def _body(
    kind: str, head: list[str], prefix: str, plan: Plan | None, text: str
) -> Suggestions | None:
    """Keys of the planned properties/traits in a ``%%segment_<kind>`` cell body."""
    call = CALLS.get(kind)
    if plan is None or call is None or call.rule is None:
        return None
    positional = [_unquote(t) for t in head[1:] if not t.startswith("-")]
    key = positional[0] if call.keyed_by and positional else None
    rule = plan.rule_for(call.rule, key)
    if rule is None:
        return None
    start = max(prefix.rfind('"'), prefix.rfind("'"))
    if start >= 0 and prefix.count(prefix[start]) % 2 == 1:
        fragment = prefix[start:]  # inside an open string
    else:
        fragment = ""
        for char in reversed(prefix):
            if not (char.isalnum() or char in "_-"):
                break
            fragment = char + fragment
    body = rule.body or ""
    described = {  # top-level keys: "number, required"
        path.removeprefix(f"{body}."): f"{kind}, required" if required else kind
        for path, kind, required, _ in flatten(rule.body_schema, body)
        if "." not in path.removeprefix(f"{body}.") and "[" not in path
    }
    schema = rule.body_schema.get("properties")
    names = list(schema) if isinstance(schema, Mapping) else []
    fresh = [
        n for n in names if _starts(n, fragment) and f'"{n}"' not in text and f"'{n}'" not in text
    ]
    quote = fragment[0] if fragment[:1] in ("'", '"') else '"'
    return Suggestions(
        fragment, [(f"{quote}{n}{quote}", described.get(n) or "property") for n in fresh]
    )


def matcher_for(shell: Any, plan: Callable[[], Plan | None]) -> Callable[..., Any]:
    """An IPython v2 matcher for ``shell``; ``plan`` gives the active plan."""
    from IPython.core.completer import SimpleCompletion, context_matcher

    @context_matcher(identifier="segment_magics")
    def segment_matcher(context: Any) -> dict[str, Any]:
        try:
            found = suggest(
                context.full_text, context.cursor_line, context.cursor_position, plan(),
                shell.user_ns,
            )  # fmt: skip
        except Exception:  # completion must never break typing
            found = None
        if found is None:
            return {"completions": [], "suppress": False}
        return {
            "completions": [SimpleCompletion(text, type=kind) for text, kind in found.items],
            "matched_fragment": found.fragment,
            "suppress": bool(found.items),
        }

    return segment_matcher
