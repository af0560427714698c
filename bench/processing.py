"""The processing path apart from the emulator: streamlake vs bare Spark vs DuckDB on one dataset.

Every engine reads the same cached events (``bench.data``) and writes a fresh output directory.
Spark engines share one ``local[2]`` session built by ``jobs.spark_session.build_session`` with the
ingest job's defaults, so the comparison is about the work done, not the settings.

* ``streamlake``: the real path. A file stream of raw Kinesis rows (``Trigger.AvailableNow``,
  ``maxFilesPerTrigger`` so it runs as several micro-batches like the job does) ->
  ``prepare`` (decode, parse, rules) -> ``foreachBatch(LakeSink(LakeWriter))``
  (dedup, count, split, stage, publish, commit).
* ``prepare`` / ``scan``: the same stream into a no-op sink, with and without ``prepare``; the
  differences give a per-stage cost.
* ``bare_spark``: one batch read, ``from_json`` against a typed union schema, ``partitionBy`` write.
* ``duckdb``: ``read_ndjson`` with explicit columns into a partitioned Parquet ``COPY``.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bench.data import Dataset
from schemas.model import Stream, Table
from schemas.types import DataType

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from jobs.ingest.config import IngestConfig

StreamMode = Literal["full", "prepare", "scan"]


@dataclass(frozen=True)
class Timing:
    """One timed run of one engine."""

    engine: str
    seconds: float
    events: int
    batches: int = 0
    valid_rows: int | None = None
    quarantined_rows: int | None = None
    files: int = 0
    cpu_seconds: float = math.nan  # user + system time of the process tree (filled in by the caller)
    others_share: float = math.nan  # share of the machine's CPU other processes took meanwhile

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_seconds / self.events * 1e6 if self.events else math.nan


def ingest_defaults() -> IngestConfig:
    """The ingest job's defaults (dedup window, record cap, file cap, shuffle partitions)."""
    from jobs.ingest.config import parse_config

    return parse_config([], env={})


def shop_tables() -> tuple[Stream, list[Table]]:
    from jobs.ingest.job import declared_tables

    return declared_tables("shop_events")


def build_bench_session(config: IngestConfig, *, master: str = "local[2]") -> SparkSession:
    from jobs.spark_session import build_session

    return build_session(app_name="streamlake-bench", master=master, shuffle_partitions=config.shuffle_partitions)


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --- streamlake --------------------------------------------------------------------------------


def time_streamlake(
    spark: SparkSession,
    raw_dir: Path,
    events: int,
    workdir: Path,
    *,
    config: IngestConfig,
    mode: StreamMode = "full",
    files_per_trigger: int | None = None,
) -> Timing:
    """Run the file-stream version of the ingest job to completion (AvailableNow) and time it."""
    from jobs.ingest.job import build_sink, prepare_events
    from jobs.kinesis.schema import SOURCE_SCHEMA
    from jobs.lake.writer import LakeWriter

    out = _fresh(workdir)
    stream, tables = shop_tables()
    checkpoint = str(out / "checkpoint")
    reader = spark.readStream.schema(SOURCE_SCHEMA)
    if files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(files_per_trigger))
    raw = reader.parquet(str(raw_dir))
    frame = raw
    if mode != "scan":
        frame = prepare_events(raw, config, stream, tables)
    sink: Callable[[DataFrame, int], None] = _noop_sink
    if mode == "full":
        lake = str(out / "lake")
        writer = LakeWriter(lake_uri=lake, max_records_per_file=config.max_records_per_file)
        sink, _ = build_sink(writer, tables, config, checkpoint=checkpoint)
    started = time.perf_counter()
    query = (
        frame.writeStream.queryName(f"bench_{mode}")
        .foreachBatch(sink)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    seconds = time.perf_counter() - started
    if query.exception() is not None:
        raise RuntimeError(f"streamlake {mode} run failed: {query.exception()}")
    batches = sum(1 for p in query.recentProgress if int(p["numInputRows"]) > 0)
    valid = quarantined = None
    if mode == "full":
        valid, quarantined = lake_counts(out / "lake", [t.name for t in tables])
    return Timing(f"streamlake_{mode}", seconds, events, batches, valid, quarantined, files=parquet_files(out / "lake"))


def parquet_files(root: Path) -> int:
    """Data files a directory-listing reader would see (staging and hidden files excluded)."""
    if not root.exists():
        return 0
    return sum(
        1
        for p in root.rglob("*.parquet")
        if not any(part.startswith((".", "_staging")) for part in p.relative_to(root).parts)
    )


def _noop_sink(df: DataFrame, batch_id: int) -> None:
    # Spark's "noop" format computes every row and column and writes nothing.
    df.write.format("noop").mode("overwrite").save()


def lake_counts(lake: Path, tables: list[str]) -> tuple[int, int]:
    """Valid and quarantined rows the lake's commit records say were committed."""
    from jobs.lake.readers import commit_records
    from jobs.transforms.split import QUARANTINE

    valid = sum(r.rows for t in tables for r in commit_records(str(lake), t))
    quarantined = sum(r.rows for r in commit_records(str(lake), QUARANTINE))
    return valid, quarantined


# --- bare Spark --------------------------------------------------------------------------------


def union_struct(tables: list[Table]) -> StructType:
    """Every table's columns with their declared types (first declaration of a name wins)."""
    from pyspark.sql import types as T

    from schemas.spark import spark_type

    fields: dict[str, T.StructField] = {}
    for table in tables:
        for col in table.columns:
            fields.setdefault(col.name, T.StructField(col.name, spark_type(col.type), True))
    return T.StructType(list(fields.values()))


def time_bare_spark(spark: SparkSession, raw_dir: Path, events: int, workdir: Path, *, write: bool = True) -> Timing:
    """Read, parse against a typed schema, derive the date, write partitioned: nothing else.

    ``write=False`` sends the same rows to Spark's no-op sink, which separates parsing from writing.
    """
    from pyspark.sql import functions as F

    out = _fresh(workdir)
    _, tables = shop_tables()
    schema = union_struct(tables)
    started = time.perf_counter()
    rows = (
        spark.read.parquet(str(raw_dir))
        .select(F.from_json(F.col("data").cast("string"), schema).alias("e"))
        .select("e.*")
        .withColumn("event_date", F.to_date("event_time"))
    )
    if write:
        rows.write.mode("overwrite").partitionBy("event_type", "event_date").parquet(str(out / "out"))
    else:
        rows.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - started
    return Timing("bare_spark" if write else "bare_spark_parse", seconds, events, files=parquet_files(out / "out"))


# --- DuckDB ------------------------------------------------------------------------------------


def duckdb_type(dt: DataType) -> str:
    """The DuckDB spelling of a declared type (what ``read_ndjson(columns=...)`` expects)."""
    simple = {
        "string": "VARCHAR",
        "int": "INTEGER",
        "long": "BIGINT",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "timestamp": "TIMESTAMPTZ",
        "date": "DATE",
    }
    if dt.kind in simple:
        return simple[dt.kind]
    if dt.kind == "decimal":
        return f"DECIMAL({dt.precision},{dt.scale})"
    if dt.kind == "array":
        assert dt.element is not None
        return f"{duckdb_type(dt.element)}[]"
    if dt.kind == "map":
        assert dt.key is not None and dt.value is not None
        return f"MAP({duckdb_type(dt.key)}, {duckdb_type(dt.value)})"
    if dt.kind == "struct":
        return "STRUCT(" + ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in dt.fields) + ")"
    raise ValueError(f"no DuckDB type for {dt}")


def duckdb_columns(tables: list[Table]) -> dict[str, str]:
    columns: dict[str, str] = {}
    for table in tables:
        for col in table.columns:
            columns.setdefault(col.name, duckdb_type(col.type))
    return columns


def time_duckdb(ndjson: Path, events: int, workdir: Path, *, threads: int = 2) -> Timing:
    """``read_ndjson`` (explicit columns, bad lines skipped) -> partitioned Parquet ``COPY``."""
    import duckdb

    out = _fresh(workdir)
    _, tables = shop_tables()
    columns = duckdb_columns(tables)
    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {int(threads)}")
        # DuckDB spills here instead of the system temp dir, inside the benchmark's own state.
        con.execute("SET temp_directory = ?", [str(out / "tmp")])
        struct = "{" + ", ".join(f"'{name}': '{typ}'" for name, typ in columns.items()) + "}"
        started = time.perf_counter()
        con.execute(
            f"""
            COPY (
                SELECT *, CAST(event_time AT TIME ZONE 'UTC' AS DATE) AS event_date
                FROM read_ndjson(?, columns = {struct}, ignore_errors = true, maximum_object_size = 16777216)
            ) TO '{out / "out"}' (FORMAT parquet, PARTITION_BY (event_type, event_date))
            """,
            [str(ndjson)],
        )
        seconds = time.perf_counter() - started
    finally:
        con.close()
    return Timing("duckdb", seconds, events, files=parquet_files(out / "out"))


def warmup_dir(ds: Dataset, bench_home: Path) -> Path:
    """A directory holding only the first raw file (hard-linked), for an untimed JVM warm-up."""
    target = bench_home / "warmup" / ds.root.name
    first = sorted(ds.raw_dir.glob("*.parquet"))[0]
    link = target / first.name
    if not link.exists():
        target.mkdir(parents=True, exist_ok=True)
        try:
            os.link(first, link)
        except OSError:
            shutil.copyfile(first, link)
    return target
