"""The kinesis source end to end: real Spark, real kinesalite, exactly-once delivery."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from jobs.kinesis import KinesisDataSource, kpl
from jobs.kinesis.progress import await_caught_up
from local.stack import ensure_stream

pytestmark = pytest.mark.integration

Row = tuple[int, str, str, int, str, bytes]  # batch, shard, seq, sub_seq, partition key, data


@pytest.fixture(scope="module")
def kspark(spark: Any) -> Any:
    spark.dataSource.register(KinesisDataSource)
    return spark


def new_stream(stack: Any, shards: int) -> str:
    name = f"it-{uuid.uuid4().hex[:10]}"
    ensure_stream(stack.client("kinesis"), name, shards=shards)
    return name


def put(stack: Any, stream: str, records: Iterable[tuple[str, bytes]], *, hash_key: str | None = None) -> None:
    client = stack.client("kinesis")
    batch: list[dict[str, Any]] = []
    for pk, data in records:
        rec: dict[str, Any] = {"PartitionKey": pk, "Data": data}
        if hash_key is not None:
            rec["ExplicitHashKey"] = hash_key
        batch.append(rec)
        if len(batch) == 500:
            assert client.put_records(StreamName=stream, Records=batch)["FailedRecordCount"] == 0
            batch = []
    if batch:
        assert client.put_records(StreamName=stream, Records=batch)["FailedRecordCount"] == 0


def rounds(keys: list[str], *rs: int) -> list[tuple[str, bytes]]:
    return [(k, f"{k}:{r}".encode()) for r in rs for k in keys]


class Collector:
    """foreachBatch sink; with ``two_actions`` it also counts first (both must see the same rows)."""

    def __init__(self, *, two_actions: bool = False) -> None:
        self.two_actions = two_actions
        self.rows: list[Row] = []
        self.batches: dict[int, list[Row]] = defaultdict(list)

    def __call__(self, df: Any, batch_id: int) -> None:
        count = df.count() if self.two_actions else None
        got = df.select("shard_id", "sequence_number", "sub_sequence_number", "partition_key", "data").collect()
        assert count in (None, len(got)), f"batch {batch_id}: count {count} != collected {len(got)}"
        rows = [(batch_id, r[0], r[1], r[2], r[3], bytes(r[4])) for r in got]
        self.rows.extend(rows)
        self.batches[batch_id].extend(rows)

    def payloads(self) -> Counter[tuple[str, bytes]]:
        return Counter((r[4], r[5]) for r in self.rows)


def start(kspark: Any, stack: Any, stream: str, tmp: Path, sink: Collector, **options: str) -> Any:
    reader = (
        kspark.readStream.format("kinesis")
        .option("streamName", stream)
        .option("endpointUrl", stack.kinesis_endpoint)
        .option("region", stack.region)
        .option("startingPosition", "TRIM_HORIZON")
        .option("metadataPath", str(tmp / "meta"))
        .option("describeShardIntervalSec", "1")
        .option("emulatorQuirks", "true")  # kinesalite
    )
    for key, value in options.items():
        reader = reader.option(key, value)
    return (
        reader.load()
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(tmp / "checkpoint"))
        .trigger(processingTime="100 milliseconds")
        .start()
    )


def caught_up(query: Any, tmp: Path, stack: Any) -> None:
    await_caught_up(query, str(tmp / "meta"), timeout=90, endpoint_url=stack.kinesis_endpoint, region=stack.region)


def entries(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp / "meta").glob("*/*/*.json"))]


def assert_exactly_once(sink: Collector, expected: Iterable[tuple[str, bytes]]) -> None:
    positions = Counter((r[1], r[2], r[3]) for r in sink.rows)
    assert not [p for p, n in positions.items() if n > 1], "a (shard, seq, sub_seq) arrived twice"
    assert sink.payloads() == Counter(expected)


def assert_key_order(sink: Collector) -> None:
    """Per partition key, rounds arrive in put order: a parent's records before its children's."""
    by_key: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
    for batch, _shard, seq, sub, pk, data in sink.rows:
        by_key[pk].append((batch, int(seq), sub, int(data.decode().split(":")[1])))
    for pk, got in by_key.items():
        order = [r for *_, r in sorted(got)]
        assert order == sorted(order), f"{pk} out of order: {order}"


def test_four_shards_every_record_once_within_budgets_with_kpl(kspark: Any, stack: Any, tmp_path: Path) -> None:
    stream = new_stream(stack, 4)
    keys = [f"k{i}" for i in range(100)]
    expected = rounds(keys, 0, 1, 2)
    put(stack, stream, expected)
    # KPL aggregates, grouped by shard as the KPL does, routed by explicit hash key.
    shard0 = stack.client("kinesis").list_shards(StreamName=stream)["Shards"][0]["HashKeyRange"]
    lo, hi = int(shard0["StartingHashKey"]), int(shard0["EndingHashKey"])
    agg_keys = [k for k in (f"a{i}" for i in range(400)) if lo <= kpl.hash_key(k) <= hi][:30]
    agg_records = rounds(agg_keys, 0)
    for agg in kpl.aggregate(agg_records, max_bytes=200):
        put(stack, stream, [(agg.partition_key, agg.data)], hash_key=agg.explicit_hash_key)
    expected += agg_records

    sink = Collector(two_actions=True)  # the second action replays each partition from the end log
    query = start(kspark, stack, stream, tmp_path, sink, maxRecordsPerShard="40")
    try:
        caught_up(query, tmp_path, stack)
    finally:
        query.stop()

    assert_exactly_once(sink, expected)
    assert any(r[3] > 0 for r in sink.rows), "aggregates were not de-aggregated"
    claimed = entries(tmp_path)
    kinesis_records = 300 + sum(1 for _ in kpl.aggregate(agg_records, max_bytes=200))
    assert sum(e["fetched"] for e in claimed) == kinesis_records  # no Kinesis record fetched twice
    assert sum(e["records"] for e in claimed) == len(expected)
    assert max(e["fetched"] for e in claimed) <= 40
    assert len(sink.batches) > 2  # the budget spread the backlog over several micro-batches


def test_restart_from_checkpoint_reads_only_new_records(kspark: Any, stack: Any, tmp_path: Path) -> None:
    stream = new_stream(stack, 2)
    keys = [f"k{i}" for i in range(20)]
    put(stack, stream, rounds(keys, 0))
    first = Collector()
    query = start(kspark, stack, stream, tmp_path, first)
    try:
        caught_up(query, tmp_path, stack)
    finally:
        query.stop()
    put(stack, stream, rounds(keys, 1))
    second = Collector()
    query = start(kspark, stack, stream, tmp_path, second)
    try:
        caught_up(query, tmp_path, stack)
    finally:
        query.stop()
    assert_exactly_once(first, rounds(keys, 0))
    assert_exactly_once(second, rounds(keys, 1))


def test_split_and_merge_during_a_run_and_while_down(kspark: Any, stack: Any, tmp_path: Path) -> None:
    kinesis = stack.client("kinesis")
    stream = new_stream(stack, 4)
    keys = [f"k{i}" for i in range(60)]
    shards = {s["ShardId"]: s for s in kinesis.list_shards(StreamName=stream)["Shards"]}
    ids = sorted(shards)
    sink = Collector()
    put(stack, stream, rounds(keys, 0, 1))
    # ListShards every epoch: "caught up" can only know of a reshard the last listing showed.
    query = start(kspark, stack, stream, tmp_path, sink, maxRecordsPerShard="50", describeShardIntervalSec="0")
    try:
        caught_up(query, tmp_path, stack)
        put(stack, stream, rounds(keys, 2))
        rng = shards[ids[0]]["HashKeyRange"]
        mid = (int(rng["StartingHashKey"]) + int(rng["EndingHashKey"])) // 2
        kinesis.split_shard(StreamName=stream, ShardToSplit=ids[0], NewStartingHashKey=str(mid))
        ensure_stream(kinesis, stream, shards=4)
        put(stack, stream, rounds(keys, 3, 4))
        kinesis.merge_shards(StreamName=stream, ShardToMerge=ids[2], AdjacentShardToMerge=ids[3])
        ensure_stream(kinesis, stream, shards=4)
        put(stack, stream, rounds(keys, 5, 6))
        caught_up(query, tmp_path, stack)
    finally:
        query.stop()
    rng = shards[ids[1]]["HashKeyRange"]
    mid = (int(rng["StartingHashKey"]) + int(rng["EndingHashKey"])) // 2
    kinesis.split_shard(StreamName=stream, ShardToSplit=ids[1], NewStartingHashKey=str(mid))
    ensure_stream(kinesis, stream, shards=4)
    put(stack, stream, rounds(keys, 7, 8))
    query = start(kspark, stack, stream, tmp_path, sink, maxRecordsPerShard="50", describeShardIntervalSec="0")
    try:
        caught_up(query, tmp_path, stack)
    finally:
        query.stop()

    assert_exactly_once(sink, rounds(keys, *range(9)))
    assert_key_order(sink)
    read_from = {r[1] for r in sink.rows}
    assert len(read_from) == 4 + 2 + 1 + 2, f"not every parent and child was read: {sorted(read_from)}"
    last_rounds = {r[1] for r in sink.rows if r[5].endswith(b":8")}
    assert not last_rounds & {ids[0], ids[1], ids[2], ids[3]}, "closed parents served new records"


def test_an_idle_shard_from_latest_neither_hangs_nor_reads_old_records(kspark: Any, stack: Any, tmp_path: Path) -> None:
    stream = new_stream(stack, 2)
    put(stack, stream, [(f"old{i}", b"old") for i in range(20)])
    sink = Collector()
    query = start(
        kspark, stack, stream, tmp_path, sink,
        startingPosition="LATEST", idleIntervalSec="2", atTimestampTimeoutSec="0.3",
    )  # fmt: skip
    try:
        query.processAllAvailable()
        new = [(f"new{i}", f"new{i}".encode()) for i in range(30)]
        put(stack, stream, new, hash_key="0")  # all to the first shard; the second stays idle
        time.sleep(2.2)  # past idleIntervalSec, so "no new data" needs a read that saw these
        began = time.monotonic()
        query.processAllAvailable()
        took = time.monotonic() - began
    finally:
        query.stop()
    assert_exactly_once(sink, new)
    assert took < 20
    idle = [e for e in entries(tmp_path) if e["shard"].endswith("1")]
    assert idle and all(e["calls"] <= 1 and e["caughtUp"] for e in idle)  # at most one call per epoch


def test_a_batch_replayed_after_its_commit_is_lost_has_the_same_rows(kspark: Any, stack: Any, tmp_path: Path) -> None:
    stream = new_stream(stack, 3)
    keys = [f"k{i}" for i in range(40)]
    put(stack, stream, rounds(keys, 0))
    first = Collector()
    query = start(kspark, stack, stream, tmp_path, first, idleIntervalSec="3600")
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    assert list(first.batches) == [0] and len(first.rows) == 40  # one batch read all, then idle
    last = 0
    for name in (str(last), f".{last}.crc"):  # the sink ran, then the driver died before the commit
        (tmp_path / "checkpoint" / "commits" / name).unlink(missing_ok=True)
    put(stack, stream, rounds(keys, 1))  # a free re-read would now return more

    second = Collector()
    query = start(kspark, stack, stream, tmp_path, second)
    try:
        caught_up(query, tmp_path, stack)
    finally:
        query.stop()
    assert sorted(second.batches[last]) == sorted(first.batches[last])
    assert_exactly_once(second, rounds(keys, 0, 1))


def test_a_new_checkpoint_reusing_metadata_path_never_reads_stale_ends(kspark: Any, stack: Any, tmp_path: Path) -> None:
    stream = new_stream(stack, 2)
    keys = [f"k{i}" for i in range(20)]
    put(stack, stream, rounds(keys, 0))
    first = Collector()
    query = start(kspark, stack, stream, tmp_path, first, maxRecordsPerShard="5")
    try:
        caught_up(query, tmp_path, stack)
    finally:
        query.stop()
    shutil.rmtree(tmp_path / "checkpoint")
    put(stack, stream, rounds(keys, 1))
    second = Collector()
    query = start(kspark, stack, stream, tmp_path, second, maxRecordsPerShard="5")
    try:
        caught_up(query, tmp_path, stack)
    finally:
        query.stop()
    assert_exactly_once(second, rounds(keys, 0, 1))
    assert len({e["run"] for e in entries(tmp_path)}) == 2


def test_a_bad_option_fails_at_load_naming_it(kspark: Any) -> None:
    with pytest.raises(Exception, match="metadataPath"):
        kspark.readStream.format("kinesis").option("streamName", "s").load()
