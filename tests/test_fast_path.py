"""The fast path of backfills gives exactly the messages the careful path gives.

Tables (pandas, Polars, Arrow) and Segment dicts with every kind of awkward value
(NaN, infinity, None, blank and integer ids, integers beyond 64 bits, nested values,
datetimes in and out of UTC) go through both paths; each row must come out the same
message, or be refused with the same error.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segment_magics.client.builders import MessageBuilder, make_builder, message_items
from segment_magics.client.bulk_options import BulkOptions
from segment_magics.messages import build_from_segment_dict
from segment_magics.messages.fast_build import fast_segment_dict
from segment_magics.messages.frames import table_chunks
from segment_magics.messages.ids import RowIds

UTC = dt.timezone.utc
ids = st.one_of(st.none(), st.sampled_from(["u1", "u2", " ", ""]), st.integers(0, 10**6))
numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.5, 19.99, -0.0, 1e300]),
)
texts = st.one_of(st.none(), st.text(max_size=6))
nested = st.one_of(
    st.none(),
    st.lists(
        st.fixed_dictionaries({"p": st.floats(allow_nan=True, width=64), "q": st.text(max_size=3)}),
        max_size=2,
    ),
)
stamps = st.one_of(
    st.none(),
    st.datetimes(
        min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)


def as_json(built: Any) -> Any:
    """A message without what differs by design: a dated row's 'now' and key order."""
    if isinstance(built, Exception):
        return ("refused", str(built))
    message = orjson.loads(built.encoded)
    if built.dated:
        message.pop("timestamp")
    return message


def careful_outcomes(source: Any, options: BulkOptions) -> list[Any]:
    mapping = options.column_map()
    build, _ = make_builder(options, "run", mapping)
    assert isinstance(build, MessageBuilder)
    chunks, _, _ = table_chunks(source, lambda names: mapping.cached_layout(names)[1])
    out = []
    for chunk in chunks:
        for row in range(chunk.count):
            try:
                out.append(build.careful(mapping.chunk_row(chunk, row), chunk.start + row, None))
            except Exception as exc:
                out.append(exc)
    return out


def fast_outcomes(source: Any, options: BulkOptions) -> list[Any]:
    mapping = options.column_map()
    build, _ = make_builder(options, "run", mapping)
    items, _, _ = message_items(source, build, mapping)
    return [built for _, _, built in items]


def same(source: Any, options: BulkOptions) -> None:
    fast = [as_json(b) for b in fast_outcomes(source, options)]
    careful = [as_json(b) for b in careful_outcomes(source, options)]
    assert fast == careful


records = st.lists(
    st.fixed_dictionaries(
        {"userId": ids, "total": numbers, "coupon": texts, "products": nested, "when": stamps}
    ),
    min_size=1,
    max_size=25,
)
OPTIONS = BulkOptions(kind="track", event="Order Completed", columns={"timestamp": "when"},
                      run_id="run", defaults={"context": {"ip": "8.8.8.8"}})  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_pandas_rows_come_out_the_same_both_ways(rows):
    frame = pd.DataFrame(rows)
    frame["when"] = pd.to_datetime(frame["when"], utc=True)
    same(frame, OPTIONS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_polars_and_arrow_rows_come_out_the_same_both_ways(rows):
    clean = [{**r, "userId": None if isinstance(r["userId"], int) else r["userId"]} for r in rows]
    table = pa.Table.from_pylist(
        clean,
        schema=pa.schema([
            ("userId", pa.string()), ("total", pa.float64()), ("coupon", pa.string()),
            ("products", pa.list_(pa.struct([("p", pa.float64()), ("q", pa.string())]))),
            ("when", pa.timestamp("us", tz="UTC")),
        ]),
    )  # fmt: skip
    same(table, OPTIONS)
    same(pl.from_arrow(table), OPTIONS)


def test_awkward_values_take_the_careful_path_and_say_why():
    frame = pd.DataFrame(
        {
            "userId": ["a", " ", None, 7, "b"],
            "total": [1.0, 2.0, 3.0, math.inf, 5.0],
            "big": [1, 2, 3, 4, 2**70],
        }
    )
    outcomes = fast_outcomes(frame, BulkOptions(kind="track", event="E", run_id="r"))
    shown = [as_json(o) for o in outcomes]
    assert shown[0]["userId"] == "a" and shown[3]["userId"] == "7"
    assert shown[1][0] == "refused" and "userId" in shown[1][1]  # blank id, nothing else
    assert shown[2][0] == "refused"
    assert shown[3]["properties"]["total"] is None  # infinity: null, with a warning
    assert shown[4][0] == "refused" and "64 bits" in shown[4][1]


decimals = st.one_of(
    st.none(),
    st.decimals(min_value=-(10**16), max_value=10**16, places=4, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(decimals, min_size=1, max_size=20))
def test_an_arrow_decimal_column_is_sent_as_python_sends_a_decimal(values):
    """Spark's arithmetic on literals gives decimal columns: the table's rows (read from
    Arrow) carry the same numbers as the same rows holding Decimal objects, which only
    the careful path reads."""
    rows = [{"userId": "u", "total": v} for v in values]
    table = pa.Table.from_pylist(rows, schema=pa.schema([("userId", pa.string()),
                                                         ("total", pa.decimal128(22, 4))]))  # fmt: skip
    options = BulkOptions(kind="track", event="E", run_id="run")
    careful = MessageBuilder.careful
    calls = []

    def counted(self: MessageBuilder, *args: Any) -> Any:
        calls.append(args)
        return careful(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MessageBuilder, "careful", counted)
        from_arrow = [orjson.dumps(as_json(b)) for b in fast_outcomes(table, options)]
    assert calls == []  # the fast path vouched for every row
    assert from_arrow == [orjson.dumps(as_json(b)) for b in fast_outcomes(rows, options)]


segment_dicts = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["track", "identify", "alias", "page", "nope"]),
         "event": texts, "userId": ids, "previousId": ids,
         "properties": st.one_of(st.none(), st.dictionaries(st.text(max_size=3), numbers, max_size=3)),
         "timestamp": stamps},
        optional={"messageId": st.sampled_from(["m1", "", "x" * 101]), "sentAt": st.just("2024")},
    ),
    min_size=1, max_size=10,
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(segment_dicts)
def test_segment_dicts_come_out_the_same_both_ways(rows):
    row_ids = RowIds("run")
    for position, row in enumerate(rows):
        fast = fast_segment_dict(row, position, row_ids, "2024-06-01T00:00:00.000Z")
        try:
            args_row = dict(row)
            if not args_row.get("messageId"):
                args_row["messageId"] = row_ids(position)
            careful: Any = build_from_segment_dict(args_row, copy=False,
                                                   now="2024-06-01T00:00:00.000Z")  # fmt: skip
        except Exception as exc:
            careful = exc
        if fast is not None:  # what the fast path vouches for, the careful path builds
            assert not isinstance(careful, Exception), careful
            assert orjson.loads(fast.encoded) == orjson.loads(careful.encoded)
            assert fast.warnings == careful.warnings  # (NaN and infinity are named)


@pytest.mark.parametrize("kind", ["list", "pandas", "polars", "arrow"])
def test_a_backfill_sends_the_same_whatever_the_table(collector, kind):
    from segment_magics import SegmentClient

    rows = [{"userId": f"u{i}", "total": float(i), "coupon": None if i % 2 else "X",
             "products": [{"p": 1.5, "q": "a"}],
             "timestamp": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i)}
            for i in range(20)]  # fmt: skip
    source: Any = {
        "list": rows,
        "pandas": pd.DataFrame(rows),
        "polars": pl.DataFrame(rows),
        "arrow": pa.Table.from_pylist(rows),
    }[kind]
    client = SegmentClient(endpoint=collector.url)
    result = client.send_many(source, "track", event="E", run_id="same", progress=False)
    assert result.ok and result.accepted == 20
    events = {e["userId"]: e for e in collector.events()}
    assert events["u3"]["properties"] == {"total": 3.0, "products": [{"p": 1.5, "q": "a"}]}
    assert events["u4"]["properties"]["coupon"] == "X"
    assert events["u4"]["timestamp"] == "2024-01-01T00:00:04.000Z"
    assert events["u4"]["messageId"] == RowIds("same")(4)


def test_an_arrow_tables_chunks_carry_only_their_own_nested_values():
    """A slice of a list column still holds the whole column's children; converted
    chunk by chunk, a table cost time in the square of its rows. Each chunk now has
    its own nested values, and the messages are the same across chunk borders."""
    from segment_magics.messages.arrow_frames import arrow_slice
    from segment_magics.messages.chunks import CHUNK_ROWS

    rows = [{"userId": f"u{i}", "total": float(i),
             "products": [{"p": 0.5, "q": "x" * (i % 3)}] * (1 + i % 3) if i % 5 else None,
             "when": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i)}
            for i in range(2 * CHUNK_ROWS + 7)]  # fmt: skip
    cut = CHUNK_ROWS - 3  # record batches whose border is not a chunk's
    table = pa.concat_tables([pa.Table.from_pylist(rows[:cut]), pa.Table.from_pylist(rows[cut:])])
    part = arrow_slice(table, CHUNK_ROWS - 5, CHUNK_ROWS)
    own = sum(len(r["products"] or ()) for r in rows[CHUNK_ROWS - 5 : 2 * CHUNK_ROWS - 5])
    assert [len(c.values) for c in part.column("products").chunks] == [own]
    assert part.to_pylist() == table.slice(CHUNK_ROWS - 5, CHUNK_ROWS).to_pylist()
    batch = arrow_slice(pa.Table.from_pylist(rows).to_batches()[0], 10, 5)
    assert batch.to_pylist() == rows[10:15]
    for source in (table, pl.from_arrow(table)):
        fast = [as_json(b) for b in fast_outcomes(source, OPTIONS)]
        assert fast == [as_json(b) for b in careful_outcomes(source, OPTIONS)]
        for i in (0, CHUNK_ROWS - 1, CHUNK_ROWS, 2 * CHUNK_ROWS + 6):
            want = {
                k: v for k, v in rows[i].items() if k in ("total", "products") and v is not None
            }
            assert fast[i]["properties"] == want


def _period_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"userId": ["a", "b"], "p": pd.period_range("2024-01", periods=2, freq="M")}
    )


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_period_frame, id="pandas period"),
        pytest.param(lambda: pa.Table.from_pandas(_period_frame()), id="arrow from pandas period"),
        pytest.param(
            lambda: pd.DataFrame({"userId": ["a", "b"], "p": pd.interval_range(0, 2)}),
            id="pandas interval",
        ),
        pytest.param(
            lambda: pl.DataFrame(
                {"userId": ["a", "b"], "p": pl.Series([2**100, 5], dtype=pl.Int128)}
            ),
            id="polars int128",
        ),
    ],
)
def test_a_table_says_of_a_value_what_a_list_of_dicts_says(collector, make):
    """A column whose storage is not its meaning (a period's ordinal, an interval's
    pair) or whose JSON no parser reads as a number (beyond 64 bits) is named on its
    rows, as the same values in a list of dicts are; the rest goes out as it would."""
    from segment_magics import SegmentClient

    table = make()
    if isinstance(table, pa.Table):  # its Python values are pandas' objects
        rows = table.to_pandas().to_dict("records")
    else:
        rows = table.to_dict("records") if isinstance(table, pd.DataFrame) else table.to_dicts()
    client = SegmentClient(endpoint=collector.url)
    said = {}
    for name, source in (("table", table), ("list", rows)):
        result = client.send_many(source, "track", event=name, progress=False)
        said[name] = [(p.row, p.reason) for p in result.problems]
    assert said["table"] == said["list"] and said["table"]
    assert "properties.p" in said["table"][0][1]
    sent = {e["event"]: e["properties"] for e in collector.events()}
    assert sent.get("table") == sent.get("list")


# -- every kind of table builds what a list of dicts builds ----------------------------------
COLUMN_VALUES = {
    "text": st.one_of(st.none(), st.sampled_from(["x", "ü", "a b", "2024-01-01"])),
    "int": st.integers(-1000, 1000),
    "float": st.one_of(st.none(), st.sampled_from([1.5, -2.25, 1e20, 0.5])),
    "bool": st.booleans(),
    "time": st.datetimes(
        min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    "list": st.lists(st.integers(0, 9), max_size=2),
    "object": st.fixed_dictionaries({"k": st.integers(0, 9)}),
}
NAMES = ["userId", "anonymousId", "event", "name", "groupId", "previousId", "a", "b"]


@st.composite
def tables(draw: Any) -> tuple[str, list[dict[str, Any]]]:
    kind = draw(st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]))
    n = draw(st.integers(1, 4))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    columns = {"userId": [f"u{i}" for i in range(n)]}
    for name in names:
        values = COLUMN_VALUES[draw(st.sampled_from(sorted(COLUMN_VALUES)))]
        columns[name] = draw(st.lists(values, min_size=n, max_size=n))
    if draw(st.booleans()):
        columns["timestamp"] = draw(st.lists(COLUMN_VALUES["time"], min_size=n, max_size=n))
    return kind, [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(),
                                                                      strict=True)]  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_every_kind_of_table_builds_what_a_list_of_dicts_builds(drawn):
    """The same rows as a list of dicts, pandas, Polars and Arrow: the same messages or
    the same refusals (a fuzz of this found a table of properties only read as no rows,
    alias and default properties raising, and a datetime sent as a page's name)."""
    kind, rows = drawn
    try:
        frame = pl.DataFrame(rows)
    except Exception:  # a column Polars cannot type (a mix): pandas and lists only
        frame = None
    options = BulkOptions(kind=kind, event="E" if kind == "track" else None, run_id="run",
                          defaults={"properties": {"d": 1}} if kind == "track" else {})  # fmt: skip
    expected = [as_json(b) for b in fast_outcomes(rows, options)]
    sources = [pd.DataFrame(rows)] + ([frame, frame.to_arrow()] if frame is not None else [])
    for source in sources:
        assert [as_json(b) for b in fast_outcomes(source, options)] == expected, type(source)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_segment_dict_with_nan_or_infinity_takes_the_careful_path(value):
    """orjson writes NaN and infinity as null, silently: the careful path writes null
    too, but says so. A null elsewhere in the message changes nothing."""
    row = {"type": "track", "event": "E", "userId": "u", "messageId": "m",
           "properties": {"note": "null", "empty": None, "total": value}}  # fmt: skip
    assert fast_segment_dict(row, 0, RowIds("run"), "2024-06-01T00:00:00.000Z") is None
    careful = build_from_segment_dict(dict(row), now="2024-06-01T00:00:00.000Z")
    assert orjson.loads(careful.encoded)["properties"]["total"] is None
    assert any("total" in warning for warning in careful.warnings)
    plain = {**row, "properties": {"note": "null", "empty": None, "total": 1.5}}
    built = fast_segment_dict(plain, 0, RowIds("run"), "2024-06-01T00:00:00.000Z")
    assert built is not None and orjson.loads(built.encoded)["properties"]["empty"] is None
