"""The layers: who may import whom, no import circles, and one description of each call."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from segment_magics.magics.specs import CALL_SPECS, COLUMN_SUFFIX
from segment_magics.messages import BODY, CALLS, ColumnMap, build_message
from segment_magics.messages.calls import RULE_TYPES
from segment_magics.plan.model import BODY_OF
from segment_magics.widgets.fields import layout, required

PACKAGE = Path(__file__).resolve().parent.parent / "segment_magics"

# layer -> the layers it may import (besides itself). Spark and Dask never appear.
ALLOWED = {
    "_version": set(),
    "errors": set(),
    "private_files": set(),
    "messages": {"errors", "_version"},
    "display": {"errors"},  # (text that cannot be encoded is escaped alike everywhere)
    "plan": {"messages", "display", "errors", "private_files"},  # (it writes plans: 0600)
    "client": {"messages", "plan", "display", "errors", "_version", "private_files"},
    "collector": {"messages", "plan", "errors", "_version", "private_files"},
    "session": {"client", "collector", "display", "plan", "messages", "errors"},
    "widgets": {"session", "client", "display", "messages", "errors"},
    # the event inspector, a UI beside the form: it reads the collector's store directly
    "inspector": {"session", "client", "collector", "display", "messages", "errors"},
    "magics": {
        "session",
        "client",
        "display",
        "messages",
        "plan",
        "errors",
        "widgets",
        "inspector",
    },
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every segment_magics module this file imports, at any level (lazy ones included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("segment_magics"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("segment_magics"):
                continue
            found.add(target)
            for alias in node.names:  # `from . import form` imports a module
                candidate = f"{target}.{alias.name}"
                if (PACKAGE.parent / candidate.replace(".", "/")).exists() or (
                    PACKAGE.parent / (candidate.replace(".", "/") + ".py")
                ).exists():
                    found.add(candidate)
    found.discard(name)
    return found


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_each_layer_imports_only_the_layers_below_it():
    wrong = [
        (module, target)
        for module, targets in GRAPH.items()
        for target in targets
        if layer(module) in ALLOWED
        and layer(target) != layer(module)
        and layer(target) not in ALLOWED[layer(module)]
    ]
    assert wrong == []


def test_the_import_graph_has_no_circles():
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_core_never_imports_spark_dask_ipython_or_widgets():
    code = (
        "import sys, segment_magics, segment_magics.client, segment_magics.collector, "
        "segment_magics.plan, segment_magics.session, segment_magics.messages, "
        "segment_magics.display, segment_magics.widgets;"
        "print(sorted(m for m in ('IPython', 'ipywidgets', 'pyspark', 'dask') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- one description of each call: everything derived matches the records ----------
@pytest.mark.parametrize("kind", list(CALLS))
def test_magic_options_are_the_call_fields(kind):
    call = CALLS[kind]
    spec = CALL_SPECS[kind]
    dests = [o.dest for o in spec.options]
    assert [d for d in dests if d in call.names] == list(call.names)
    assert {d.removesuffix(COLUMN_SUFFIX) for d in dests if d.endswith(COLUMN_SUFFIX)} == {
        f.name for f in call.column_fields
    }
    assert spec.positional == " ".join(call.positional)
    for field in call.fields:
        assert field.flag in spec.help and field.help.split(" (")[0] in spec.help


@pytest.mark.parametrize("kind", list(CALLS))
def test_form_shows_the_call_fields_in_order_with_the_required_ones(kind):
    call = CALLS[kind]
    assert [f.name for f in layout(kind)] == list(call.names)
    assert required(kind) == set(call.required)


@pytest.mark.parametrize("kind", list(CALLS))
def test_rows_builders_and_plans_read_the_records(kind):
    call = CALLS[kind]
    assert BODY.get(kind) == call.body == BODY_OF.get(kind.upper())
    row = {column: f"v-{f.name}" for f in call.column_fields for column in f.columns[:1]}
    row["extra"] = 1
    args = ColumnMap(kind).arguments({k: v for k, v in row.items() if "timestamp" not in k})
    assert {f.name for f in call.column_fields if f.kind != "timestamp"} <= set(args)
    if call.body:
        assert args[call.body] == {"extra": 1}
    for name in call.required:  # each required field, when missing, is named by the error
        fields = {n: "x" for n in call.required if n != name}
        with pytest.raises(Exception, match=call.field(name).wire):
            build_message(kind, **fields)


# -- the call records are the only place that names a call --------------------------
CALL_WORDS = {*CALLS, *(rule for rule in RULE_TYPES if rule != "COMMON")}
RECORDS = PACKAGE / "messages" / "calls.py"


def test_no_module_but_the_call_records_names_a_call_kind():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == RECORDS:
            continue
        tree = ast.parse(path.read_text())
        exported = {  # the names in __all__ are names, not calls
            id(n)
            for a in ast.walk(tree)
            if isinstance(a, ast.Assign)
            and any(getattr(t, "id", "") == "__all__" for t in a.targets)
            for n in ast.walk(a.value)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value in CALL_WORDS
                and id(node) not in exported
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert found == []


def test_the_literal_check_would_catch_a_call_kind(tmp_path):
    sample = ast.parse('if kind == "alias":\n    pass\nRULE = "TRACK"')
    caught = [n.value for n in ast.walk(sample) if isinstance(n, ast.Constant)]
    assert set(caught) & CALL_WORDS == {"alias", "TRACK"}


def test_no_package_file_is_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}
