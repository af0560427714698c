"""Driver-side helpers for jobs: per-epoch statistics from the end log, and a pre-flight check.

Spark has no source-metrics hook for Python sources before 4.2, so a job reads what its source did
from the end log, keyed by the offset Spark reports::

    end = query.lastProgress["sources"][0]["endOffset"]
    stats = epoch_stats(end, metadata_path)
    log.info("batch %d: %d rows, lag %s ms", batch_id, stats.records, stats.max_millis_behind_latest)
    if until_caught_up and stats.caught_up:
        query.stop()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from jobs.kinesis import planner
from jobs.kinesis.endlog import open_end_log
from jobs.kinesis.offsets import SourceOffset
from jobs.kinesis.shards import list_shards
from streamlake import aws
from streamlake.errors import SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochStats:
    """What the source did in one epoch (one micro-batch), summed over its shards.

    ``records`` are rows emitted (after KPL de-aggregation and hash-range filtering);
    ``fetched_records`` are Kinesis records returned by GetRecords. ``caught_up`` means every
    tracked shard reported it was at the tip and none closed (so no child shard is pending).
    ``missing`` counts shards with no end-log entry (partition not consumed, or epoch 0).
    """

    epoch: int
    records: int
    bytes: int
    max_millis_behind_latest: int | None
    shards: int
    caught_up: bool
    fetched_records: int
    get_records_calls: int
    throttles: int
    missing: int = 0
    drained: int = 0
    caught_up_at_ms: int | None = None


def epoch_stats(
    end_offset_json: str | Mapping[str, Any],
    metadata_path: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    s3_endpoint_url: str | None = None,
) -> EpochStats:
    """Statistics of the epoch named in ``end_offset_json`` (Spark's ``endOffset`` for the source).

    ``endpoint_url`` and ``region`` address Kinesis, as for the source's options: when either is
    given and the end log says the epoch caught up, one ``ListShards`` also checks that no open
    shard is untracked (a reshard the source's last listing had not shown yet), so ``caught_up``
    is exact. ``s3_endpoint_url`` addresses S3 when ``metadata_path`` is ``s3://...``.
    """
    offset = SourceOffset.from_json(end_offset_json)
    end_log = open_end_log(metadata_path, s3_endpoint_url=s3_endpoint_url, region=region)
    entries = planner.read_entries(end_log, offset)
    present = [e for e in entries.values() if e is not None]
    behind = [int(e["millisBehindLatest"]) for e in present if e.get("millisBehindLatest") is not None]
    caught_up = planner.epoch_caught_up(offset, entries)
    if caught_up and (endpoint_url or region):
        caught_up = not _untracked_open_shards(offset, endpoint_url, region)
    return EpochStats(
        epoch=offset.epoch,
        records=sum(int(e.get("records", 0)) for e in present),
        bytes=sum(int(e.get("bytes", 0)) for e in present),
        max_millis_behind_latest=max(behind) if behind else None,
        shards=len(offset.shards),
        caught_up=caught_up,
        fetched_records=sum(int(e.get("fetched", 0)) for e in present),
        get_records_calls=sum(int(e.get("calls", 0)) for e in present),
        throttles=sum(int(e.get("throttles", 0)) for e in present),
        missing=len(entries) - len(present),
        drained=sum(1 for e in present if e.get("end") == "SHARD_END"),
        caught_up_at_ms=planner.caught_up_at_ms(offset, entries),
    )


def _untracked_open_shards(offset: SourceOffset, endpoint_url: str | None, region: str | None) -> list[str]:
    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
    client = aws.client("kinesis", endpoint_url=endpoint_url, region=region, config=config)
    try:
        listed = list_shards(client, offset.stream, attempts=2)
    except SourceError as exc:
        log.warning("cannot confirm %s is caught up: %s", offset.stream, exc)
        return ["?"]  # unknown: not caught up, the next batch asks again
    untracked = [s.shard_id for s in listed if not s.closed and s.shard_id not in offset.shards]
    if untracked:
        log.info("%s: open shards %s are not read yet (a reshard); not caught up", offset.stream, untracked)
    return untracked


def await_caught_up(
    query: Any,
    metadata_path: str,
    *,
    timeout: float = 120.0,
    since_ms: int | None = None,
    poll_sec: float = 0.1,
    endpoint_url: str | None = None,
    region: str | None = None,
    s3_endpoint_url: str | None = None,
    source_index: int = 0,
) -> EpochStats:
    """Block until ``query`` completes an epoch that caught up on every shard after ``since_ms``.

    Every record put before ``since_ms`` (default: now) has then been delivered. Raises
    SourceError if the query stops or ``timeout`` passes first. Unlike ``processAllAvailable``
    this needs no ``idleIntervalSec``: the source keeps planning batches and this watches them.
    """
    since = int(time.time() * 1000) if since_ms is None else since_ms
    deadline = time.monotonic() + timeout
    last: EpochStats | None = None
    while True:
        if not query.isActive:
            raise SourceError(f"query stopped before catching up: {query.exception()}")
        progress = query.lastProgress
        sources = progress["sources"] if progress else []
        end = sources[source_index]["endOffset"] if len(sources) > source_index else None
        if end:
            last = epoch_stats(
                end, metadata_path, endpoint_url=endpoint_url, region=region, s3_endpoint_url=s3_endpoint_url
            )
            if last.caught_up_at_ms is not None and last.caught_up_at_ms >= since:
                return last
        if time.monotonic() > deadline:
            raise SourceError(f"not caught up within {timeout:g}s; last epoch: {last}")
        time.sleep(poll_sec)


def validate_stream(
    stream_name: str, endpoint_url: str | None = None, region: str | None = None, timeout: float = 10.0
) -> dict[str, Any]:
    """Fail fast with a clear SourceError if the stream is unknown or the endpoint unreachable.

    Returns the stream's ``DescribeStreamSummary`` (name, ARN, status, open shard count).
    """
    where = endpoint_url or f"AWS ({region or 'default region'})"
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"})
    client = aws.client("kinesis", endpoint_url=endpoint_url, region=region, config=config)
    try:
        summary: dict[str, Any] = client.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    except client.exceptions.ResourceNotFoundException as exc:
        raise SourceError(f"Kinesis stream {stream_name!r} does not exist at {where}") from exc
    except ClientError as exc:
        raise SourceError(f"cannot describe Kinesis stream {stream_name!r} at {where}: {exc}") from exc
    except BotoCoreError as exc:
        raise SourceError(f"cannot reach Kinesis at {where} within {timeout:g}s: {exc}") from exc
    if summary.get("StreamStatus") not in ("ACTIVE", "UPDATING"):
        raise SourceError(f"Kinesis stream {stream_name!r} at {where} is {summary.get('StreamStatus')}, not ACTIVE")
    return summary
