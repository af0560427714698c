"""Spark types and schemas generated from a table declaration (the only place they are built).

Jobs parse incoming JSON with :func:`spark_schema` instead of inferring, so a producer sending a
new or oddly typed field can never silently change what the lake stores.
"""

from __future__ import annotations

from pyspark.sql import types as T

from schemas.model import LINEAGE_COLUMNS, Column, Table
from schemas.types import DataType

_PRIMITIVES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    # TimestampType is an instant (stored as UTC micros), which is what event times are.
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
}


def spark_type(dt: DataType) -> T.DataType:
    """The Spark type of one declared type; nested elements, values and fields are nullable."""
    if dt.kind in _PRIMITIVES:
        return _PRIMITIVES[dt.kind]
    if dt.kind == "decimal":
        assert dt.precision is not None and dt.scale is not None
        return T.DecimalType(dt.precision, dt.scale)
    if dt.kind == "array":
        assert dt.element is not None
        return T.ArrayType(spark_type(dt.element), containsNull=True)
    if dt.kind == "map":
        assert dt.key is not None and dt.value is not None
        return T.MapType(spark_type(dt.key), spark_type(dt.value), valueContainsNull=True)
    if dt.kind == "struct":
        return T.StructType([T.StructField(f.name, spark_type(f.type), f.nullable) for f in dt.fields])
    raise AssertionError(f"unhandled type kind {dt.kind!r}")  # parse_type admits no other kind


def _field(col: Column) -> T.StructField:
    return T.StructField(col.name, spark_type(col.type), col.nullable)


def spark_schema(table: Table, *, include_lineage: bool = False, include_partitions: bool = False) -> T.StructType:
    """The declared columns as a StructType, optionally followed by lineage and partition columns.

    The order matches what Spark reports when it reads the lake: file columns (declared, then
    lineage) and the Hive partition columns last. A partition column is nullable exactly when the
    column it is derived from is.
    """
    fields = [_field(c) for c in table.columns]
    if include_lineage:
        fields += [_field(c) for c in LINEAGE_COLUMNS]
    if include_partitions:
        fields += [T.StructField(p.name, spark_type(p.type), table.column(p.source).nullable) for p in table.partitions]
    return T.StructType(fields)
