"""Segment-like exports with known answers: for tutorials, tests and the benchmark.

:func:`write_export` writes gzipped newline-delimited JSON in the layout of Segment's
S3/GCS export (``segment-logs/<source-id>/<day, epoch ms>/<file>.gz``) and returns the
ground truth: how many messages break the plan, and where, group by group, exactly as
an audit must count them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..messages import TRACK
from .compact import parse_compact
from .model import Plan

CURRENCIES = ["USD", "EUR", "GBP"]
PLANS = ["free", "pro", "team"]


def sample_plan(events: int = 20) -> Plan:
    """A plan of ``events`` track events, each with typed, required, bounded and
    enumerated properties (what real plans mostly are)."""
    lines = []
    for n in range(events):
        lines += [
            f"Event {n:02d}",
            "  id: string! /^[a-z]+-[0-9]+$/",
            "  count: integer! >= 0",
            "  amount: number 0..1000",
            "  currency: string in [USD, EUR, GBP]",
            "  flag: boolean",
        ]
    return parse_compact("\n".join(lines), name=f"{events}-event sample plan")


def _valid(rng: random.Random, n: int) -> dict[str, Any]:
    return {"id": f"item-{n}", "count": rng.randint(0, 50), "amount": round(rng.random() * 999, 2),
            "currency": rng.choice(CURRENCIES), "flag": rng.random() < 0.5}  # fmt: skip


# How a message is broken: (what is done to its properties, the group it lands in)
BREAKS = (
    ("missing", "properties.count", "missing required"),
    ("type", "properties.count", "wrong type"),
    ("enum", "properties.currency", "value rule"),
    ("minimum", "properties.count", "value rule"),
    ("pattern", "properties.id", "value rule"),
    ("extra", "properties.coupon", "unplanned property"),
    ("unplanned", "event", "unplanned event"),
)


@dataclass
class GroundTruth:
    """What an audit must find: messages read, how many break the plan, and the groups
    (event, field, kind) with their counts."""

    messages: int = 0
    broken: int = 0
    groups: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    files: int = 0
    bad_lines: int = 0


def write_export(
    root: str | Path,
    messages: int = 10_000,
    *,
    events: int = 20,
    broken_share: float = 0.1,
    per_file: int = 2_000,
    days: int = 30,
    seed: int = 7,
    source_id: str = "src_sample",
    bad_lines: int = 0,
) -> GroundTruth:
    """Write ``messages`` track messages under ``root`` and return the ground truth.
    ``bad_lines`` lines that are not JSON are added (one per file, from the first)."""
    rng = random.Random(seed)
    truth = GroundTruth()
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    base = Path(root) / "segment-logs" / source_id
    written = 0
    file_index = 0
    while written < messages:
        count = min(per_file, messages - written)
        day = start + dt.timedelta(days=(written * days) // max(1, messages))
        folder = base / str(int(day.timestamp() * 1000))
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(count):
            n = written + i
            stamp = day + dt.timedelta(seconds=rng.randint(0, 86_399))
            name = f"Event {rng.randrange(events):02d}"
            properties = _valid(rng, n)
            if rng.random() < broken_share:
                how, path, kind = BREAKS[rng.randrange(len(BREAKS))]
                name = _break(how, properties, name)
                truth.broken += 1
                truth.groups[(name, path, kind)] += 1
            message_id = str(uuid.UUID(int=rng.getrandbits(128)))
            message = {"type": TRACK, "event": name, "userId": f"u{n % 997}",
                       "properties": properties, "messageId": message_id,
                       "timestamp": stamp.isoformat().replace("+00:00", "Z")}  # fmt: skip
            lines.append(orjson.dumps(message))
        if truth.bad_lines < bad_lines:
            lines.insert(len(lines) // 2, b'{"type": "' + TRACK.encode() + b'", "event": cut sh')
            truth.bad_lines += 1
        written_to = folder / f"{file_index:05d}.json.gz"
        written_to.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1))
        written += count
        file_index += 1
    truth.messages = written
    truth.files = file_index
    return truth


def _break(how: str, properties: dict[str, Any], name: str) -> str:
    if how == "missing":
        del properties["count"]
    elif how == "type":
        properties["count"] = "many"
    elif how == "enum":
        properties["currency"] = "XYZ"
    elif how == "minimum":
        properties["count"] = -1
    elif how == "pattern":
        properties["id"] = "NOT AN ID"
    elif how == "extra":
        properties["coupon"] = "SAVE10"
    elif how == "unplanned":
        return "Unplanned Event"
    return name
