"""Drop producer retries: the same event key seen again within the window. Pure transform.

The watermark is on Kinesis *arrival* time, not event time: a retry arrives seconds after the
original whatever its event time says, and arrival time is never null or corrupt, so bad rows can
pass through the same operator (each with a position-based key that never collides).
See docs/decisions/0004-dedup-on-arrival-time.md.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

DEDUP_KEY = "_dedup_key"


def with_dedup_key(df: DataFrame) -> DataFrame:
    """``<table>|<event id>`` for routed rows with an id, else ``#|<shard>|<seq>|<subseq>``."""
    by_event = F.concat_ws("|", F.col("_table"), F.col("_event_id"))
    by_position = F.concat_ws(
        "|",
        F.lit("#"),
        F.col("shard_id"),
        F.col("sequence_number"),
        F.col("sub_sequence_number").cast("string"),
    )
    keyed = F.col("_table").isNotNull() & F.col("_event_id").isNotNull()
    return df.withColumn(DEDUP_KEY, F.when(keyed, by_event).otherwise(by_position))


def drop_retries(df: DataFrame, *, window: str, time_column: str = "approximate_arrival_timestamp") -> DataFrame:
    """Keep the first row per dedup key within ``window`` (e.g. ``"1 hour"``) of ``time_column``.

    On a static DataFrame this is a plain ``dropDuplicates``, so unit tests need no stream.
    """
    keyed = with_dedup_key(df)
    if not keyed.isStreaming:
        return keyed.dropDuplicates([DEDUP_KEY])
    return keyed.withWatermark(time_column, window).dropDuplicatesWithinWatermark([DEDUP_KEY])
