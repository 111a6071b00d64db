"""One pass of an audit: DuckDB reads files of messages and checks them as columns.

The pass parses each line once, with ``from_json``: the header (event, type, timestamp,
messageId) as text and the body (properties) as JSON. One ``json_extract`` of that body,
not of the line, then gives each slot's value (:mod:`.audit_sql`). What each event's
slots must hold is a row of a small table joined on the event's name, so one vectorised
expression per slot checks every event at once; every check is arithmetic on small
integers (a value's kind bit, a rule's bit from that table). The rows come out
aggregated, a few thousand of them for a million messages.

Measured on a million messages and the 20-event sample plan (``make bench``): branching
per event (``CASE event WHEN ...``) costs DuckDB four times as much, as it evaluates each
branch on a handful of rows per vector; ``pe IN (...)`` becomes a join, where a number
in the events' table costs a comparison; ``json_type`` parses each value again, where
the first byte of its JSON says the same; and a body's keys are listed only where its
length says one may be unplanned. Reading the header and the body in one parse, and
the slots from the body alone, took 11 % fewer instructions than a ``json_extract`` of
the header and another of the line's body and slots; adding up a slot's bits only
where a rule is broken, 1.2 % fewer again.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..messages import EVENT_RULE, TRACK
from .audit_report import STAMP
from .audit_sql import (
    ALL_KINDS,
    ARRAY,
    BODY_MISSING,
    BODY_TYPE,
    BOOLEAN,
    BOUNDS,
    ENUM,
    NULL,
    NUMBER,
    OBJECT,
    PATTERN,
    REQUIRED,
    STRING,
    Compiled,
    Slot,
    member,
    member_paths,
    sql_text,
)  # fmt: skip
from .model import BODY_OF

# a value's kind from the first byte of its JSON, as json_extract writes it (minified);
# indexed by the byte itself (lists count from 1; no JSON value starts with a NUL byte)
_FIRST_BYTE = {'"': STRING, "{": OBJECT, "[": ARRAY, "t": BOOLEAN, "f": BOOLEAN, "n": NULL,
               "-": NUMBER, **dict.fromkeys("0123456789", NUMBER)}  # fmt: skip
_KIND_OF_BYTE = "[" + ", ".join(str(_FIRST_BYTE.get(chr(b), 0)) for b in range(1, 128)) + "]"


def pass_sql(
    compiled: Compiled, source_sql: str, window_sql: str, others_need_rows: bool,
    timed: bool = True,
) -> str:  # fmt: skip
    """One pass over a chunk's lines (``source_sql`` gives ``f``: file, ``l``: text),
    aggregated: rows of (route, event number, label, day, body code, slot codes...,
    unplanned keys, raw line, file, count, first, last, example messageIds). Routes
    (:data:`ROUTES`): checked here, an event the plan does not list, left to the row
    checker (``raw`` holds the line), not JSON, a line of spaces. ``day`` is set for
    broken messages only; first, last and examples are theirs. Unless the window is
    ``timed`` (``since``/``until``), only the broken messages' timestamps and messageIds
    are read, from their lines again: a tenth of the lines parsed twice cost less than
    two strings carried out of every line's parse."""
    return _Pass(compiled, others_need_rows).sql(source_sql, window_sql, timed)


def _plain(name: str) -> bool:
    """Text JSON writes as it is, between quotes (so its written form is known)."""
    return name.isascii() and name.isprintable() and '"' not in name and "\\" not in name


_SPACE = "' \t\r\n'"  # JSON's white space (a line may keep its \n: :mod:`.audit_feed`)
HEADER = ("event", "type")  # read from every line as text
STAMPS = ("timestamp", "messageId")  # read from every line only when the window is timed
ROUTES = ("sql", "unplanned", "rows", "bad", "blank")  # a pass's routes, by number
SQL, UNPLANNED, ROWS, BAD, BLANK = range(len(ROUTES))


class _Pass:
    """The SQL of one pass; see :meth:`Compiled.query`.

    Every check is arithmetic on small integers (a value's kind bit, a rule's bit from
    the events' table), not a branch: DuckDB evaluates a ``CASE`` per branch, which over
    a million rows costs more than the parsing.
    """

    def __init__(self, compiled: Compiled, others_need_rows: bool) -> None:
        self.c = compiled
        self.others = others_need_rows
        self.layouts = compiled.layouts()
        self.width = compiled.width
        # per slot, the distinct enums and patterns used there (numbered from 1)
        self.enums: list[dict[tuple[str, ...], int]] = []
        self.patterns: list[dict[str, int]] = []
        for i in range(self.width):
            at = self._at(i)
            self.enums.append({v: n for n, v in enumerate(
                dict.fromkeys(s.enum for s in at if s.enum is not None), 1)})  # fmt: skip
            self.patterns.append({v: n for n, v in enumerate(
                dict.fromkeys(s.pattern for s in at if s.pattern is not None), 1)})  # fmt: skip
        # events with the same members to extract (or the start of another's), or the
        # same planned names, share a number, which the events' table holds: a branch on
        # that column costs a comparison, where ``pe IN (...)`` costs DuckDB a join
        self.body = BODY_OF[EVENT_RULE]  # the column checks read track calls' properties
        assert all(e.body == self.body for e in self.layouts)
        self.paths: dict[tuple[str, ...], int] = {}  # members to extract -> number
        self.path_of: dict[str, int] = {}  # event -> its number
        for e in sorted(self.layouts, key=lambda e: -len(e.slots)):
            mine = tuple(member_paths(e))
            longer = next((p for p in self.paths if p[: len(mine)] == mine), mine)
            self.path_of[e.event] = self.paths.setdefault(longer, len(self.paths) + 1)
        self.names: dict[tuple[str, ...], int] = {}  # planned names -> number
        for e in self.layouts:
            if e.planned is not None:
                self.names.setdefault(e.planned, len(self.names) + 1)

    def _at(self, i: int) -> list[Slot]:
        return [e.slots[i] for e in self.layouts if i < len(e.slots)]

    def _one_plain_enum(self, i: int) -> bool:
        """Slot ``i`` has one enum, all plain text: compared as JSON text, unparsed."""
        return len(self.enums[i]) == 1 and all(_plain(v) for v in next(iter(self.enums[i])))

    # -- the table of what each event's slots must hold ---------------------------------
    def _columns(self) -> list[tuple[str, str, Any]]:
        """(name, SQL type, value for an event's layout) of every column some event
        needs; a slot an event does not have gets the column's default."""
        cols: list[tuple[str, str, Any]] = [
            ("pe_br", "BOOLEAN", lambda e: e.body_required),
            ("pe_pl", "BOOLEAN", lambda e: e.planned is not None),
            ("pe_plain", "BOOLEAN", lambda e: all(_plain(s.name) for s in e.slots if s.planned)),
        ]
        if len(self.paths) > 1:
            cols.append(("pe_x", "INTEGER", lambda e: self.path_of[e.event]))
        if len(self.names) > 1:
            cols.append(("pe_k", "INTEGER", lambda e: self.names.get(e.planned)))

        def slot(i: int, get: Any) -> Any:
            return lambda e: get(e.slots[i]) if i < len(e.slots) else None

        for i in range(self.width):
            at = self._at(i)
            if any(s.allowed is not None for s in at):
                cols.append((f"f{i}", "UTINYINT", slot(i, _forbidden)))
            if any(s.whole for s in at):
                cols.append((f"w{i}", "BOOLEAN", slot(i, lambda s: s.whole)))
            if any(s.required for s in at):
                cols.append((f"r{i}", "UTINYINT", slot(i, lambda s: REQUIRED * s.required)))
            if any(s.planned for s in at):  # a planned member's length: "name": (+ ",")
                cols.append((f"kl{i}", "INTEGER", slot(
                    i, lambda s: len(s.name.encode()) + 4 if s.planned else None)))  # fmt: skip
            for keyword, (_, _, prefix) in BOUNDS.items():
                if any(k == keyword for s in at for k, _ in s.bounds):
                    cols.append((f"{prefix}{i}", "DOUBLE", slot(
                        i, lambda s, k=keyword: dict(s.bounds).get(k))))  # fmt: skip
            if self._one_plain_enum(i):
                cols.append((f"en{i}", "UTINYINT", slot(i, lambda s: ENUM * (s.enum is not None))))
            elif self.enums[i]:
                numbered = self.enums[i]
                cols.append((f"n{i}", "INTEGER", slot(i, lambda s, n=numbered: n.get(s.enum))))
            if self.patterns[i]:
                patterns = self.patterns[i]
                cols.append((f"g{i}", "INTEGER", slot(i, lambda s, n=patterns: n.get(s.pattern))))
        return cols

    def plan_table(self) -> tuple[str, set[str]]:
        """The events' table (column checked and row checked alike) as a VALUES list,
        and its column names."""
        cols = self._columns()
        names = ["pe_name", "pe", "pe_rows", *(c for c, _, _ in cols)]
        rows = []
        for n, layout in enumerate(self.layouts):
            cells = [sql_text(layout.event), str(n), "FALSE"]
            cells += [_sql_value(get(layout), kind) for _, kind, get in cols]
            rows.append("(" + ", ".join(cells) + ")")
        for event in sorted(self.c.by_rows):
            cells = [sql_text(event), "NULL::INTEGER", "TRUE"]
            cells += [_sql_value(None, kind) for _, kind, _ in cols]
            rows.append("(" + ", ".join(cells) + ")")
        where = ""
        if not rows:  # no event rules: a table with no rows
            rows.append("(" + ", ".join(["NULL::VARCHAR", "NULL::INTEGER", "FALSE", *(
                _sql_value(None, kind) for _, kind, _ in cols)]) + ")")  # fmt: skip
            where = " WHERE FALSE"
        table = f"(SELECT * FROM (VALUES {', '.join(rows)}) AS v({', '.join(names)}){where})"
        return table, set(names)

    # -- the pass ----------------------------------------------------------------------------
    def sql(self, source_sql: str, window_sql: str, timed: bool = True) -> str:
        table, has = self.plan_table()
        track = sql_text(TRACK)
        everything = "TRUE" if self.c.rows_for_all else "FALSE"
        non_track = f"tl IS DISTINCT FROM {track}" if self.others else "FALSE"
        governs = "TRUE" if self.c.governs_track else "FALSE"
        facts = ["coalesce((ord(b) = 123)::UTINYINT, 0) AS obj"]
        codes = [f"(CASE WHEN b IS NULL THEN (CASE WHEN pe_br THEN {BODY_MISSING} ELSE 0 END) "
                 f"WHEN obj = 0 THEN {BODY_TYPE} ELSE 0 END)::UTINYINT AS c0"]  # fmt: skip
        for i in range(self.width):
            at = self._at(i)
            v = f"x[{i + 1}]"
            facts.append(f"{v} AS v{i}")
            facts.append(f"coalesce(list_extract({_KIND_OF_BYTE}, ord({v})), 0) AS k{i}")
            if any(s.bounds or s.whole for s in at):
                facts.append(f"try_cast({v}::VARCHAR AS DOUBLE) AS d{i}")
            if self.patterns[i] or (self.enums[i] and not self._one_plain_enum(i)):
                facts.append(f"{v}->>'$' AS s{i}")
            codes.append(f"{self._code(i, has)} AS c{i + 1}")
        code_names = [f"c{i}" for i in range(self.width + 1)]
        carried = "pe_pl, pe_k, " if "pe_k" in has else "pe_pl, "  # for the unplanned keys
        broken = " OR ".join(f"{c} <> 0" for c in code_names)
        noted = f"route = {UNPLANNED} OR (route = {SQL} AND ({broken} OR keys IS NOT NULL))"
        carry = "ts, mid, " if timed else ""
        kept = f"""route, pe, label, {", ".join(code_names)}, keys,
                 CASE WHEN route = {ROWS} THEN l END AS raw,
                 CASE WHEN route IN ({ROWS}, {BAD}) THEN f END AS file"""
        if timed:
            dated = f"""
          SELECT {kept}, ts, mid,
                 CASE WHEN {noted} THEN substr(ts, 1, 10) END AS day  -- only the broken's"""
            stamps = ", h['timestamp'] AS stamp, h['messageId'] AS id"
            early = f", {_utc_ts('stamp')} AS ts, coalesce(id, '') AS mid"
        else:  # the broken's timestamps and messageIds, from their lines again
            paths = ", ".join(sql_text(member("$", name)) for name in STAMPS)
            dated = f"""
          SELECT *, CASE WHEN late IS NOT NULL THEN substr(ts, 1, 10) END AS day
          FROM (
          SELECT *, CASE WHEN late IS NOT NULL THEN {_utc_ts("late[1]")} END AS ts,
                    CASE WHEN late IS NOT NULL THEN coalesce(late[2], '') END AS mid
          FROM (
          SELECT {kept},
                 CASE WHEN {noted} THEN json_extract_string(l, [{paths}]) END AS late"""
            stamps = early = ""
        closing = "" if timed else "))"
        return f"""
        SELECT route, pe, label, day, {", ".join(code_names)}, keys, raw, file, count(*),
               min(ts) FILTER (WHERE day IS NOT NULL), max(ts) FILTER (WHERE day IS NOT NULL),
               arg_min(mid, ts, 5) FILTER (WHERE day IS NOT NULL)
        FROM ({dated}
          FROM (
            SELECT * REPLACE (
                     -- a body that repeats a key: the row checker reads the last of them,
                     -- json_extract the first, so the row checker takes the message
                     CASE WHEN len(body_keys) <> len(list_distinct(body_keys)) THEN {ROWS}
                          ELSE route END AS route),
                   {self._unplanned(has)} AS keys
            FROM (
              SELECT route, pe, {carried}label, {carry}l, f, b, {", ".join(codes)},
                     {self._body_keys(has)} AS body_keys
              FROM (
                SELECT *, {", ".join(facts)}
                FROM (
                  SELECT *, {self._extraction()} AS x
                  FROM (
                  SELECT *, CASE WHEN route = {SQL} AND pe IS NOT NULL THEN {self._body()}
                                 END AS b
                  FROM (
                    SELECT *, coalesce(nullif(ev, ''), ty, '') AS label,
                           CASE WHEN h IS NULL  -- not JSON, or not an object
                                THEN (CASE WHEN trim(l, {_SPACE}) = '' THEN {BLANK}
                                           WHEN json_valid(l) THEN {ROWS} ELSE {BAD} END)
                                WHEN {everything} OR {non_track} OR ty IS NULL
                                     OR (tl = {track} AND (ev IS NULL OR ev = '' OR pe_rows))
                                THEN {ROWS}
                                WHEN {governs} AND tl = {track} AND pe_name IS NULL
                                THEN {UNPLANNED}
                                ELSE {SQL} END AS route
                    FROM (
                      SELECT f, l, h, ev, ty, lower(ty) AS tl{early}  -- a type in any case
                      FROM (SELECT f, l, h, h['event'] AS ev, h['type'] AS ty{stamps}
                            FROM (SELECT f, l, {self._header(timed)} AS h FROM ({source_sql})))
                      -- what is not a message is listed, whatever the window
                      WHERE h IS NULL OR ({window_sql})
                            OR NOT starts_with(ltrim(l, {_SPACE}), '{{')
                    ) LEFT JOIN {table} ON tl = {track} AND ev = pe_name
                  )
                  )
                )
              )
            )
          )
        ){closing}
        GROUP BY ALL"""

    def _header(self, timed: bool) -> str:
        """The header's strings and the body's JSON, in one parse of the line (NULL:
        not JSON, or JSON null)."""
        names = (*HEADER, *STAMPS) if timed else HEADER
        fields = {**dict.fromkeys(names, "VARCHAR"), self.body: "JSON"}
        return f"try(from_json(l, {sql_text(orjson.dumps(fields).decode())}))"

    def _body(self) -> str:
        """The body as JSON text. A body that is JSON null reads as missing in the
        header (:meth:`_header`), so where it is missing it is looked for again."""
        again = f"json_extract(l, {sql_text(member('$', self.body))})"
        return f"coalesce(h[{sql_text(self.body)}], {again})"

    def _extraction(self) -> str:
        """Each slot's value, in one ``json_extract`` of the body. Events whose members
        are the same (or the start of another's) share one: a branch per event costs
        DuckDB more than the parsing it saves."""
        extract = {n: f"json_extract(b, [{', '.join(sql_text(q) for q in p)}])"
                   for p, n in self.paths.items() if p}  # fmt: skip
        if not extract:
            return "NULL::JSON[]"
        if len(self.paths) == 1:
            return next(iter(extract.values()))
        branches = " ".join(f"WHEN {n} THEN {x}" for n, x in extract.items())
        return f"CASE pe_x {branches} END"

    def _code(self, i: int, has: set[str]) -> str:
        """Slot ``i``'s code: a bit per rule its value breaks (``k``: the value's kind,
        0 when it is missing, as every member of a body that is not an object is). With
        more than one rule the bits are added up only where one of them is broken: most
        values break none, and the arithmetic cost more than the comparisons."""
        k, d, v = f"k{i}", f"d{i}", f"v{i}"
        rules: list[tuple[str, str]] = []  # (broken?, its bit) for each rule the slot has
        if f"f{i}" in has:
            whole = f" OR coalesce(w{i} AND {d} <> floor({d}), FALSE)" if f"w{i}" in has else ""
            wrong = f"(({k} & f{i}) <> 0{whole})"
            rules.append((wrong, f"{wrong}::UTINYINT"))
        if f"r{i}" in has:  # only in an object
            absent = f"(r{i} <> 0 AND obj = 1 AND {k} = 0)"
            rules.append((absent, f"r{i} * obj * ({k} = 0)::UTINYINT"))
        for bit, breaks, prefix in BOUNDS.values():
            if f"{prefix}{i}" in has:
                out = f"({d} {breaks} {prefix}{i})"
                rules.append((out, f"coalesce({out}::UTINYINT, 0) * {bit}"))
        if f"en{i}" in has:
            (values,) = self.enums[i]
            quoted = ", ".join(sql_text(f'"{value}"') for value in values) or "NULL"
            unlisted = f"({v}::VARCHAR NOT IN ({quoted}))"
            rules.append((f"(en{i} <> 0 AND {unlisted})",
                          f"en{i} * coalesce({unlisted}::UTINYINT, 0)"))  # fmt: skip
        elif self.enums[i]:
            listed = " ".join(
                f"WHEN {n} THEN s{i} IN ({', '.join(sql_text(e) for e in values) or 'NULL'})"
                for values, n in self.enums[i].items()
            )
            listed_ok = f"coalesce({k} = {STRING} AND (CASE n{i} {listed} END), FALSE)"
            unlisted = f"(n{i} IS NOT NULL AND {k} <> 0 AND NOT {listed_ok})"
            rules.append((unlisted, f"(CASE WHEN {unlisted} THEN {ENUM} ELSE 0 END)"))
        if self.patterns[i]:
            matched = " ".join(f"WHEN {n} THEN regexp_matches(s{i}, {sql_text(p)})"
                               for p, n in self.patterns[i].items())  # fmt: skip
            unmatched = f"(g{i} IS NOT NULL AND {k} = {STRING} AND NOT (CASE g{i} {matched} END))"
            rules.append((unmatched, f"(CASE WHEN {unmatched} THEN {PATTERN} ELSE 0 END)"))
        if not rules:
            return "0"
        bits = " + ".join(bit for _, bit in rules)
        if len(rules) == 1:
            return f"coalesce({bits}, 0)"  # NULL where the event is not in the plan
        # (never NULL: a rule is broken only where the event's row joined)
        return f"CASE WHEN {' OR '.join(w for w, _ in rules)} THEN {bits} ELSE 0 END"

    def _body_keys(self, has: set[str]) -> str:
        """The body's keys, listed only where one may be unplanned or repeated: where
        the body is longer than its planned members written out (``{"name":value,...}``,
        as json_extract writes it). Those are few; the rest never build a list. Events
        with a name JSON would escape are always listed."""
        if not any(e.planned is not None for e in self.layouts):
            return "NULL::VARCHAR[]"
        members = " + ".join(f"coalesce(kl{i} + strlen(v{i}), 0)"
                             for i in range(self.width) if f"kl{i}" in has) or "0"  # fmt: skip
        longer = f"strlen(b) > greatest(2, 1 + {members})"
        return f"CASE WHEN pe_pl AND obj = 1 AND (NOT pe_plain OR {longer}) THEN json_keys(b) END"

    def _unplanned(self, has: set[str]) -> str:
        """The listed keys that the event does not plan (NULL when there are none)."""
        if not self.names:
            return "NULL::VARCHAR[]"
        filters = {n: f"list_filter(body_keys, lambda k: NOT list_contains({_text_list(names)}, k))"
                   for names, n in self.names.items()}  # fmt: skip
        if len(filters) == 1:
            return f"nullif(CASE WHEN pe_pl THEN {filters[1]} END, []::VARCHAR[])"
        branches = " ".join(f"WHEN {n} THEN {x}" for n, x in filters.items())
        return f"nullif(CASE pe_k {branches} END, []::VARCHAR[])"


def _utc_ts(stamp: str) -> str:
    """A timestamp in the wire's UTC form (:func:`.audit_report.utc_stamp`: the same
    forms the same way; the connection reads times without a zone as UTC). Those
    already in it (``T`` and ``Z``: Segment's exports) are left alone before the
    pattern is tried: a CASE tests it only on the rows the cheap test leaves."""
    utc = f"strftime(timezone('UTC', try_cast({stamp} AS TIMESTAMPTZ)), '%Y-%m-%dT%H:%M:%S.%gZ')"
    return (f"coalesce(CASE WHEN NOT (substr({stamp}, 11, 1) = 'T' AND suffix({stamp}, 'Z')) "
            f"AND regexp_full_match({stamp}, {sql_text(STAMP)}) "
            f"THEN coalesce({utc}, {stamp}) ELSE {stamp} END, '')")  # fmt: skip


def _text_list(texts: tuple[str, ...]) -> str:
    return f"[{', '.join(sql_text(t) for t in texts)}]::VARCHAR[]"


def _forbidden(slot: Slot) -> int:
    """The kinds a slot's type rules out (none without a type rule)."""
    return ALL_KINDS & ~slot.allowed if slot.allowed is not None else 0


def _sql_value(value: Any, kind: str) -> str:
    """A cell of the events' table; a slot an event lacks breaks no rule."""
    if value is None:
        return {"UTINYINT": "0::UTINYINT", "BOOLEAN": "FALSE"}.get(kind, f"NULL::{kind}")
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        return f"{value!r}::DOUBLE"
    return f"{value}::{kind}"
