"""Arrow types and schemas generated from a table declaration (what the lake writer hands to Parquet)."""

from __future__ import annotations

import pyarrow as pa

from schemas.model import LINEAGE_COLUMNS, Column, Table
from schemas.types import DataType

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    # Microseconds, UTC-adjusted: what Spark writes, so files from either writer read the same.
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}


def arrow_type(dt: DataType) -> pa.DataType:
    """The Arrow type of one declared type; nested elements, values and fields are nullable."""
    if dt.kind in _PRIMITIVES:
        return _PRIMITIVES[dt.kind]
    if dt.kind == "decimal":
        assert dt.precision is not None and dt.scale is not None
        return pa.decimal128(dt.precision, dt.scale)
    if dt.kind == "array":
        assert dt.element is not None
        # "element" is the Parquet-compliant list field name, the one pyarrow reads back.
        return pa.list_(pa.field("element", arrow_type(dt.element), nullable=True))
    if dt.kind == "map":
        assert dt.key is not None and dt.value is not None
        return pa.map_(arrow_type(dt.key), arrow_type(dt.value))
    if dt.kind == "struct":
        return pa.struct([pa.field(f.name, arrow_type(f.type), nullable=f.nullable) for f in dt.fields])
    raise AssertionError(f"unhandled type kind {dt.kind!r}")  # parse_type admits no other kind


def _field(col: Column) -> pa.Field:
    return pa.field(col.name, arrow_type(col.type), nullable=col.nullable)


def arrow_schema(table: Table, *, include_lineage: bool = True, include_partitions: bool = False) -> pa.Schema:
    """The Arrow schema of the table's Parquet files: declared columns, then lineage columns.

    Partition columns are not in the files (they are Hive path segments); ``include_partitions``
    appends them for readers that materialise them, typed as in the catalog.
    """
    fields = [_field(c) for c in table.columns]
    if include_lineage:
        fields += [_field(c) for c in LINEAGE_COLUMNS]
    if include_partitions:
        fields += [
            pa.field(p.name, arrow_type(p.type), nullable=table.column(p.source).nullable) for p in table.partitions
        ]
    return pa.schema(fields)
