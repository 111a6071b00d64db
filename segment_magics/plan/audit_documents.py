"""``.json`` files that hold one JSON document rather than a message a line.

An array of messages (as a script, an API or a debugger saves them), a ``/v1/batch``
request's body, or one message written over several lines: read a line at a time, each
was nothing but lines that are not JSON, and no message was audited. Here each item is
a message, which the row checker checks (such files are small beside an export).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from .audit_lines import BOM, Takes
from .audit_report import Tally
from .validate import PlanValidator

LARGEST = 64 << 20  # a larger file is read a line at a time, as NDJSON
HEAD = 64 << 10  # read first, to tell NDJSON from one document
_SPACE = b" \t\r\n"


def json_document(name: str) -> list[Any] | None:
    """The items of a ``.json`` file that is one JSON document: an array's items, a
    batch body's ``batch``, or the one message. None for NDJSON (its first line is a
    whole JSON value), for a file that is no JSON as a whole, and for other names."""
    if not name.lower().endswith(".json"):
        return None
    path = Path(name)
    try:
        if path.stat().st_size > LARGEST:
            return None
        with path.open("rb") as file:  # NDJSON is told by its start: read no more
            head = file.read(HEAD).removeprefix(BOM)
            start = head.lstrip(_SPACE)[:1]
            if start not in (b"[", b"{"):
                return None
            if start == b"{" and b"\n" in head and _whole_value(head.split(b"\n", 1)[0]):
                return None  # NDJSON: a message a line
            data = head + file.read()
    except OSError:
        return None  # read as lines, where why it cannot be read is said
    if start == b"{" and b"\n" not in head and _whole_value(data.split(b"\n", 1)[0]):
        return None  # NDJSON whose first line is longer than the head
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, dict) and isinstance(document.get("batch"), list):
        return list(document["batch"])
    return document if isinstance(document, list) else [document]


def split_documents(files: list[str]) -> tuple[list[tuple[str, list[Any]]], list[str]]:
    """(``.json`` files that are one document, with their items; the other files)."""
    documents = [(name, items) for name in files if (items := json_document(name)) is not None]
    if not documents:
        return [], files
    taken = {name for name, _ in documents}
    return documents, [name for name in files if name not in taken]


def document_by_rows(
    name: str, items: list[Any], tally: Tally, validator: PlanValidator, window: Takes
) -> None:
    """Every item through the row checker; what is not a message object is listed."""
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            tally.bad_line(f"{name} item {number}", 0, "not a message object")
        elif window.takes(item):
            tally.observe(item, validator.check(item))


def _whole_value(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True
