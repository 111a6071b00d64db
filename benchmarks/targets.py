"""The table every benchmark ends with: each target, what was measured, whether it was met.

``make bench`` reads the exit code; a person reads this table."""

from __future__ import annotations

from collections.abc import Sequence

Check = tuple[str, str, bool]  # what the target says, what was measured, met


def report(checks: Sequence[Check]) -> bool:
    """Print the targets as a Markdown table; True when every one was met."""
    print("\n| target | measured | met |\n| --- | --- | --- |")
    for label, value, met in checks:
        print(f"| {label} | {value} | {'yes' if met else 'NO'} |")
    return all(met for *_, met in checks)
