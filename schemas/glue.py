"""Glue Data Catalog inputs (``TableInput``, ``PartitionInput``) built from a table declaration.

Build the plain dict here, submit it elsewhere (``glue.create_table(DatabaseName=..., TableInput=...)``).
Column types are Hive type strings, which is what Glue stores and Athena and Spectrum read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from schemas.model import Column, Partition, Table
from schemas.partitions import partition_dir
from schemas.types import DataType
from streamlake.errors import ConfigError, SchemaError

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
SCHEMA_HASH_KEY = "streamlake.schema_hash"
SCHEMA_VERSION_KEY = "streamlake.schema_version"

_HIVE_PRIMITIVES = {
    "string": "string",
    "int": "int",
    "long": "bigint",
    "double": "double",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "date": "date",
}
# Glue limits (botocore model): column comments 255 chars without line breaks, descriptions 2048.
_COMMENT_MAX = 255
_DESCRIPTION_MAX = 2048
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s'\"\\`]+$")
_PARTITION_VALUE = {
    "date": (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d", "YYYY-MM-DD"),
    "hour": (re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}$"), "%Y-%m-%d-%H", "YYYY-MM-DD-HH"),
}


def hive_type(dt: DataType, *, quote_fields: bool = False) -> str:
    """The Hive type string of ``dt`` (``bigint``, ``decimal(12,2)``, ``array<struct<a:int>>``).

    ``quote_fields`` backticks struct field names, for DDL where a field may be a reserved word.
    """
    if dt.kind in _HIVE_PRIMITIVES:
        return _HIVE_PRIMITIVES[dt.kind]
    if dt.kind == "decimal":
        return f"decimal({dt.precision},{dt.scale})"
    if dt.kind == "array":
        assert dt.element is not None
        return f"array<{hive_type(dt.element, quote_fields=quote_fields)}>"
    if dt.kind == "map":
        assert dt.key is not None and dt.value is not None
        return f"map<{hive_type(dt.key)},{hive_type(dt.value, quote_fields=quote_fields)}>"
    if dt.kind == "struct":
        fields = (
            f"{f'`{f.name}`' if quote_fields else f.name}:{hive_type(f.type, quote_fields=quote_fields)}"
            for f in dt.fields
        )
        return "struct<" + ",".join(fields) + ">"
    raise AssertionError(f"unhandled type kind {dt.kind!r}")  # parse_type admits no other kind


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace (catalog comments may not contain line breaks) and cut to ``limit``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def folder_uri(location: str) -> str:
    """``location`` checked (a URI with a scheme, no quotes or spaces) and ending in ``/``."""
    if not isinstance(location, str) or not _URI.match(location):
        raise ConfigError("location", location, "a URI such as s3://bucket/prefix/ without quotes or spaces")
    return location if location.endswith("/") else location + "/"


def partition_comment(part: Partition) -> str:
    """How a partition column is derived, e.g. ``date(event_time)``; it lives in the path, not the files."""
    return f"{part.transform}({part.source}), stored as the path segment {part.name}=<value>"


def _canonical(dt: DataType) -> str:
    # str(dt) plus nested nullability, which str() leaves out but Parquet stores.
    if dt.kind == "struct":
        inner = ",".join(f"{f.name}:{_canonical(f.type)}{'' if f.nullable else ' not null'}" for f in dt.fields)
        return f"struct<{inner}>"
    if dt.kind == "array":
        assert dt.element is not None
        return f"array<{_canonical(dt.element)}>"
    if dt.kind == "map":
        assert dt.key is not None and dt.value is not None
        return f"map<{_canonical(dt.key)},{_canonical(dt.value)}>"
    return str(dt)


def schema_hash(table: Table) -> str:
    """sha256 (hex) of the stored shape: storage columns (name, type, nullability) and partitions.

    Descriptions, rules and the version number do not count, so the hash changes exactly when
    files or paths written under the new declaration would differ from the old ones.
    """
    shape = {
        "columns": [[c.name, _canonical(c.type), c.nullable] for c in table.storage_columns],
        "partitions": [[p.name, str(p.type), p.source, p.transform] for p in table.partitions],
    }
    payload = json.dumps(shape, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def table_parameters(table: Table) -> dict[str, str]:
    """Table properties shared by the Glue table and the Athena DDL."""
    return {
        "classification": "parquet",
        SCHEMA_HASH_KEY: schema_hash(table),
        SCHEMA_VERSION_KEY: str(table.version),
    }


def _column(col: Column) -> dict[str, str]:
    out = {"Name": col.name, "Type": hive_type(col.type)}
    if col.description:
        out["Comment"] = one_line(col.description, _COMMENT_MAX)
    return out


def storage_descriptor(table: Table, *, location: str) -> dict[str, Any]:
    """The Parquet StorageDescriptor: storage columns (declared, then lineage) at ``location``."""
    return {
        "Columns": [_column(c) for c in table.storage_columns],
        "Location": folder_uri(location),
        "InputFormat": PARQUET_INPUT_FORMAT,
        "OutputFormat": PARQUET_OUTPUT_FORMAT,
        "Compressed": False,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        "StoredAsSubDirectories": False,
    }


def table_input(
    table: Table,
    *,
    location: str,
    description: str | None = None,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Glue ``TableInput`` for an external Parquet table at ``location``.

    ``parameters`` are merged over the defaults (classification, schema hash and version), e.g.
    Athena projection properties from :func:`schemas.ddl.projection_properties`.
    """
    text = table.description if description is None else description
    out: dict[str, Any] = {"Name": table.name}
    if text:
        out["Description"] = text[:_DESCRIPTION_MAX]
    out["TableType"] = "EXTERNAL_TABLE"
    out["Parameters"] = {"EXTERNAL": "TRUE", **table_parameters(table), **(parameters or {})}
    out["PartitionKeys"] = [
        {"Name": p.name, "Type": hive_type(p.type), "Comment": one_line(partition_comment(p), _COMMENT_MAX)}
        for p in table.partitions
    ]
    out["StorageDescriptor"] = storage_descriptor(table, location=location)
    return out


def check_partition_values(table: Table, values: Sequence[str]) -> list[str]:
    """``values`` as a list, one per partition column, each in the form its transform produces."""
    if len(values) != len(table.partitions):
        raise SchemaError(
            f"{table.name}: got {len(values)} partition value(s) {list(values)} for partition columns "
            f"{list(table.partition_names)}"
        )
    for part, value in zip(table.partitions, values, strict=True):
        if part.transform in _PARTITION_VALUE:
            pattern, fmt, shown = _PARTITION_VALUE[part.transform]
            ok = isinstance(value, str) and bool(pattern.match(value))
            try:
                ok = ok and bool(datetime.strptime(value, fmt))
            except ValueError:  # right shape, impossible date such as 2026-02-30
                ok = False
            if not ok:
                raise SchemaError(f"{table.name}: partition {part.name}={value!r} is not a valid {shown}")
        elif not isinstance(value, str) or not value or re.search(r"[/=\\\s\x00-\x1f]", value):
            raise SchemaError(
                f"{table.name}: partition {part.name}={value!r} must be a non-empty string without "
                "'/', '=', backslashes or whitespace"
            )
    return list(values)


def partition_path(table: Table, values: Sequence[str]) -> str:
    """The Hive path of one partition relative to the table, e.g. ``event_date=2026-11-23``,
    spelt exactly as the writer's directories are (Spark's escaping, ``:`` -> ``%3A``)."""
    checked = check_partition_values(table, values)
    return partition_dir(dict(zip(table.partition_names, checked, strict=True)), table.partition_names)


def partition_input(table: Table, *, values: list[str], location: str) -> dict[str, Any]:
    """A Glue ``PartitionInput`` whose StorageDescriptor is the table's, pointed at ``location``.

    The schema hash is kept on the partition too, so a partition written under an older shape can
    be found before Athena reports HIVE_PARTITION_SCHEMA_MISMATCH.
    """
    checked = check_partition_values(table, values)
    sd = storage_descriptor(table, location=location)
    return {"Values": checked, "StorageDescriptor": sd, "Parameters": {SCHEMA_HASH_KEY: schema_hash(table)}}
