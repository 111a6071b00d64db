"""DuckDB for an audit: a connection set up the same way for every pass, and Ctrl-C as
a ``KeyboardInterrupt`` wherever it lands, as in the rest of Python. DuckDB says "Query
interrupted" with a ``RuntimeError``, an ``InterruptException`` (which ``except
duckdb.Error`` would take for a file it cannot read), or, when Python code it called was
interrupted, an error that names the ``KeyboardInterrupt``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .audit_feed import KEEP_JOIN_SIDES

MEMORY_LIMIT = "700MB"  # DuckDB's budget: an audit streams, whatever the export's size
# These optimizers pull each pass's columns up into the expressions that read them, so
# the extraction and each value's facts are repeated in every check, and DuckDB's common
# subexpression search then takes seconds to find them again: measured on the ecommerce
# template, planning one pass took 9 s with them and 0.04 s without. Nothing in a pass
# gains from them (read_csv cannot skip lines; the aggregate is the last step).
KEEP_SEPARATE = ("filter_pushdown", "partial_aggregate_pushdown", KEEP_JOIN_SIDES)


@contextmanager
def ctrl_c() -> Iterator[None]:
    """DuckDB's word for Ctrl-C, turned into Python's."""
    import duckdb

    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except RuntimeError as exc:
        if "Query interrupted" in str(exc):
            raise KeyboardInterrupt from None
        raise
    except duckdb.Error as exc:  # Ctrl-C in Python code DuckDB called (an Arrow stream's)
        if "KeyboardInterrupt" in str(exc):  # (not "interrupted": a file's name may say it)
            raise KeyboardInterrupt from None
        raise


def connect(**config: Any) -> Any:
    """A connection in UTC (Parquet's timestamps are written, and read, alike anywhere),
    without the optimizers above."""
    import duckdb

    with ctrl_c():
        con = duckdb.connect(config=config)
        con.execute("SET TimeZone = 'UTC'")  # (ICU is built in, but not yet at connect)
        known = {name for (name,) in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
        off = ",".join(name for name in KEEP_SEPARATE if name in known)
        if off:
            con.execute(f"SET disabled_optimizers = '{off}'")
    return con


def fetch(con: Any, query: str) -> list[tuple[Any, ...]]:
    """A query's rows."""
    with ctrl_c():
        return con.execute(query).fetchall()
