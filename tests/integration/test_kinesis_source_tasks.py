"""The source against real kinesalite without Spark: task attempts, driver restarts, S3 end log.

The stream reader's methods are called in the order Spark calls them, so crash points that are
hard to hit with a real query (between claims, between attempts) are exact here.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from jobs.kinesis.endlog import open_end_log
from jobs.kinesis.options import KinesisOptions
from jobs.kinesis.source import KinesisStreamReader
from jobs.kinesis.task import ShardPartition, read_partition
from local.stack import ensure_bucket, ensure_stream
from streamlake.errors import SourceError

pytestmark = pytest.mark.integration


def new_stream(stack: Any, shards: int) -> str:
    name = f"task-{uuid.uuid4().hex[:10]}"
    ensure_stream(stack.client("kinesis"), name, shards=shards)
    return name


def put(stack: Any, stream: str, n: int, *, prefix: str = "r", hash_key: str | None = None) -> None:
    records = [{"PartitionKey": f"{prefix}{i}", "Data": f"{prefix}{i}".encode()} for i in range(n)]
    for rec in records:
        if hash_key is not None:
            rec["ExplicitHashKey"] = hash_key
    for i in range(0, n, 500):
        resp = stack.client("kinesis").put_records(StreamName=stream, Records=records[i : i + 500])
        assert resp["FailedRecordCount"] == 0


def options(stack: Any, stream: str, meta: str, **extra: str) -> KinesisOptions:
    return KinesisOptions.parse(
        {
            "streamName": stream,
            "endpointUrl": stack.kinesis_endpoint,
            "region": stack.region,
            "metadataPath": meta,
            "startingPosition": "TRIM_HORIZON",
            "describeShardIntervalSec": "0",
            "emulatorQuirks": "true",  # kinesalite
            **extra,
        }
    )


def read_all(reader: KinesisStreamReader, parts: list[Any]) -> dict[str, pa.Table]:
    return {p.shard_id: table(reader.read(p)) for p in parts}


def table(batches: Any) -> pa.Table:
    got = list(batches)
    return pa.Table.from_batches(got) if got else pa.table({"data": pa.array([], pa.binary())})


def test_a_slower_attempt_that_read_further_fails_and_the_retry_replays(stack: Any, tmp_path: Path) -> None:
    stream = new_stream(stack, 1)
    put(stack, stream, 30)
    part = ShardPartition(
        options=options(stack, stream, str(tmp_path), maxRecordsPerShard="20"),
        run="r", epoch=1, shard_id="shardId-000000000000", start="TRIM_HORIZON",
    )  # fmt: skip
    small = ShardPartition(
        **{**part.__dict__, "options": options(stack, stream, str(tmp_path), maxRecordsPerShard="7")}
    )
    slow = read_partition(part)
    next(slow)  # found no claim; reads freely up to 20
    winner = table(read_partition(small))  # a faster attempt (other limits) claims 7
    with pytest.raises(SourceError, match="another attempt already claimed"):
        list(slow)
    retry = table(read_partition(part))
    assert retry.equals(winner) and winner.num_rows == 7
    assert winner.column("data").to_pylist() == [f"r{i}".encode() for i in range(7)]


def test_driver_restart_after_some_shards_claimed_replays_them_exactly(stack: Any, tmp_path: Path) -> None:
    stream = new_stream(stack, 3)
    put(stack, stream, 60)
    opts = options(stack, stream, str(tmp_path), maxRecordsPerShard="8")
    driver = KinesisStreamReader(opts)
    end = driver.latestOffset()  # Spark's first call, before initialOffset
    start = driver.initialOffset()
    assert start["run"] == end["run"] and end["epoch"] == 1
    parts = list(driver.partitions(start, end))
    first = table(driver.read(parts[0]))  # one task finished and claimed, then the driver died
    put(stack, stream, 30, prefix="late")  # free reading would now see more

    restarted = KinesisStreamReader(opts)
    assert restarted.partitions(end, end) == []  # Spark's restart probe
    restarted.initialOffset()
    replay = list(restarted.partitions(restarted.initialOffset(), end))
    assert [p.shard_id for p in replay] == [p.shard_id for p in parts]
    tables = read_all(restarted, replay)
    assert tables[parts[0].shard_id].equals(first)
    again = read_all(restarted, replay)  # e.g. foreachBatch running a second action
    assert all(again[s].equals(t) for s, t in tables.items())

    seen = [d for t in tables.values() for d in t.column("data").to_pylist()]
    for _ in range(30):
        nxt = restarted.latestOffset()
        if nxt == end:
            break
        batch = read_all(restarted, list(restarted.partitions(end, nxt)))
        seen += [d for t in batch.values() for d in t.column("data").to_pylist()]
        end = nxt
        if all(not t.num_rows for t in batch.values()):
            break
    expected = [f"r{i}".encode() for i in range(60)] + [f"late{i}".encode() for i in range(30)]
    assert sorted(seen) == sorted(expected)


def test_latest_on_idle_shards_costs_no_hang_and_reads_only_new_records(stack: Any, tmp_path: Path) -> None:
    stream = new_stream(stack, 2)
    put(stack, stream, 5, prefix="old")
    opts = options(stack, stream, str(tmp_path), startingPosition="LATEST", atTimestampTimeoutSec="0.3")
    driver = KinesisStreamReader(opts)
    prev = driver.initialOffset()
    began = time.monotonic()
    end = driver.latestOffset()
    tables = read_all(driver, list(driver.partitions(prev, end)))
    assert tables and all(t.num_rows == 0 for t in tables.values()) and time.monotonic() - began < 10
    put(stack, stream, 4, prefix="new", hash_key="0")
    nxt = driver.latestOffset()
    tables = read_all(driver, list(driver.partitions(end, nxt)))
    assert sorted(d for t in tables.values() for d in t.column("data").to_pylist()) == [
        f"new{i}".encode() for i in range(4)
    ]


def test_a_closed_parent_is_read_to_its_end_then_children(stack: Any, tmp_path: Path) -> None:
    kinesis = stack.client("kinesis")
    stream = new_stream(stack, 1)
    put(stack, stream, 10, prefix="before")
    opts = options(stack, stream, str(tmp_path))
    driver = KinesisStreamReader(opts)
    prev, end = driver.initialOffset(), driver.latestOffset()
    read_all(driver, list(driver.partitions(prev, end)))  # everything read; the parent is at the tip
    kinesis.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127))
    ensure_stream(kinesis, stream, shards=1)
    put(stack, stream, 10, prefix="after")
    seen: list[bytes] = []
    shards_by_epoch = []
    for _ in range(4):
        nxt = driver.latestOffset()
        shards_by_epoch.append(sorted(nxt["shards"]))
        seen += [d for t in read_all(driver, list(driver.partitions(end, nxt))).values() for d in t["data"].to_pylist()]
        end = nxt
    assert shards_by_epoch[0] == ["shardId-000000000000"]  # drained to SHARD_END first
    assert shards_by_epoch[1] == ["shardId-000000000001", "shardId-000000000002"]
    assert sorted(seen) == sorted(f"after{i}".encode() for i in range(10))


def test_end_log_on_s3(stack: Any, tmp_path: Path) -> None:
    bucket = f"meta-{uuid.uuid4().hex[:10]}"
    ensure_bucket(stack.client("s3"), bucket)
    stream = new_stream(stack, 1)
    put(stack, stream, 12)
    meta = f"s3://{bucket}/ck/q"
    opts = options(stack, stream, meta, s3EndpointUrl=stack.aws_endpoint, maxRecordsPerShard="5")
    part = ShardPartition(options=opts, run="r", epoch=1, shard_id="shardId-000000000000", start="TRIM_HORIZON")
    first = table(read_partition(part))
    put(stack, stream, 5, prefix="more")
    assert table(read_partition(part)).equals(first)
    entry = open_end_log(meta, s3_endpoint_url=stack.aws_endpoint).get("r/000000000001/shardId-000000000000.json")
    assert entry is not None and (entry["fetched"], entry["records"], entry["calls"]) == (5, 5, 1)
