"""The whole pure path from raw Kinesis rows to routed, typed, checked, de-duplicated rows."""

from __future__ import annotations

from pyspark.sql import DataFrame

from jobs.transforms.decode import decode
from jobs.transforms.dedup import drop_retries
from jobs.transforms.parse import parse_tables
from schemas.model import Stream, Table


def prepare(
    raw: DataFrame,
    *,
    tables: list[Table],
    stream: Stream,
    max_record_bytes: int,
    dedup_window: str | None,
) -> DataFrame:
    """Decode, route, parse, apply row rules and drop producer retries (``dedup_window=None`` skips it).

    Works on a streaming or a static DataFrame with the Kinesis source's columns.
    """
    df = raw.transform(lambda d: decode(d, tables=tables, stream=stream, max_record_bytes=max_record_bytes))
    df = df.transform(lambda d: parse_tables(d, tables=tables))
    if dedup_window:
        df = drop_retries(df, tables=tables, window=dedup_window)
    return df
