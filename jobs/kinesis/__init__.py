"""The Kinesis source: ``spark.readStream.format("kinesis")`` via PySpark's Python Data Source API.

Public surface::

    from jobs.kinesis import KinesisDataSource, SOURCE_SCHEMA
    spark.dataSource.register(KinesisDataSource)
    df = spark.readStream.format("kinesis").option("streamName", ...).option("metadataPath", ...).load()

    from jobs.kinesis.progress import epoch_stats, await_caught_up, validate_stream  # driver side
    from jobs.kinesis.kpl import aggregate, encode_aggregate, deaggregate  # KPL format

Layout: ``options`` (typed options), ``offsets`` (offset JSON), ``endlog`` (write-once end log),
``planner`` (driver planning, pure), ``reader`` (GetRecords loop), ``rows`` (records -> rows),
``task`` (one partition: replay or claim), ``source`` (the DataSource), ``progress`` (job helpers).
"""

from __future__ import annotations

from jobs.kinesis.options import KinesisOptions, ReadBudget
from jobs.kinesis.schema import SOURCE_SCHEMA
from jobs.kinesis.source import KinesisDataSource, KinesisStreamReader

__all__ = ["SOURCE_SCHEMA", "KinesisDataSource", "KinesisOptions", "KinesisStreamReader", "ReadBudget"]
