"""Find producer retries in one micro-batch: accepted events whose declared key was accepted before.

Pure transforms over a static batch frame; the lake sink runs them (docs/decisions/0004-dedup-in-the-sink.md).
Cross-batch memory is a small frame of keys the lake already holds (``seen``), so nothing here is
stateful and no row can ever be dropped by a watermark for being "late".

* Only *accepted* rows (routed, no reason) are keyed by their table's declared ``key``
  (``<table>|<JSON of the key columns>``, composite keys included); every other row gets a
  position key that never collides, so a quarantined record never hides a corrected re-send.
* Within a batch the first copy by arrival and position is kept; a copy whose key is in ``seen``
  is a duplicate wherever it sits.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.transforms.parse import typed_column_name
from schemas.model import Table

DEDUP_KEY = "_dedup_key"
COPY = "_copy"  # 1 for the first copy of a key in the batch
DUPLICATE = "_duplicate"
KEYS_OUTPUT = "_dedup"  # the lake output that remembers accepted keys
_SEEN = "_seen"


def accepted() -> Column:
    """Routed and free of reasons: the rows that go to a table."""
    return F.col("_table").isNotNull() & (F.size("_reasons") == 0)


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
    key: Column = by_position
    for table in tables:
        key = F.when(accepted() & (F.col("_table") == F.lit(table.name)), event_key(table)).otherwise(key)
    return df.withColumn(DEDUP_KEY, key)


def rank_copies(df: DataFrame) -> DataFrame:
    """``_copy``: 1 for the earliest copy of each key in the batch (arrival, then position)."""
    order = [
        F.col("approximate_arrival_timestamp"),
        F.col("shard_id"),
        F.length("sequence_number"),  # Kinesis sequence numbers are decimal strings
        F.col("sequence_number"),
        F.col("sub_sequence_number"),
    ]
    return df.withColumn(COPY, F.row_number().over(Window.partitionBy(DEDUP_KEY).orderBy(*order)))


def mark_duplicates(df: DataFrame, seen: DataFrame | None = None) -> DataFrame:
    """``_duplicate``: an accepted row that is a later copy in this batch, or whose key is in ``seen``
    (a one-column frame of ``_dedup_key`` values the lake already holds)."""
    in_seen: Column = F.lit(False)
    if seen is not None:
        df = df.join(F.broadcast(seen.select(DEDUP_KEY).withColumn(_SEEN, F.lit(True))), on=DEDUP_KEY, how="left")
        in_seen = F.coalesce(F.col(_SEEN), F.lit(False))
    return df.withColumn(DUPLICATE, accepted() & ((F.col(COPY) > 1) | in_seen)).drop(_SEEN)


def find_duplicates(df: DataFrame, *, tables: list[Table], seen: DataFrame | None = None) -> DataFrame:
    """Key, rank and mark a parsed batch (adds ``_dedup_key``, ``_copy``, ``_duplicate``)."""
    return mark_duplicates(rank_copies(with_dedup_key(df, tables)), seen)


def drop_retries(df: DataFrame, *, tables: list[Table], seen: DataFrame | None = None) -> DataFrame:
    """The batch without its producer retries."""
    return find_duplicates(df, tables=tables, seen=seen).where(~F.col(DUPLICATE))


def new_keys(df: DataFrame) -> DataFrame:
    """The keys a marked batch adds to the lake's memory: one per stored event."""
    return df.where(accepted() & ~F.col(DUPLICATE)).select(
        F.col(DEDUP_KEY).alias("key"), F.col("_table").alias("table")
    )
