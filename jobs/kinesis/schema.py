"""The source's output schema: one row per user record (a KPL aggregate yields several rows)."""

from __future__ import annotations

from pyspark.sql.types import (
    BinaryType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

SOURCE_SCHEMA = StructType(
    [
        StructField("stream", StringType(), True),
        StructField("shard_id", StringType(), True),
        # Kinesis sequence numbers exceed 64 bits, so they stay strings; compare them as ints.
        StructField("sequence_number", StringType(), True),
        StructField("sub_sequence_number", LongType(), True),
        StructField("partition_key", StringType(), True),
        StructField("approximate_arrival_timestamp", TimestampType(), True),
        StructField("data", BinaryType(), True),
    ]
)
"""Spark schema of ``spark.readStream.format("kinesis")``."""

SOURCE_COLUMNS: tuple[str, ...] = tuple(SOURCE_SCHEMA.fieldNames())
