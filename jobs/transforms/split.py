"""One parsed batch -> the frames the lake receives: a valid frame per table and one quarantine
frame. Pure transforms; each ends in a ``select`` that states the stored schema."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.transforms.parse import typed_column_name
from quality.reasons import UNROUTED
from schemas.model import Partition, Table

QUARANTINE = "_quarantine"
QUARANTINE_PARTITIONS = ("table", "ingest_date")


@dataclass(frozen=True)
class Destination:
    """Where one frame of a batch goes (the lake writer turns it into files)."""

    name: str
    frame: DataFrame
    partition_by: tuple[str, ...]


def partition_value(part: Partition, source: Column) -> Column:
    if part.transform == "date":
        return F.to_date(source)
    if part.transform == "hour":
        return F.date_format(source, "yyyy-MM-dd-HH")
    return source.cast("string")


def lineage(batch_id: int) -> list[Column]:
    return [
        F.col("shard_id").alias("_shard_id"),
        F.col("sequence_number").alias("_sequence_number"),
        F.col("sub_sequence_number").alias("_sub_sequence_number"),
        F.col("approximate_arrival_timestamp").alias("_arrival_time"),
        F.lit(batch_id).cast("long").alias("_batch_id"),
    ]


def valid_rows(df: DataFrame, table: Table, *, batch_id: int) -> DataFrame:
    """The rows of ``table`` that passed every check, in stored column order plus partitions."""
    struct = typed_column_name(table)
    columns = [F.col(f"{struct}.{c.name}").alias(c.name) for c in table.columns]
    parts = [partition_value(p, F.col(f"{struct}.{p.source}")).alias(p.name) for p in table.partitions]
    return df.where((F.col("_table") == F.lit(table.name)) & (F.size("_reasons") == 0)).select(
        *columns, *lineage(batch_id), *parts
    )


def quarantined_rows(df: DataFrame, *, batch_id: int) -> DataFrame:
    """Every row with at least one reason, with its original bytes and source position."""
    return df.where(F.size("_reasons") > 0).select(
        F.col("data"),
        F.col("_reasons").alias("reasons"),
        F.col("_event_id").alias("event_id"),
        F.col("stream"),
        F.col("partition_key"),
        *lineage(batch_id),
        F.coalesce(F.col("_table"), F.lit(UNROUTED)).alias("table"),
        F.to_date("approximate_arrival_timestamp").alias("ingest_date"),
    )


def destinations(df: DataFrame, tables: list[Table], *, batch_id: int) -> list[Destination]:
    out = [Destination(t.name, valid_rows(df, t, batch_id=batch_id), t.partition_names) for t in tables]
    out.append(Destination(QUARANTINE, quarantined_rows(df, batch_id=batch_id), QUARANTINE_PARTITIONS))
    return out
