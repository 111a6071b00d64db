"""SegmentForm: an ipywidgets form over the shared client.

The form only collects values: it parses its JSON editors, hands keyword
arguments to ``SegmentClient.send`` and shows the Result the client returns.
It has no write-key field, so no key can end up in widget state.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..client import Result
from ..display import Table
from ..messages import CALL_KINDS, Field, normalize_timestamp, to_json_safe
from .fields import INPUTS, is_json, layout, required

LABEL_WIDTH = "110px"
_STYLE = {"description_width": LABEL_WIDTH}


def _label(text: str) -> w.HTML:
    return w.HTML(
        f"<div style='text-align:right;padding:4px 8px 0 0'>{text}</div>",
        layout=w.Layout(width=LABEL_WIDTH, min_width=LABEL_WIDTH),
    )


class Notice(Table):
    """A one-line message shown in the form's output area (escaped like every table)."""

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__(title=title, rows=[["✗", line] for line in lines])

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return self.to_text()


class SegmentForm:
    """A form for all six calls; ``.preview()`` and ``.send()`` mirror its buttons."""

    def __init__(self, send: Callable[..., Result], kind: str = "track", **prefill: Any) -> None:
        """``send`` is ``SegmentClient.send`` or the notebook session's ``send``."""
        if kind not in CALL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CALL_KINDS)}, got {kind!r}")
        self._send = send
        self.last_result: Result | None = None
        self.kind = w.ToggleButtons(
            options=list(CALL_KINDS), value=kind, style={"button_width": "80px"}
        )
        self.kind.add_class("sm-kind")
        self.inputs: dict[str, w.Text | w.Textarea] = {}
        self.notes: dict[str, w.HTML] = {}
        self.rows: dict[str, w.Widget] = {}
        for field in INPUTS.values():
            self._make_row(field)
        self.preview_button = w.Button(
            description="Preview", icon="eye", tooltip="Dry run: show the payload, send nothing"
        )
        self.send_button = w.Button(description="Send", icon="paper-plane", button_style="primary")
        self.preview_button.add_class("sm-preview")
        self.send_button.add_class("sm-send")
        self.preview_button.on_click(lambda _: self.preview())
        self.send_button.on_click(lambda _: self.send())
        self.output = w.Output(
            layout=w.Layout(border="1px solid #d0d7de", padding="4px", min_height="40px")
        )
        self.output.add_class("sm-output")
        self.fields_box = w.VBox()
        self.widget = w.VBox(
            [
                w.HTML("<b>Segment call</b> <span style='color:#57606a'>(* required)</span>"),
                w.HBox([_label("Call"), self.kind]),  # aligned with the field labels
                self.fields_box,
                w.HBox(
                    [self.preview_button, self.send_button],
                    layout=w.Layout(margin="6px 0 6px 114px"),
                ),
                self.output,
            ],
            layout=w.Layout(max_width="820px"),
        )
        self.widget.add_class("sm-form")
        self.kind.observe(lambda _: self._layout(), names="value")
        self.fill(**prefill)
        self._layout()

    # -- building -----------------------------------------------------------------
    def _make_row(self, field: Field) -> None:
        if is_json(field):
            box: w.Text | w.Textarea = w.Textarea(
                placeholder=field.placeholder,
                style=_STYLE,
                layout=w.Layout(width="100%", height="72px"),
            )
            note = w.HTML(layout=w.Layout(margin="0 0 0 114px"))
            box.observe(lambda _change, key=field.name: self._check_json(key), names="value")
            self.notes[field.name] = note
            row: w.Widget = w.VBox([box, note], layout=w.Layout(width="100%"))
        else:
            box = w.Text(placeholder=field.placeholder, style=_STYLE, layout=w.Layout(width="100%"))
            row = box
        box.add_class(f"sm-{field.name.replace('_', '-')}")
        self.inputs[field.name] = box
        self.rows[field.name] = row

    def _layout(self) -> None:
        kind = self.kind.value
        needed = required(kind)
        fields = layout(kind)
        for field in fields:
            box = self.inputs[field.name]
            box.description = f"{field.label} *" if field.name in needed else field.label
            box.placeholder = field.placeholder
        self.fields_box.children = [self.rows[field.name] for field in fields]

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
        """Parse one JSON editor; show the verdict next to it; return the problem, if any."""
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
        note = self.notes[key]
        note.value = (
            f"<span style='color:#cf222e'>✗ {self._label(key)} {problem}</span>" if problem else ""
        )
        return problem

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
        """What must be fixed before anything is sent."""
        kind = self.kind.value
        found = []
        for field in layout(kind):
            if is_json(field):
                problem = self._check_json(field.name)
                if problem:
                    found.append(f"{field.label}: {problem}")
        for field in layout(kind):
            if field.name in required(kind) and not self.inputs[field.name].value.strip():
                found.append(f"{field.label} is required for {kind}")
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
                return None
            result = self._send(self.kind.value, dry_run=dry_run or None, **self.values())
        except Exception as exc:  # callbacks' errors are invisible in JupyterLab otherwise
            lines = traceback.format_exception_only(type(exc), exc)
            self._show(Notice("Error", [line.strip() for line in lines]))
            return None
        self.last_result = result
        self._show(result)
        return result

    def _show(self, value: Any) -> None:
        self.output.append_display_data(value)

    # -- display ------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<SegmentForm {self.kind.value}>"
