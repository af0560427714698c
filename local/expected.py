"""What the lake must store for a sent value under its declared type, computed without Spark.

The exactness oracle compares these with what DuckDB reads back, so a cast bug, a nulled column,
a truncated decimal or a wrong partition shows up as a named difference. Values are normalised to
plain Python (``Decimal``, aware UTC ``datetime``, ``date``, lists, dicts) on both sides.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.model import Partition
from schemas.types import DataType


def expected_value(value: Any, dtype: DataType) -> Any:
    """``value`` (as ``json.loads`` gives it) after the declared cast."""
    if value is None:
        return None
    kind = dtype.kind
    if kind == "decimal":
        quantum = Decimal(1).scaleb(-(dtype.scale or 0))
        return Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)  # as Spark casts
    if kind == "timestamp":
        # Spark keeps microseconds; Python's parser takes at most six fractional digits too.
        text = re.sub(r"(\.\d{6})\d+", r"\1", str(value).replace("Z", "+00:00"))
        return _utc(dt.datetime.fromisoformat(text))
    if kind == "date":
        return dt.date.fromisoformat(str(value))
    if kind in ("int", "long"):
        return int(value)
    if kind == "double":
        return float(value)
    if kind == "array":
        assert dtype.element is not None
        return [expected_value(v, dtype.element) for v in value]
    if kind == "struct":
        return {f.name: expected_value(value.get(f.name), f.type) for f in dtype.fields}
    if kind == "map":
        assert dtype.key is not None and dtype.value is not None
        return {expected_value(k, dtype.key): expected_value(v, dtype.value) for k, v in value.items()}
    return value


def stored_value(value: Any, dtype: DataType) -> Any:
    """A value as DuckDB returns it, in the same normal form as :func:`expected_value`."""
    if value is None:
        return None
    kind = dtype.kind
    if kind == "timestamp":
        return _utc(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "array":
        assert dtype.element is not None
        return [stored_value(v, dtype.element) for v in value]
    if kind == "struct":
        return {f.name: stored_value(value.get(f.name), f.type) for f in dtype.fields}
    if kind == "map":
        assert dtype.key is not None and dtype.value is not None
        pairs = zip(value["key"], value["value"], strict=True) if set(value) == {"key", "value"} else value.items()
        return {stored_value(k, dtype.key): stored_value(v, dtype.value) for k, v in pairs}
    return value


def expected_partition(part: Partition, source_value: Any) -> str:
    """The partition value a row with this (already cast) source value belongs in, as text."""
    if part.transform == "date":
        return (source_value.date() if isinstance(source_value, dt.datetime) else source_value).isoformat()
    if part.transform == "hour":
        return source_value.strftime("%Y-%m-%d-%H")
    return str(source_value)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
