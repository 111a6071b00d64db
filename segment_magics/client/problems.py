"""The rows of a run that did not simply go out, grouped by why, in bounded memory.

A million-row backfill in which every row has a problem keeps its counts and, for
each group of rows with the same reason, the first few rows and one example; every
row is also kept (in memory up to a point, then in a private file, or in the file
the user named with ``problems_path``) so that ``to_pandas()`` and iteration see
them all. A row's reason has two parts: the *key* that groups it (the violation
kinds and field paths, the error without its values) and the *detail* with its
own values.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import orjson

from ..errors import require
from ..private_files import make_private

ProblemStatus = Literal[
    "invalid", "rejected", "failed", "not sent", "sent with violations", "dry run with violations"
]
# Not sent first, then sent with the plan's objections.
ORDER: tuple[ProblemStatus, ...] = (
    "invalid", "not sent", "failed", "rejected", "sent with violations", "dry run with violations"
)  # fmt: skip
NOT_SENT = frozenset({"invalid", "not sent", "failed", "rejected"})
ROWS_PER_GROUP = 5  # row labels each group keeps
KEPT_IN_MEMORY = 10_000  # rows kept in memory before they go to a file


@dataclass(frozen=True)
class Problem:
    """A row that did not simply go out: why, its messageId when it had one, and what
    the tracking plan said of it ("" when nothing)."""

    row: Any
    status: ProblemStatus
    reason: str
    message_id: str = ""
    violations: str = ""
    position: int = -1  # where in the input it was read


@dataclass
class ProblemGroup:
    """Rows with the same status and reason: how many, the first few, one example."""

    status: ProblemStatus
    reason: str
    count: int = 0
    rows: list[Any] = field(default_factory=list)
    example: str = ""
    message_ids: list[str] = field(default_factory=list)

    @property
    def sent(self) -> bool:
        return self.status not in NOT_SENT


_QUOTED = re.compile(r"""'[^']*'|"[^"]*"|\b\d[\d.,_eE+-]*\b""")
_INDEX = re.compile(r"\[\d+\]")


def group_key(reason: str) -> str:
    """What a reason says without the values it quotes: rows with the same problem at
    the same place group together whatever their values (``[3]`` paths become ``[]``)."""
    return _QUOTED.sub("…", _INDEX.sub("[]", reason))


class ProblemLog(Sequence[Problem]):
    """Every problem row of a run (a sequence), and its groups (:attr:`groups`)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._groups: dict[tuple[str, str], ProblemGroup] = {}
        self._rows: list[Problem] = []
        self._keys: list[str] = []  # each kept row's group key (written beside it)
        self._count = 0
        self.by_status: dict[str, int] = {}
        self.path: Path | None = Path(path).expanduser() if path else None
        self._file: Any = None
        self._spooled = False  # rows went to a file of ours (not one the user named)
        self.write_error = ""  # why the file stopped taking rows (the rest are in memory)
        if self.path is not None:
            self._open(self.path)

    # -- adding ---------------------------------------------------------------------------
    def add(self, problem: Problem, key: str | None = None) -> None:
        """Record one row; ``key`` groups it (default: its reason without values)."""
        grouped = (problem.status, key if key is not None else group_key(problem.reason))
        group = self._groups.get(grouped)
        if group is None:
            group = self._groups[grouped] = ProblemGroup(problem.status, grouped[1])
            group.example = problem.reason
        group.count += 1
        if len(group.rows) < ROWS_PER_GROUP:
            group.rows.append(problem.row)
            if problem.message_id:
                group.message_ids.append(problem.message_id)
        self._count += 1
        self.by_status[problem.status] = self.by_status.get(problem.status, 0) + 1
        row = (problem, grouped[1])
        if self._file is None and len(self._rows) >= KEPT_IN_MEMORY and not self.write_error:
            self._spool()
        if self._file is not None:
            try:
                self._file.add(row)
                return
            except OSError as exc:
                self._failed(exc)
        self._rows.append(problem)
        self._keys.append(grouped[1])

    def _failed(self, exc: OSError) -> None:
        """The disk refused a chunk (full, or a size limit): the file keeps its whole rows,
        the chunk's rows and every later one stay in memory, and the run goes on."""
        assert self._file is not None
        self.write_error = f"{self.path}: {exc.strerror or exc}"
        for problem, key in self._file.close():
            self._rows.append(problem)
            self._keys.append(key)
        self._file = None

    def merge_file(self, path: str | Path, relabel: Any = None) -> int:
        """Add every row of a problem file (a partition's), relabelled by
        ``relabel(label)``; returns how many."""
        added = 0
        for problem, key in read_problems(path):
            label = relabel(problem.row) if relabel is not None else problem.row
            self.add(Problem(label, problem.status, problem.reason, problem.message_id,
                             problem.violations, problem.position), key)  # fmt: skip
            added += 1
        return added

    def _open(self, path: Path) -> None:
        self._file = _RowFile(path)

    def _spool(self) -> None:
        """Too many rows for memory: they go on in a private file (deleted with the log)."""
        try:
            handle, name = tempfile.mkstemp(prefix="segment-problems-", suffix=".jsonl")
            os.close(handle)
            self._open(Path(name))
        except OSError as exc:  # no room even for that: they stay in memory
            self.write_error = f"a spool file: {exc.strerror or exc}"
            return
        self.path, self._spooled = Path(name), True
        rows = list(zip(self._rows, self._keys, strict=True))
        self._rows, self._keys = [], []
        for index, row in enumerate(rows):
            try:
                self._file.add(row)
            except OSError as exc:
                self._failed(exc)  # (this row was the chunk's last: it is back in memory)
                for problem, key in rows[index + 1 :]:
                    self._rows.append(problem)
                    self._keys.append(key)
                break

    def _flushed(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._failed(exc)

    def close(self) -> None:
        """The run is over: flush the file (it stays readable)."""
        self._flushed()
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:
        self.close()
        if self._spooled and self.path is not None:
            self.path.unlink(missing_ok=True)

    # -- reading --------------------------------------------------------------------------
    @property
    def groups(self) -> list[ProblemGroup]:
        """Not sent first (invalid, not sent, failed, rejected), then sent with the plan's
        violations; the biggest group first within each."""
        return sorted(self._groups.values(), key=lambda g: (ORDER.index(g.status), -g.count))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Problem]:
        if self.path is None:
            yield from list(self._rows)
            return
        self._flushed()
        for problem, _ in read_problems(self.path):
            yield problem
        yield from list(self._rows)  # (after the file's: those the disk did not take)

    @overload
    def __getitem__(self, index: int) -> Problem: ...

    @overload
    def __getitem__(self, index: slice) -> list[Problem]: ...

    def __getitem__(self, index: int | slice) -> Problem | list[Problem]:
        if self.path is None:
            return self._rows[index]
        return list(self)[index]

    def to_pandas(self) -> Any:
        """One row per problem row (needs pandas)."""
        pd = require("pandas", "result.problems.to_pandas()", "audit")

        columns = ["row", "status", "reason", "violations", "messageId"]
        return pd.DataFrame(
            [(p.row, p.status, p.reason, p.violations, p.message_id) for p in self],
            columns=columns,
        )

    def __repr__(self) -> str:
        return f"<ProblemLog {self._count:,} rows in {len(self._groups):,} groups>"


class _RowFile:
    """Problem rows appended to a private file a chunk at a time. A chunk the disk
    refuses is cut off again, so the file holds whole rows only, and :meth:`close`
    hands back the rows it did not take."""

    CHUNK = 256 << 10

    def __init__(self, path: Path) -> None:
        make_private(path)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_TRUNC)
        self._size = 0  # bytes of whole rows written
        self._lines: list[bytes] = []
        self._rows: list[tuple[Problem, str]] = []
        self._pending = 0

    def add(self, row: tuple[Problem, str]) -> None:
        line = _line(*row)
        self._lines.append(line)
        self._rows.append(row)
        self._pending += len(line)
        if self._pending >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        """Write the pending rows (OSError: none of them is in the file)."""
        if not self._lines or self._fd is None:
            return
        data = memoryview(b"".join(self._lines))
        try:
            done = 0
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # no half row stays
            raise
        self._size += len(data)
        self._lines, self._rows, self._pending = [], [], 0

    def close(self) -> list[tuple[Problem, str]]:
        """Close the file; the rows it has not taken."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        left, self._lines, self._rows = self._rows, [], []
        return left


def unwritable(path: str | Path) -> str:
    """Why problem rows cannot go to ``path`` ("" when they can): checked before a run
    sends anything. The file is created private (0600), or emptied."""
    target = Path(path).expanduser()
    if target.is_dir():
        return f"{str(target)!r} is a folder; give a file name in it, e.g. problems.jsonl"
    try:
        make_private(target)
        with target.open("wb"):
            pass
    except OSError as exc:
        return f"cannot write {str(target)!r} ({exc.strerror or exc}); give a file you can write"
    return ""


def _line(problem: Problem, key: str) -> bytes:
    record = {
        "row": problem.row, "status": problem.status, "reason": problem.reason,
        "violations": problem.violations, "messageId": problem.message_id,
        "position": problem.position, "key": key,
    }  # fmt: skip
    options = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
    return orjson.dumps(record, default=str, option=options)


def read_problems(path: str | Path) -> Iterator[tuple[Problem, str]]:
    """The rows of a problem file (JSON lines), each with its group key."""
    with Path(path).open("rb") as lines:
        for line in lines:
            r = orjson.loads(line)
            problem = Problem(r["row"], r["status"], r["reason"], r["messageId"],
                              r["violations"], r["position"])  # fmt: skip
            yield problem, r["key"]
