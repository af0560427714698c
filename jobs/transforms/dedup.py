"""Drop producer retries: an accepted event whose declared key was accepted before. Pure transform.

Two rules keep this from ever losing an event (docs/decisions/0004-dedup-on-processing-time.md):

* Only *accepted* rows (routed, no reason) are keyed by their table's declared ``key``; every
  other row gets a position key (``#|shard|seq|subseq``) that never collides, so a quarantined
  record never hides a later, corrected event with the same key.
* The watermark runs on the micro-batch's own timestamp (``current_timestamp()``, which Spark
  fixes per batch and restores on replay), not on arrival or event time. Every row of a batch
  carries a time later than the previous batch's watermark, so the operator can never drop a row
  as "late", whatever the skew between shards, the starting position or the reshard history.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.transforms.parse import typed_column_name
from schemas.model import Table

DEDUP_KEY = "_dedup_key"
DEDUP_TIME = "_dedup_time"


def event_key(table: Table) -> Column:
    """``<table>|<declared key as JSON>`` from the typed values (composite keys included)."""
    struct = typed_column_name(table)
    key = F.struct(*[F.col(f"{struct}.{name}").alias(name) for name in table.key])
    return F.concat(F.lit(f"{table.name}|"), F.to_json(key))


def with_dedup_key(df: DataFrame, tables: list[Table]) -> DataFrame:
    """The declared key for accepted rows, else a position key that never collides."""
    by_position = F.concat_ws(
        "|",
        F.lit("#"),
        F.col("shard_id"),
        F.col("sequence_number"),
        F.col("sub_sequence_number").cast("string"),
    )
    accepted = F.size("_reasons") == 0
    key: Column = by_position
    for table in tables:
        key = F.when(accepted & (F.col("_table") == F.lit(table.name)), event_key(table)).otherwise(key)
    return df.withColumn(DEDUP_KEY, key)


def drop_retries(df: DataFrame, *, tables: list[Table], window: str) -> DataFrame:
    """Keep the first accepted row per declared key; a key is remembered for at least ``window``
    (e.g. ``"1 hour"``) of the job's processing time, and always into the next micro-batch.

    On a static DataFrame this is a plain ``dropDuplicates``, so unit tests need no stream.
    """
    keyed = with_dedup_key(df, tables)
    if not keyed.isStreaming:
        return keyed.dropDuplicates([DEDUP_KEY])
    return (
        keyed.withColumn(DEDUP_TIME, F.current_timestamp())
        .withWatermark(DEDUP_TIME, window)
        .dropDuplicatesWithinWatermark([DEDUP_KEY])
    )
