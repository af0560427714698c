"""Pure helpers of the benchmark: statistics, number formatting and the Markdown table.

Nothing here measures or touches I/O, so it is unit-tested without Spark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Comparison = Literal[">=", "<="]


def median(values: Sequence[float]) -> float:
    """The median (mean of the middle two for an even count); ``nan`` for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks (NumPy's default)."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; ``nan`` when either is missing or the denominator is 0."""
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def meets(value: float, target: float, comparison: Comparison) -> bool | None:
    """Whether ``value`` meets ``target``; ``None`` when there is no value to judge."""
    if math.isnan(value):
        return None
    return value >= target if comparison == ">=" else value <= target


def fmt_rate(per_second: float) -> str:
    """``123,456/s``."""
    return "n/a" if math.isnan(per_second) else f"{per_second:,.0f}/s"


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def fmt_seconds(seconds: float) -> str:
    """``850 ms`` below a second, ``12.3 s`` above."""
    if math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def fmt_bytes(n: float) -> str:
    """Binary units: ``512 B``, ``1.5 KiB``, ``2.25 GiB``."""
    if math.isnan(n):
        return "n/a"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_runs(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """Every repeat, in run order, so a reader sees the spread behind a median."""
    return ", ".join(fmt.format(v) for v in values)


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    section: str
    measure: str
    result: str
    target: str = ""
    notes: str = ""
    ok: bool | None = None

    @property
    def status(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.ok]


def target_row(
    section: str, measure: str, value: float, *, target: float, comparison: Comparison, notes: str = ""
) -> Row:
    """A ratio row judged against its target."""
    return Row(
        section,
        measure,
        fmt_ratio(value),
        f"{comparison} {target:g}",
        notes,
        meets(value, target, comparison),
    )


HEADERS = ("Section", "Measure", "Result", "Target", "Status", "Notes")


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Row]) -> str:
    """A GitHub Markdown table, columns padded so it also reads well as plain text."""
    cells = [list(HEADERS)] + [
        [_escape(c) for c in (r.section, r.measure, r.result, r.target, r.status, r.notes)] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])
