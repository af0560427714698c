"""The main job's wiring: preflight checks, the Kinesis source, the pure path, the lake sink, the monitor.

Everything with a side effect (the SparkSession, boto3 clients) is made here from the frozen
config and handed down; the transforms and the writer never build their own.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamlake import aws, home
from streamlake.errors import ConfigError, LakeError, PreflightError, SourceError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from jobs.ingest.config import IngestConfig
    from jobs.ingest.monitor import RunSummary
    from jobs.ingest.sink import BatchResults, LakeSink
    from jobs.lake.writer import LakeWriter
    from schemas.model import Stream, Table

log = logging.getLogger("streamlake.ingest")


def run_ingest(config: IngestConfig) -> RunSummary:
    """Preflight, build the query and watch it until it stops; the main job's whole life.

    ``jobs/stream_ingest.py``, ``make run`` and the benchmark all call this one function.
    """
    from pyspark.errors import StreamingQueryException

    from jobs.ingest.lease import Lease
    from jobs.ingest.monitor import Monitor
    from jobs.ingest.preflight import check_lake, check_writable_dir
    from jobs.ingest.runs import check_new_checkpoint
    from jobs.kinesis import KinesisDataSource, KinesisOptions
    from jobs.kinesis.progress import epoch_stats, validate_stream
    from jobs.lake.fs import filesystem_for, is_s3
    from jobs.lake.writer import LakeWriter
    from jobs.spark_session import build_session

    # parse_config fills both from STREAMLAKE_HOME; a hand-built config must do the same.
    if config.lake is None or config.checkpoint is None:
        raise ConfigError("--lake", config.lake, "a resolved config: build it with parse_config()")
    lake, checkpoint = config.lake, config.checkpoint
    started_ms = int(time.time() * 1000)  # --until-caught-up means every tip seen after this
    stream_decl, tables = declared_tables(config.events)

    s3 = aws.client("s3", endpoint_url=config.aws_endpoint_url, region=config.region)
    # Fail before Spark starts: unknown stream, unreachable endpoint, unwritable lake or checkpoint.
    # Each is the config's fault, so each is a configuration error (exit code 2).
    try:
        validate_stream(config.stream, endpoint_url=config.endpoint_url, region=config.region, timeout=10)
        check_lake(lake, s3=s3)
    except (SourceError, LakeError) as exc:
        raise PreflightError(str(exc)) from exc
    options = source_options(config)
    KinesisOptions.parse(options)  # every source option checked now, not inside Spark
    if not checkpoint.startswith("s3://"):
        check_writable_dir("--checkpoint", checkpoint)

    lake_fs = filesystem_for(lake, s3_client=s3)  # the one handle on the lake
    check_new_checkpoint(
        lake_fs,
        filesystem_for(checkpoint, s3_client=s3),
        allowed=config.allow_new_checkpoint,
        starting_position=config.starting_position,
    )

    # One writer per lake and stream: wait out a dead driver's lease, refuse a live one's.
    lease = Lease(lake_fs, name=config.stream, ttl_seconds=config.lease_ttl)
    lease.acquire()
    lease.start_heartbeats()
    try:
        registrar = None
        if config.glue_database:
            from glue.catalog import PartitionRegistrar, ensure_database, ensure_table

            glue_client = aws.client("glue", endpoint_url=config.aws_endpoint_url, region=config.region)
            ensure_database(glue_client, config.glue_database)
            for table in tables:
                ensure_table(
                    glue_client,
                    database=config.glue_database,
                    table=table,
                    location=_location(lake, table.name),
                )
            registrar = PartitionRegistrar(
                glue_client,
                database=config.glue_database,
                tables={t.name: t for t in tables},
                location_for=lambda name: _location(lake, name),
            )

        spark = build_session(
            app_name=f"streamlake-ingest-{config.stream}",
            master=config.master,
            shuffle_partitions=config.shuffle_partitions,
        )
        spark.dataSource.register(KinesisDataSource)
        reader = spark.readStream.format("kinesis")
        for key, value in options.items():
            reader = reader.option(key, value)
        raw = reader.load()
        prepared = prepare_events(raw, config, stream_decl, tables)
        # Local Spark has no S3A connector: it stages on local disk and the writer uploads to S3.
        local_spark = (spark.sparkContext.master or "").startswith("local")
        staging = str(home.home() / "staging") if is_s3(lake) and local_spark else None
        writer = LakeWriter(
            lake_uri=lake,
            staging_uri=staging,
            lake_fs=lake_fs,
            catalog=registrar,
            max_records_per_file=config.max_records_per_file,
        )
        sink, results = build_sink(
            writer,
            tables,
            config,
            checkpoint=checkpoint,
            s3_client=s3,
            fence=lease.check,
            # What the source says it emitted for a batch, read from its end log: the sink's check of read.
            source_records=lambda end: (
                epoch_stats(end, config.metadata_path, s3_endpoint_url=config.aws_endpoint_url).records
            ),
        )
        query = (
            prepared.writeStream.queryName(f"ingest_{config.stream}".replace("-", "_"))
            .foreachBatch(sink)
            .option("checkpointLocation", checkpoint)
            .trigger(processingTime=f"{config.trigger_seconds} seconds")
            .start()
        )
        monitor = Monitor(
            results=results,
            epoch_stats=lambda end: epoch_stats(
                end,
                config.metadata_path,
                endpoint_url=config.endpoint_url,
                region=config.region,
                s3_endpoint_url=config.aws_endpoint_url,
            ),
            log_json=config.log_json,
            show_progress=config.progress,
            not_before_ms=started_ms,
        )

        def maybe_kill(batches: int) -> None:
            if config.kill_after_batches is not None and batches >= config.kill_after_batches:
                log.warning("--kill-after-batches reached: SIGKILL")
                os.kill(os.getpid(), signal.SIGKILL)

        try:
            summary = monitor.watch(
                query,
                until_caught_up=config.until_caught_up,
                timeout_seconds=config.timeout_seconds,
                max_batches=config.max_batches,
                on_batch=maybe_kill,
            )
        except StreamingQueryException as exc:
            # The sink's own errors (a batch that does not add up, a failed publish) arrive wrapped by
            # Spark; surface the first line of what went wrong, not a JVM stack.
            raise LakeError(f"the ingest query stopped: {_first_line(exc)}") from exc
        log.info(
            "run: batches=%d read=%d valid=%d quarantined=%d duplicates=%d seconds=%.1f rate=%.0f/s caught_up=%s",
            summary.batches,
            summary.read,
            summary.valid,
            summary.quarantined,
            summary.duplicates,
            summary.seconds,
            summary.rate,
            summary.caught_up,
        )
        return summary
    finally:
        lease.release()


def source_options(config: IngestConfig) -> dict[str, str]:
    """The Kinesis source's options for this config (see jobs/kinesis/options.py)."""
    options = {
        "streamName": config.stream,
        "region": config.region,
        "startingPosition": config.starting_position,
        "metadataPath": config.metadata_path,
        "maxRecordsPerShard": str(config.max_records_per_shard),
        "maxBytesPerShard": str(config.max_bytes_per_shard),
        "readTimeoutSec": str(config.kinesis_read_timeout),
    }
    if config.endpoint_url:
        options["endpointUrl"] = config.endpoint_url
    if config.metadata_path.startswith("s3://") and config.aws_endpoint_url:
        options["s3EndpointUrl"] = config.aws_endpoint_url
    if config.starting_timestamp:
        options["startingTimestamp"] = config.starting_timestamp
    if config.emulator_quirks:
        options["emulatorQuirks"] = "true"
    return options


def declared_tables(events: str) -> tuple[Stream, list[Table]]:
    """The event declaration in schemas/streams and the tables it routes to."""
    from schemas import load_stream, load_table

    stream_decl = load_stream(events)
    return stream_decl, [load_table(name) for name in stream_decl.tables]


def prepare_events(raw: DataFrame, config: IngestConfig, stream_decl: Stream, tables: list[Table]) -> DataFrame:
    """The job's pure path over raw Kinesis rows, with the job's settings (the benchmark uses it too)."""
    from jobs.transforms.pipeline import prepare

    return prepare(raw, tables=tables, stream=stream_decl, max_record_bytes=config.max_record_bytes)


def build_sink(
    writer: LakeWriter,
    tables: list[Table],
    config: IngestConfig,
    *,
    checkpoint: str,
    s3_client: Any | None = None,
    source_records: Callable[[str], int | None] | None = None,
    fence: Callable[[], None] | None = None,
) -> tuple[LakeSink, BatchResults]:
    """The foreachBatch sink (de-duplication, conservation check, lake commit) and its results."""
    from jobs.ingest.sink import BatchResults, LakeSink

    results = BatchResults()
    sink = LakeSink(
        writer=writer,
        tables=tables,
        checkpoint=checkpoint,
        results=results,
        dedup_window_seconds=config.dedup_window_seconds,
        s3_client=s3_client,
        source_records=source_records,
        fence=fence,
    )
    return sink, results


def _location(lake: str, name: str) -> str:
    """The catalog location of ``name``: the lake's URI (``file://`` for a local directory)."""
    base = lake if "://" in lake else Path(lake).resolve().as_uri()
    return base.rstrip("/") + "/" + name


def _first_line(exc: BaseException) -> str:
    """The message of a Spark-wrapped Python error, without the JVM's stack."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    ours = [line for line in lines if "Error: " in line and "streamlake" not in line.split("Error: ")[0].lower()]
    return (ours or lines or [type(exc).__name__])[-1]
