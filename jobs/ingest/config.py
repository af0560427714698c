"""The frozen config of the ingest job: CLI flags > STREAMLAKE_* environment > defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from jobs.kinesis.options import parse_timestamp_ms
from streamlake import home
from streamlake.config import non_negative, option, parse, positive
from streamlake.errors import ConfigError

StartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
_DURATION = re.compile(r"^\d+\s+(second|seconds|minute|minutes|hour|hours|day|days)$")


_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _duration(value: object) -> str | None:
    return None if value is None or _DURATION.match(str(value)) else "a Spark interval like '1 hour' or '30 minutes'"


@dataclass(frozen=True, kw_only=True)
class IngestConfig:
    stream: str = option("Kinesis stream name to read", default="shop-events")
    events: str = option(
        "Event declaration in schemas/streams/ that routes the stream to tables", default="shop_events"
    )
    endpoint_url: str | None = option(
        "Kinesis endpoint URL (unset: the AWS default endpoint)", env="STREAMLAKE_KINESIS_ENDPOINT"
    )
    aws_endpoint_url: str | None = option(
        "Endpoint for S3 and Glue (unset: the AWS defaults); the local stack sets it to moto",
        env="STREAMLAKE_AWS_ENDPOINT",
    )
    emulator_quirks: bool = option(
        "Work around the local Kinesis emulator (kinesalite); the local stack sets it, never set it on AWS",
        default=False,
    )
    kinesis_read_timeout: float = option(
        "Seconds a Kinesis read may take before it is retried (with backoff, from the same position)",
        default=30.0,
        validate=positive,
    )
    lease_ttl: float = option(
        "Seconds without a heartbeat after which another driver may take over this lake and stream",
        default=60.0,
        validate=positive,
    )
    region: str = option("AWS region", default="us-east-1")
    lake: str | None = option("Lake root: a directory or s3://bucket/prefix (default: var/lake)")
    checkpoint: str | None = option("Spark checkpoint location (default: var/checkpoints/<stream>)")
    trigger_seconds: float = option("Micro-batch trigger interval in seconds", default=5.0, validate=positive)
    starting_position: str = option(
        "Where a new checkpoint starts reading",
        default="TRIM_HORIZON",
        choices=("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"),
    )
    starting_timestamp: str | None = option("ISO-8601 time or epoch millis for AT_TIMESTAMP")
    until_caught_up: bool = option("Stop cleanly once every shard is caught up", default=False)
    max_records_per_shard: int = option(
        "Per-shard record budget of one micro-batch", default=100_000, validate=positive
    )
    max_bytes_per_shard: int = option(
        "Per-shard byte budget of one micro-batch", default=64 * 1024 * 1024, validate=positive
    )
    max_record_bytes: int = option(
        "Records larger than this are quarantined as oversized", default=512 * 1024, validate=positive
    )
    dedup_window: str = option(
        "How long (processing time) an accepted event's key is remembered to drop producer retries",
        default="1 hour",
        validate=_duration,
    )
    max_records_per_file: int = option("Cap on rows per Parquet file", default=1_000_000, validate=positive)
    glue_database: str | None = option("Glue database to register tables and partitions in (unset: no catalog)")
    timeout_seconds: float | None = option("Stop after this many seconds (unset: run until stopped)", validate=positive)
    max_batches: int | None = option("Stop after this many micro-batches (tests, benchmarks)", validate=positive)
    master: str | None = option("Spark master when not run under spark-submit (e.g. local[*])")
    shuffle_partitions: int = option("spark.sql.shuffle.partitions", default=8, validate=positive)
    log_json: bool = option("Log one JSON object per batch instead of key=value text", default=False)
    progress: bool = option("Show a progress line while catching up", default=True)
    allow_new_checkpoint: bool = option(
        "Allow a new (empty) checkpoint over a lake that already holds committed batches", default=False
    )
    kill_after_batches: int | None = option(
        "Testing aid: SIGKILL this driver after N batches have committed", validate=non_negative
    )

    def resolved(self) -> IngestConfig:
        """Fill defaults that depend on STREAMLAKE_HOME (read now, not at import)."""
        lake = self.lake or str(home.lake_dir())
        checkpoint = self.checkpoint or str(home.checkpoint_dir() / self.stream)
        return replace(self, lake=lake, checkpoint=checkpoint)

    @property
    def dedup_window_seconds(self) -> float:
        """``--dedup-window`` in seconds (validated as ``<n> <unit>`` at parse time)."""
        number, unit = self.dedup_window.split()
        return float(number) * _UNIT_SECONDS[unit.rstrip("s")]

    @property
    def metadata_path(self) -> str:
        """The Kinesis source's write-once end log lives beside the checkpoint."""
        assert self.checkpoint is not None
        return self.checkpoint.rstrip("/") + "/_kinesis_endlog"


def parse_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> IngestConfig:
    config = parse(
        IngestConfig,
        argv,
        env=env,
        prog="spark-submit jobs/stream_ingest.py",
        description="Read a Kinesis stream and write it, exactly once, to a Hive-partitioned Parquet lake "
        "with quarantine, de-duplication and Glue catalog registration.",
    )
    if config.starting_position == "AT_TIMESTAMP" and not config.starting_timestamp:
        raise ConfigError("--starting-timestamp", None, "a timestamp when --starting-position is AT_TIMESTAMP")
    if config.starting_timestamp is not None:
        if config.starting_position != "AT_TIMESTAMP":
            raise ConfigError(
                "--starting-timestamp", config.starting_timestamp, "no value unless --starting-position is AT_TIMESTAMP"
            )
        parse_timestamp_ms("--starting-timestamp", config.starting_timestamp)
    return config.resolved()
