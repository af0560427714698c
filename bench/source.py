"""Source efficiency on the kinesalite emulator: our Kinesis source vs a plain boto3 loop.

The same stream (``--source-events`` producer events over 4 shards) is read to the tip by

* the Kinesis Python data source in a streaming query whose ``foreachBatch`` only counts rows,
  stopped when ``epoch_stats`` says every shard caught up; the end log tells what it fetched,
  emitted and how many ``GetRecords`` calls it made;
* one thread calling ``GetRecords(Limit=10000)`` shard after shard until each is at the tip.

Notes
-----
kinesalite always answers ``MillisBehindLatest = 0``, so "at the tip" means a response with
``MillisBehindLatest == 0`` that was not full, the same rule the source's reader uses. The
emulator's own speed (a Node.js process on the same two cores) bounds both readers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.ingest.config import IngestConfig

SHARDS = 4
GET_RECORDS_LIMIT = 10_000


@dataclass(frozen=True)
class Produced:
    stream: str
    records: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class SourceRun:
    """One read of the whole stream by the Kinesis source."""

    seconds: float
    rows: int
    fetched: int
    emitted: int
    calls: int
    shard_batches: int
    batches: int
    throttles: int

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def fetched_per_emitted(self) -> float:
        return self.fetched / self.emitted if self.emitted else float("nan")

    @property
    def calls_per_shard_batch(self) -> float:
        return self.calls / self.shard_batches if self.shard_batches else float("nan")


@dataclass(frozen=True)
class LoopRun:
    """One read of the whole stream by the single-threaded boto3 loop."""

    seconds: float
    records: int
    calls: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def produce(kinesis: Any, stream: str, *, events: int, seed: int, progress: Callable[[str], None] = print) -> Produced:
    """Create ``stream`` (4 shards) and put ``events`` seeded producer events on it."""
    from local.producer import generate_events, send
    from local.stack import ensure_stream

    ensure_stream(kinesis, stream, shards=SHARDS)
    records = generate_events(events, seed=seed, now=datetime.now(UTC))
    sent = 0
    started = time.monotonic()
    chunk = max(1, events // 10)
    for i in range(0, len(records), chunk):
        part = records[i : i + chunk]
        send(part, kinesis_client=kinesis, stream=stream, progress=False)
        sent += len(part)
        progress(f"source: put {sent:,}/{events:,} events ({time.monotonic() - started:.0f} s)")
    return Produced(stream, sent, sum(len(r.data) for r in records), time.monotonic() - started)


def time_kinesis_source(
    spark: SparkSession,
    *,
    stream: str,
    endpoint_url: str,
    region: str,
    expected: int,
    workdir: Path,
    config: IngestConfig,
    timeout: float = 600.0,
) -> SourceRun:
    """Read ``stream`` from TRIM_HORIZON with the Kinesis source until every shard is caught up."""
    from jobs.kinesis import KinesisDataSource
    from jobs.kinesis.progress import epoch_stats

    spark.dataSource.register(KinesisDataSource)
    metadata = str(workdir / "endlog")
    counted: dict[int, int] = {}
    lock = threading.Lock()
    done = threading.Event()

    def count(df: DataFrame, batch_id: int) -> None:
        if done.is_set():
            return  # measured already: do not start reading while the query is being stopped
        n = df.count()
        with lock:
            counted[batch_id] = n

    raw = (
        spark.readStream.format("kinesis")
        .option("streamName", stream)
        .option("endpointUrl", endpoint_url)
        .option("region", region)
        .option("startingPosition", "TRIM_HORIZON")
        .option("metadataPath", metadata)
        .option("maxRecordsPerShard", str(config.max_records_per_shard))
        .option("maxBytesPerShard", str(config.max_bytes_per_shard))
        .option("emulatorQuirks", "true")  # kinesalite
        .load()
    )
    started = time.perf_counter()
    query = raw.writeStream.foreachBatch(count).option("checkpointLocation", str(workdir / "checkpoint")).start()
    seen: set[int] = set()
    totals = {"fetched": 0, "emitted": 0, "calls": 0, "shard_batches": 0, "throttles": 0, "batches": 0}
    finished: float | None = None
    try:
        while finished is None:
            if not query.isActive:
                raise RuntimeError(f"kinesis source query stopped: {query.exception()}")
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"kinesis source did not catch up within {timeout:.0f} s")
            for p in list(query.recentProgress):
                batch = int(p["batchId"])
                end = (p.get("sources") or [{}])[0].get("endOffset")
                if batch in seen or not end:
                    continue
                seen.add(batch)
                stats = epoch_stats(end if isinstance(end, str) else json.dumps(end), metadata)
                totals["fetched"] += stats.fetched_records
                totals["emitted"] += stats.records
                totals["calls"] += stats.get_records_calls
                totals["shard_batches"] += stats.shards - stats.missing
                totals["throttles"] += stats.throttles
                totals["batches"] += 1
                with lock:
                    rows = sum(counted.values())
                if stats.caught_up and rows >= expected:
                    finished = time.perf_counter()
                    done.set()
                    break
            time.sleep(0.05)
    finally:
        done.set()
        query.stop()
    with lock:
        rows = sum(counted.values())
    return SourceRun(
        seconds=finished - started,
        rows=rows,
        fetched=totals["fetched"],
        emitted=totals["emitted"],
        calls=totals["calls"],
        shard_batches=totals["shard_batches"],
        batches=totals["batches"],
        throttles=totals["throttles"],
    )


def time_boto3_loop(kinesis: Any, stream: str, *, within_limits: bool = False) -> LoopRun:
    """One thread, shard after shard, ``GetRecords(Limit=10000)`` from TRIM_HORIZON to the tip.

    ``within_limits`` spaces the calls of a shard as real Kinesis would force them to be (at most
    5 calls/s and 2 MB/s per shard, the limits the source paces itself to); the emulator has none.
    """
    from jobs.kinesis.options import KINESIS_BYTES_PER_SEC, KINESIS_CALLS_PER_SEC

    shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]
    records = calls = 0
    started = time.perf_counter()
    for shard in shards:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        next_call = 0.0
        while iterator:
            if within_limits:
                time.sleep(max(0.0, next_call - time.perf_counter()))
            call_started = time.perf_counter()
            resp = kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
            calls += 1
            got = len(resp["Records"])
            records += got
            size = sum(len(r["Data"]) for r in resp["Records"])
            next_call = call_started + max(1 / KINESIS_CALLS_PER_SEC, size / KINESIS_BYTES_PER_SEC)
            iterator = resp.get("NextShardIterator")
            if resp.get("MillisBehindLatest") == 0 and got < GET_RECORDS_LIMIT:
                break
    return LoopRun(time.perf_counter() - started, records, calls)
