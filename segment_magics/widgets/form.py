"""SegmentForm: an ipywidgets form over the shared client.

The form is itself a widget (a ``VBox``), so it can sit inside any layout. It
only collects values: it parses its JSON editors, hands keyword arguments to the
session's (or a client's) ``send`` and shows the Result it returns. It has no
write-key field, so no key can end up in widget state.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..client import Result
from ..display import Table
from ..messages import CALL_KINDS, DEFAULT_KIND, Field, normalize_timestamp, to_json_safe
from .fields import INPUTS, is_json, layout, required

LABEL_WIDTH = "120px"
_STYLE = {"description_width": LABEL_WIDTH}
_INDENT = "124px"  # the label column plus its gap: notes and buttons line up with inputs
MIN_ROWS, MAX_ROWS = 3, 30  # a JSON editor's height follows its content within these

# Placeholders read as hints, not values (muted, italic) in every JupyterLab theme;
# inputs never overflow the form's right edge.
_CSS = """<style>
.sm-form input::placeholder, .sm-form textarea::placeholder {
  color: var(--jp-ui-font-color3, #8c959f); font-style: italic; opacity: 1; }
.sm-form .widget-text, .sm-form .widget-textarea { max-width: 100%; box-sizing: border-box; }
.sm-form .sm-note { margin: 0 0 2px 0; font-size: 12px;
  color: var(--jp-error-color1, #cf222e); }
.sm-form .sm-hint { color: var(--jp-ui-font-color2, #57606a); }
.sm-form .sm-header { flex-wrap: wrap; align-items: baseline; gap: 4px 8px; }
.sm-form .sm-kind .widget-toggle-buttons, .sm-form .sm-kind { flex-wrap: wrap; }
.sm-form .sm-kind button { min-width: 72px; margin-bottom: 2px; }
</style>"""


def _label(text: str) -> w.HTML:
    return w.HTML(
        f"<div style='text-align:right;padding:4px 8px 0 0'>{text}</div>",
        layout=w.Layout(width=LABEL_WIDTH, min_width=LABEL_WIDTH),
    )


def editor_rows(text: str) -> int:
    """How tall a JSON editor should be for ``text``: every line visible, within bounds."""
    return max(MIN_ROWS, min(MAX_ROWS, text.count("\n") + 2))


class Notice(Table):
    """A one-line message shown in the form's output area (escaped like every table)."""

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__(title=title, rows=[["✗", line] for line in lines])

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return self.to_text()


class SegmentForm(w.VBox):
    """A form for all six calls; ``.preview()`` and ``.send()`` mirror its buttons."""

    def __init__(
        self, send: Callable[..., Result], kind: str = DEFAULT_KIND, **prefill: Any
    ) -> None:
        """``send`` is ``SegmentClient.send`` or the notebook session's ``send``."""
        if kind not in CALL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CALL_KINDS)}, got {kind!r}")
        super().__init__(layout=w.Layout(max_width="820px"))
        self._send_call = send  # not _send: ipywidgets uses that name for its messages
        self.last_result: Result | None = None
        self._notice_shown = False  # the output shows "fix these fields" (an edit clears it)
        self.kind = w.ToggleButtons(
            options=list(CALL_KINDS), value=kind, style={"button_width": "auto"}
        )
        self.kind.add_class("sm-kind")
        self.inputs: dict[str, w.Text | w.Textarea] = {}
        self.notes: dict[str, w.HTML] = {}
        self.rows: dict[str, w.Widget] = {}
        for field in INPUTS.values():
            self._make_row(field)
        self.preview_button = w.Button(
            description="Preview", icon="eye", tooltip="Dry run: show the payload, send nothing",
            layout=w.Layout(width="auto"),
        )  # fmt: skip
        self.send_button = w.Button(
            description="Send", icon="paper-plane", button_style="primary",
            layout=w.Layout(width="auto"),
        )  # fmt: skip
        self.preview_button.add_class("sm-preview")
        self.send_button.add_class("sm-send")
        self.preview_button.on_click(lambda _: self.preview())
        self.send_button.on_click(lambda _: self.send())
        self.output = w.Output(
            layout=w.Layout(
                border="1px solid var(--jp-border-color2, #d0d7de)",
                padding="4px",
                min_height="40px",
            )
        )
        self.output.add_class("sm-output")
        self.fields_box = w.VBox(layout=w.Layout(width="auto"))
        header = w.HTML(
            "<span style='white-space:nowrap'><b>Segment call</b> "
            "<span class='sm-hint'>(* required)</span></span>"
        )
        calls = w.HBox([_label("Call"), self.kind])  # aligned with the field labels
        calls.add_class("sm-header")
        self.children = (
            w.HTML(_CSS),
            header,
            calls,
            self.fields_box,
            w.HBox(
                [self.preview_button, self.send_button],
                layout=w.Layout(margin=f"6px 0 6px {_INDENT}"),
            ),
            self.output,
        )
        self.add_class("sm-form")
        self.kind.observe(self._kind_changed, names="value")
        self.fill(**prefill)
        self._layout()

    # -- building -----------------------------------------------------------------
    def _make_row(self, field: Field) -> None:
        box: w.Text | w.Textarea
        if is_json(field):
            box = w.Textarea(
                style=_STYLE, rows=MIN_ROWS, layout=w.Layout(width="auto", height="auto")
            )
        else:  # width auto: stretched to the form, margins included (100% overflows them)
            box = w.Text(style=_STYLE, layout=w.Layout(width="auto"))
        note = w.HTML(layout=w.Layout(margin=f"0 0 0 {_INDENT}"))
        note.add_class("sm-note")
        box.observe(lambda change, key=field.name: self._edited(key), names="value")
        box.add_class(f"sm-{field.name.replace('_', '-')}")
        self.inputs[field.name] = box
        self.notes[field.name] = note
        self.rows[field.name] = w.VBox([box, note], layout=w.Layout(width="auto"))

    def _layout(self) -> None:
        """Show the chosen call's fields, labelled and explained for that call."""
        kind = self.kind.value
        needed = required(kind)
        fields = layout(kind)
        for field in fields:
            box = self.inputs[field.name]
            box.description = f"{field.label} *" if field.name in needed else field.label
            box.placeholder = field.placeholder
            box.tooltip = field.help
        self.fields_box.children = [self.rows[field.name] for field in fields]

    def _kind_changed(self, _change: Any) -> None:
        """Another call: its fields, and no result or errors left from the last one."""
        self.output.outputs = ()
        for note in self.notes.values():
            note.value = ""
        self._layout()

    def _edited(self, key: str) -> None:
        """An edit clears the field's error (a JSON editor is checked again), and the
        "Not sent: fix these fields first" notice with it, and sizes the editor to its
        content."""
        if self._notice_shown:
            self.output.outputs = ()
            self._notice_shown = False
        box = self.inputs[key]
        if isinstance(box, w.Textarea):
            box.rows = editor_rows(box.value)
            self._check_json(key)
        else:
            self.notes[key].value = ""

    def fill(self, **values: Any) -> None:
        """Set field values from Python values (dicts become pretty JSON)."""
        for key, value in values.items():
            if key not in self.inputs:
                raise ValueError(f"the form has no field {key!r}; fields: {', '.join(self.inputs)}")
            if value is None:
                continue
            if is_json(INPUTS[key]):
                safe = to_json_safe(value, key, [])
                text = (
                    json.dumps(safe, indent=2, ensure_ascii=False)
                    if isinstance(safe, dict)
                    else str(value)
                )
            elif key == "timestamp" and not isinstance(value, str):
                text = normalize_timestamp(value) or ""
            else:
                text = str(value)
            self.inputs[key].value = text

    # -- reading ------------------------------------------------------------------
    def _check_json(self, key: str) -> str | None:
        """Parse one JSON editor; show the verdict under it; return the problem, if any."""
        text = self.inputs[key].value.strip()
        problem = None
        if text:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                problem = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            else:
                if not isinstance(value, dict):
                    problem = f"must be a JSON object {{...}}, got {type(value).__name__}"
        self._note(key, f"{self._label(key)} {problem}" if problem else "")
        return problem

    def _note(self, key: str, text: str) -> None:
        from html import escape

        self.notes[key].value = f"✗ {escape(text)}" if text else ""

    def values(self) -> dict[str, Any]:
        """The visible fields as client keyword arguments (JSON parsed, empty left out)."""
        out: dict[str, Any] = {}
        for field in layout(self.kind.value):
            text = self.inputs[field.name].value.strip()
            if not text:
                continue
            out[field.name] = json.loads(text) if is_json(field) else text
        return out

    def problems(self) -> list[str]:
        """What must be fixed before anything is sent (each also shown under its field)."""
        kind = self.kind.value
        found = []
        for field in layout(kind):
            if is_json(field):
                problem = self._check_json(field.name)
                if problem:
                    found.append(f"{field.label}: {problem}")
        for field in layout(kind):
            if field.name in required(kind) and not self.inputs[field.name].value.strip():
                text = f"{field.label} is required for {kind}"
                self._note(field.name, text)
                found.append(text)
        return found

    def _label(self, key: str) -> str:
        """The field's label for the call shown now."""
        return next((f.label for f in layout(self.kind.value) if f.name == key), key)

    # -- actions ------------------------------------------------------------------
    def preview(self) -> Result | None:
        """Dry run: validate and show the exact payload; nothing is sent."""
        return self._submit(dry_run=True)

    def send(self) -> Result | None:
        return self._submit(dry_run=False)

    def _submit(self, dry_run: bool) -> Result | None:
        self.output.outputs = ()
        try:
            problems = self.problems()
            if problems:
                self._show(Notice("Not sent: fix these fields first", problems))
                self._notice_shown = True
                return None
            result = self._send_call(self.kind.value, dry_run=dry_run or None, **self.values())
        except Exception as exc:  # callbacks' errors are invisible in JupyterLab otherwise
            lines = traceback.format_exception_only(type(exc), exc)
            self._show(Notice("Error", [line.strip() for line in lines]))
            return None
        self.last_result = result
        self._show(result)
        return result

    def _show(self, value: Any) -> None:
        self.output.append_display_data(value)

    def __repr__(self) -> str:
        return f"<SegmentForm {self.kind.value}>"
