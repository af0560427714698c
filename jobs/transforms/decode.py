"""Raw Kinesis rows -> one JSON parse -> routed rows with decode-level reasons. Pure transforms.

The whole payload is parsed once against the *union* of every table's top-level fields, each read
as a string. Type checks then happen per column with ``try_cast`` (see parse.py), so a bad value
becomes a named reason instead of nulling the whole record, and no record is parsed twice.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from quality import reasons
from schemas.model import Stream, Table

KPL_MAGIC = bytes([0xF3, 0x89, 0x9A, 0xC2])
CORRUPT_FIELD = "_corrupt_record"
PAYLOAD = "_payload"  # the parsed union struct


def union_schema(tables: list[Table], route_field: str) -> T.StructType:
    """Every top-level field of every table, as strings, plus the corrupt-record field."""
    names: list[str] = [route_field]
    for table in tables:
        names.extend(c.name for c in table.columns if c.name not in names)
    fields = [T.StructField(n, T.StringType()) for n in names]
    return T.StructType([*fields, T.StructField(CORRUPT_FIELD, T.StringType())])


def decode(raw: DataFrame, *, tables: list[Table], stream: Stream, max_record_bytes: int) -> DataFrame:
    """Add ``_table`` (null when unroutable), ``_decode_reasons`` and the parsed ``_payload``.

    Keeps the source's lineage columns and the original ``data`` bytes (quarantine needs them).
    """
    text = F.col("data").cast("string")
    schema = union_schema(tables, stream.route_field)
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_FIELD}
    is_utf8 = F.is_valid_utf8(text)
    is_aggregate = F.substring(F.col("data"), 1, 4) == F.lit(KPL_MAGIC)
    oversized = F.octet_length(F.col("data")) > F.lit(max_record_bytes)
    parsed = F.when(is_utf8 & ~is_aggregate, F.from_json(text, schema, options))
    route_value = F.col(f"{PAYLOAD}.{stream.route_field}")
    by_type = {t.event_type: t.name for t in tables}
    table_of: Column = F.lit(None).cast("string")
    for event_type, name in by_type.items():
        table_of = F.when(route_value == F.lit(event_type), F.lit(name)).otherwise(table_of)
    json_ok = F.col(PAYLOAD).isNotNull() & F.col(f"{PAYLOAD}.{CORRUPT_FIELD}").isNull()

    decode_reasons = F.filter(
        F.array(
            F.when(oversized, F.lit(reasons.OVERSIZED)),
            F.when(is_aggregate, F.lit(reasons.CORRUPT_AGGREGATE)),
            F.when(~is_aggregate & ~is_utf8, F.lit(reasons.INVALID_UTF8)),
            F.when(~is_aggregate & is_utf8 & ~json_ok, F.lit(reasons.INVALID_JSON)),
            F.when(json_ok & F.col("_table").isNull(), F.lit(reasons.UNKNOWN_EVENT_TYPE)),
        ),
        lambda x: x.isNotNull(),
    )
    return (
        raw.withColumn(PAYLOAD, parsed)
        .withColumn("_table", F.when(json_ok, table_of))
        .withColumn("_decode_reasons", decode_reasons)
    )
