"""Routed rows -> one typed struct per table and the full list of reasons per row. Pure transforms.

``__t_<table>`` holds the row's typed columns when it belongs to that table (null otherwise); the
rules read the typed values from that struct, so no value is cast or parsed twice.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.transforms.decode import PAYLOAD
from quality import reasons
from quality.rules import RowRule, reasons_array, table_rules
from schemas.model import Table
from schemas.spark import spark_type

ARRIVAL = "approximate_arrival_timestamp"


def typed_column_name(table: Table) -> str:
    return f"__t_{table.name}"


def _typed_value(col_name: str, raw: Column, table: Table) -> Column:
    dt = table.column(col_name).type
    if dt.nested:
        # Nested values arrive as their JSON text in the union parse; parse just that fragment.
        # Map schemas work at run time; pyspark's stubs list only array and struct.
        return F.from_json(raw, spark_type(dt), {"mode": "PERMISSIVE"})  # type: ignore[arg-type]
    return raw.try_cast(spark_type(dt))


def parse_tables(df: DataFrame, *, tables: list[Table]) -> DataFrame:
    """Add ``__t_<table>`` structs, ``_event_id``, and ``_reasons`` (decode + type + rule reasons)."""
    for table in tables:
        mine = F.col("_table") == F.lit(table.name)
        typed = F.struct(
            *[_typed_value(c.name, F.col(f"{PAYLOAD}.{c.name}"), table).alias(c.name) for c in table.columns]
        )
        df = df.withColumn(typed_column_name(table), F.when(mine, typed))

    per_table: list[Column] = []
    for table in tables:
        struct_name = typed_column_name(table)
        checks: list[RowRule] = []
        typed_values: dict[str, Column] = {}
        for col in table.columns:
            raw = F.col(f"{PAYLOAD}.{col.name}")
            value = F.col(f"{struct_name}.{col.name}")
            typed_values[col.name] = value
            checks.append(RowRule(reasons.type_mismatch(col.name), raw.isNotNull() & value.isNull()))
            if not col.nullable:
                checks.append(RowRule(reasons.missing_required(col.name), raw.isNull()))
        checks.extend(table_rules(table, typed_values, arrival_time=F.col(ARRIVAL)))
        per_table.append(F.when(F.col("_table") == F.lit(table.name), reasons_array(checks)))
    empty = F.array().cast("array<string>")
    row_reasons = F.coalesce(*per_table, empty) if per_table else empty
    return (
        df.withColumn("_reasons", F.concat(F.col("_decode_reasons"), row_reasons))
        .withColumn("_event_id", F.col(f"{PAYLOAD}.event_id"))
        .drop(PAYLOAD, "_decode_reasons")
        # Only quarantined rows keep their original bytes; valid rows are fully described by their
        # typed struct, and dropping the payload halves what the de-duplication shuffle moves.
        .withColumn("data", F.when(F.size("_reasons") > 0, F.col("data")))
    )
