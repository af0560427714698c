"""The stateless path from raw Kinesis rows to routed, typed, checked rows.

Producer retries are found per micro-batch in the lake sink (jobs/transforms/dedup.py), where the
batch can be counted whole before anything is committed.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from jobs.transforms.decode import decode
from jobs.transforms.parse import parse_tables
from schemas.model import Stream, Table


def prepare(raw: DataFrame, *, tables: list[Table], stream: Stream, max_record_bytes: int) -> DataFrame:
    """Decode, route, parse and apply row rules; one output row per input row.

    Works on a streaming or a static DataFrame with the Kinesis source's columns.
    """
    df = raw.transform(lambda d: decode(d, tables=tables, stream=stream, max_record_bytes=max_record_bytes))
    return df.transform(lambda d: parse_tables(d, tables=tables))
