"""How a partition value is spelled in a Hive path and in the Glue catalog.

The lake writer (jobs/) and the catalog (glue/) must agree on this spelling byte for byte, so it
lives here, below both: neither imports the other.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote


def format_value(value: object) -> str:
    """A partition value as Hive paths and Glue spell it (dates as YYYY-MM-DD)."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# The characters Spark's ExternalCatalogUtils.escapePathName escapes (on non-Windows hosts), so paths
# we build match the ones Spark wrote and Hive/Athena parse.
_ESCAPE = frozenset([chr(c) for c in range(0x01, 0x20)] + list("\"#%'*/:=?\\\x7f{[]^"))


def escape_path_name(text: str) -> str:
    return "".join(f"%{ord(ch):02X}" if ch in _ESCAPE else ch for ch in text)


def partition_values(partition_dir: str) -> dict[str, str]:
    """``event_date=2026-11-23/k=b%2Fc`` -> ``{"event_date": "2026-11-23", "k": "b/c"}``."""
    values: dict[str, str] = {}
    if not partition_dir:
        return values
    for part in partition_dir.split("/"):
        col, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"not a Hive partition directory component: {part!r} in {partition_dir!r}")
        values[unquote(col)] = unquote(value)
    return values


def partition_dir(values: dict[str, object], columns: tuple[str, ...] | list[str]) -> str:
    """The inverse of :func:`partition_values`, escaping like Spark (``/`` -> ``%2F``)."""
    return "/".join(f"{escape_path_name(col)}={escape_path_name(format_value(values[col]))}" for col in columns)
