"""The benchmark's data: realistic "Order Completed" events (about 10 properties,
a products list, a context), as rows for every contender."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

CONTEXT = {
    "ip": "8.8.8.8",
    "locale": "en-US",
    "timezone": "Europe/Amsterdam",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
    "campaign": {"name": "Autumn Sale", "source": "newsletter", "medium": "email"},
}
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def order(i: int) -> dict[str, Any]:
    """One order as a flat row: ids, timestamp and the properties."""
    quantity = 1 + i % 3
    return {
        "userId": f"user_{i % 20_000}",
        "timestamp": START + dt.timedelta(seconds=i),
        "checkout_id": f"chk_{i:08d}",
        "order_id": f"ord_{i:08d}",
        "affiliation": "Online Store",
        "total": round(19.99 * quantity + 4.5, 2),
        "revenue": round(19.99 * quantity, 2),
        "shipping": 4.5,
        "tax": round(1.6 * quantity, 2),
        "discount": 0.0,
        "coupon": "AUTUMN" if i % 7 == 0 else None,
        "currency": "USD",
        "products": [
            {"product_id": f"prod_{i % 500}", "sku": f"sku-{i % 500:05d}", "name": "Board Game",
             "category": "Games", "price": 19.99, "quantity": quantity},
            {"product_id": "prod_gift", "sku": "sku-gift", "name": "Gift Wrap",
             "category": "Extras", "price": 0.0, "quantity": 1},
        ],
    }  # fmt: skip


PROPERTY_KEYS = [k for k in order(0) if k not in {"userId", "timestamp"}]


def rows(n: int) -> Iterator[dict[str, Any]]:
    return (order(i) for i in range(n))


def segment_messages(n: int) -> Iterator[dict[str, Any]]:
    """The same orders as Segment track dicts (what send_many takes without a kind)."""
    for row in rows(n):
        props = {k: row[k] for k in PROPERTY_KEYS if row[k] is not None}
        yield {
            "type": "track",
            "event": "Order Completed",
            "userId": row["userId"],
            "timestamp": row["timestamp"],
            "properties": props,
            "context": CONTEXT,
        }
