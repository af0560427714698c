"""The executor side with a small fake Kinesis: budgets, pacing, backoff, replay, claims."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from jobs.kinesis.endlog import LocalEndLog
from jobs.kinesis.offsets import NOCHANGE, SHARD_END, Position
from jobs.kinesis.options import KinesisOptions, ReadBudget
from jobs.kinesis.reader import FetchStats, ShardReader, backoff_delay
from jobs.kinesis.task import ShardPartition, decide_end, read_partition
from streamlake.errors import DataLossError, SourceError

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def client_error(code: str, status: int = 400, op: str = "GetRecords", message: str = "") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op
    )


class FakeClock:
    """``sleep`` advances time; every sleep and call time is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


class FakeKinesis:
    """One stream in memory, enough of GetShardIterator/GetRecords for the reader.

    ``per_call`` caps records per response (real Kinesis also stops at 10 MiB); ``failures`` maps a
    GetRecords call number (1-based) to the exception it raises; ``gap`` empty-but-behind responses
    come first (a long empty region); ``closed`` ends the shard after its last record.
    """

    def __init__(self, shard_id: str = "shardId-0", n: int = 0, *, per_call: int = 10_000, size: int = 3) -> None:
        self.shard_id = shard_id
        self.records: list[dict[str, Any]] = []
        self.per_call = per_call
        self.failures: dict[int, Exception] = {}
        self.gap = 0
        self.closed = False
        self.behind_always_zero = False
        self.one_more_iterator = False
        self.hang_without_newer = False  # kinesalite: AT_TIMESTAMP with nothing since never answers
        self.slow_iterator_calls = 0  # this many GetShardIterator calls time out first (a slow network)
        self.limits: list[int] = []
        self.iterator_requests: list[dict[str, Any]] = []
        self.call_times: list[float] = []
        self.clock: FakeClock | None = None
        self.put(n, size=size)

    def put(self, n: int, *, size: int = 3, data: bytes | None = None) -> None:
        for _ in range(n):
            i = len(self.records)
            self.records.append(
                {
                    "SequenceNumber": str(10**20 + i),
                    "Data": data if data is not None else bytes([65 + i % 26]) * size,
                    "PartitionKey": f"pk{i}",
                    "ApproximateArrivalTimestamp": T0 + timedelta(seconds=i),
                }
            )

    def get_shard_iterator(self, *, StreamName: str, ShardId: str, ShardIteratorType: str, **kw: Any) -> dict[str, Any]:
        self.iterator_requests.append({"type": ShardIteratorType, **kw})
        if self.slow_iterator_calls > 0:
            self.slow_iterator_calls -= 1
            raise ReadTimeoutError(endpoint_url="http://slow")
        if ShardId != self.shard_id:
            raise client_error("ResourceNotFoundException", op="GetShardIterator")
        if ShardIteratorType == "TRIM_HORIZON":
            idx = 0
        elif ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            after = int(kw["StartingSequenceNumber"])
            idx = next((i for i, r in enumerate(self.records) if int(r["SequenceNumber"]) > after), len(self.records))
        else:
            times = [r["ApproximateArrivalTimestamp"] for r in self.records]
            if kw["Timestamp"] > T0 + timedelta(days=1):
                raise client_error(
                    "InvalidArgumentException",
                    op="GetShardIterator",
                    message="The timestampInMillis parameter cannot be greater than the currentTimestampInMillis.",
                )
            idx = next((i for i, t in enumerate(times) if t >= kw["Timestamp"]), len(times))
            if idx == len(times) and self.hang_without_newer:
                raise ReadTimeoutError(endpoint_url="http://kinesalite")  # it never answers
        return {"ShardIterator": f"it:{idx}"}

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self.limits.append(Limit)
        if self.clock is not None:
            self.call_times.append(self.clock.now)
        failure = self.failures.get(len(self.limits))
        if failure is not None:
            raise failure
        idx = int(ShardIterator.split(":")[1].rstrip("+"))
        if self.gap > 0:
            self.gap -= 1
            return {"Records": [], "NextShardIterator": f"it:{idx}", "MillisBehindLatest": 60_000}
        batch = self.records[idx : idx + min(Limit, self.per_call)]
        nxt = idx + len(batch)
        remaining = len(self.records) - nxt
        behind = 0 if (remaining == 0 or self.behind_always_zero) else 1_000
        resp: dict[str, Any] = {"Records": [dict(r) for r in batch], "MillisBehindLatest": behind}
        if not (self.closed and remaining == 0):
            resp["NextShardIterator"] = f"it:{nxt}"
        elif self.one_more_iterator and not ShardIterator.endswith("+"):
            resp["NextShardIterator"] = f"it:{nxt}+"  # kinesalite: one more iterator before the end
        return resp


def make_reader(
    fake: FakeKinesis, clock: FakeClock | None = None, *, emulator_quirks: bool = False, **budget: Any
) -> ShardReader:
    clock = clock or FakeClock()
    fake.clock = clock
    return ShardReader(
        fake,
        stream="s",
        shard_id=fake.shard_id,
        budget=ReadBudget(**budget),
        clock=clock,
        rng=lambda: 1.0,
        emulator_quirks=emulator_quirks,
    )


def seqs(batches: Iterator[list[dict[str, Any]]]) -> list[str]:
    return [r["SequenceNumber"] for batch in batches for r in batch]


# --- budgets and stopping --------------------------------------------------------------------


def test_limit_is_the_remaining_record_budget_capped_at_10000() -> None:
    fake = FakeKinesis(n=25, per_call=8)
    reader = make_reader(fake, max_records=20)
    got = seqs(reader.read(Position.trim_horizon()))
    assert fake.limits == [20, 12, 4]
    assert len(got) == 20 and reader.stats.stop_reason == "max_records"

    big = FakeKinesis(n=5)
    make_reader(big, max_records=50_000).read(Position.trim_horizon()).__next__()
    assert big.limits == [10_000]


def test_consecutive_epochs_fetch_every_record_exactly_once() -> None:
    fake = FakeKinesis(n=25)
    fetched: list[str] = []
    start = Position.trim_horizon()
    for _ in range(3):
        reader = make_reader(fake, max_records=10)
        fetched += seqs(reader.read(start))
        start = Position.parse(decide_end(start, reader.stats, margin_ms=0))
    assert fetched == [r["SequenceNumber"] for r in fake.records]
    assert fake.limits == [10, 10, 10]  # one call per epoch, each asking for exactly the budget
    assert reader.stats.caught_up


def test_stops_at_the_tip_after_one_call_on_an_idle_shard() -> None:
    fake = FakeKinesis(n=0)
    reader = make_reader(fake)
    assert seqs(reader.read(Position.trim_horizon())) == []
    assert fake.limits == [10_000]
    assert reader.stats.caught_up and reader.stats.tip_ms is not None


def test_a_full_response_reporting_zero_behind_is_not_taken_as_caught_up() -> None:
    # kinesalite reports MillisBehindLatest=0 even when more records follow; a response that
    # filled its Limit may have more behind it, so only a short one proves the tip.
    fake = FakeKinesis(n=10)
    fake.behind_always_zero = True
    reader = make_reader(fake, max_records=10)
    assert len(seqs(reader.read(Position.trim_horizon()))) == 10
    assert not reader.stats.caught_up and reader.stats.stop_reason == "max_records"

    fake.put(5)
    start = Position.after(fake.records[9]["SequenceNumber"])
    reader = make_reader(fake, max_records=10)
    assert len(seqs(reader.read(start))) == 5
    assert reader.stats.caught_up


def test_byte_and_time_budgets_stop_between_responses() -> None:
    fake = FakeKinesis(n=40, per_call=10, size=100)
    reader = make_reader(fake, max_bytes=1_500)
    assert len(seqs(reader.read(Position.trim_horizon()))) == 20  # never part of a response
    assert reader.stats.stop_reason == "max_bytes"

    fake = FakeKinesis(n=40, per_call=10)
    reader = make_reader(fake, max_fetch_time_sec=0.3)
    assert len(seqs(reader.read(Position.trim_horizon()))) == 20  # calls 0.2 s apart
    assert reader.stats.stop_reason == "max_fetch_time"


def test_an_empty_region_is_walked_past_the_fetch_time_but_not_past_the_cap() -> None:
    fake = FakeKinesis(n=5)
    fake.gap = 6
    reader = make_reader(fake, max_fetch_time_sec=0.0)
    assert len(seqs(reader.read(Position.trim_horizon()))) == 5
    assert reader.stats.caught_up

    fake = FakeKinesis(n=5)
    fake.gap = 100
    reader = make_reader(fake, max_fetch_time_sec=0.0, max_empty_walk_sec=1.0)
    assert seqs(reader.read(Position.trim_horizon())) == []
    assert reader.stats.stop_reason == "empty_walk_cap" and len(fake.limits) == 5  # 5 calls fit in 1 s


def test_a_closed_shard_reports_its_end() -> None:
    fake = FakeKinesis(n=3)
    fake.closed = True
    reader = make_reader(fake)
    assert len(seqs(reader.read(Position.trim_horizon()))) == 3
    assert reader.stats.shard_end and decide_end(Position.trim_horizon(), reader.stats, margin_ms=0) == SHARD_END


def test_a_shard_listed_as_closed_is_read_to_its_real_end() -> None:
    fake = FakeKinesis(n=3)
    fake.closed = fake.one_more_iterator = True
    open_reader = make_reader(fake)
    assert len(seqs(open_reader.read(Position.trim_horizon()))) == 3
    assert open_reader.stats.caught_up and not open_reader.stats.shard_end  # looks like the tip

    closed_reader = ShardReader(fake, stream="s", shard_id=fake.shard_id, budget=ReadBudget(), clock=FakeClock(),
                                closed=True)  # fmt: skip
    assert len(seqs(closed_reader.read(Position.trim_horizon()))) == 3
    assert closed_reader.stats.shard_end and not closed_reader.stats.caught_up


def test_a_slow_at_timestamp_call_is_retried_and_never_moves_the_position() -> None:
    """On AWS a read timeout is only a slow call: the records after the timestamp are all read."""
    fake = FakeKinesis(n=5)
    fake.slow_iterator_calls = 3  # the first three GetShardIterator calls time out
    start = Position.at_timestamp(int((T0 + timedelta(seconds=2)).timestamp() * 1000))
    reader = make_reader(fake)
    assert seqs(reader.read(start)) == [r["SequenceNumber"] for r in fake.records[2:]]
    assert reader.stats.retries == 3 and reader.stats.last_seq == fake.records[-1]["SequenceNumber"]


def test_a_slow_call_with_nothing_since_retries_until_it_gives_up_without_claiming_a_tip() -> None:
    fake = FakeKinesis(n=3)
    fake.hang_without_newer = True  # kinesalite's behaviour, seen without the emulator option
    later = Position.at_timestamp(int((T0 + timedelta(hours=1)).timestamp() * 1000))
    reader = make_reader(fake, max_retries=4)
    with pytest.raises(SourceError, match="GetShardIterator"):
        list(reader.read(later))
    assert reader.stats.tip_ms is None and not reader.stats.caught_up


def test_with_emulator_quirks_an_unanswered_at_timestamp_walks_from_the_start() -> None:
    fake = FakeKinesis(n=3)
    fake.hang_without_newer = True
    later = Position.at_timestamp(int((T0 + timedelta(hours=1)).timestamp() * 1000))
    reader = make_reader(fake, emulator_quirks=True)
    assert seqs(reader.read(later)) == []
    assert reader.stats.caught_up and reader.stats.tip_ms is not None  # the tip was really seen
    assert [r["type"] for r in fake.iterator_requests] == ["AT_TIMESTAMP", "TRIM_HORIZON"]

    # A slow answer while records do exist after the timestamp: they are read, none skipped.
    fake = FakeKinesis(n=5)
    fake.slow_iterator_calls = 1
    start = Position.at_timestamp(int((T0 + timedelta(seconds=2)).timestamp() * 1000))
    reader = make_reader(fake, emulator_quirks=True)
    assert seqs(reader.read(start)) == [r["SequenceNumber"] for r in fake.records[2:]]
    assert reader.stats.fetched == 3


def test_a_timestamp_ahead_of_kinesis_is_the_tip_and_an_earlier_one_reads_on() -> None:
    fake = FakeKinesis(n=3)
    future = Position.at_timestamp(int((T0 + timedelta(days=2)).timestamp() * 1000))
    reader = make_reader(fake)
    assert seqs(reader.read(future)) == [] and reader.stats.caught_up  # clock ahead of Kinesis

    earlier = Position.at_timestamp(int((T0 + timedelta(seconds=1)).timestamp() * 1000))
    assert seqs(make_reader(fake).read(earlier)) == [r["SequenceNumber"] for r in fake.records[1:]]


# --- pacing, backoff, iterator refresh ----------------------------------------------------


def test_calls_are_paced_to_five_per_second_and_by_bytes() -> None:
    fake = FakeKinesis(n=20, per_call=4)
    reader = make_reader(fake, max_records=20)
    list(reader.read(Position.trim_horizon()))
    gaps = [b - a for a, b in zip(fake.call_times, fake.call_times[1:], strict=False)]
    assert gaps and min(gaps) >= 0.2 - 1e-9

    big = FakeKinesis(n=4, per_call=2, size=1024 * 1024)  # 2 MiB per response = 1 s of the shard's 2 MB/s
    reader = make_reader(big, max_records=4)
    list(reader.read(Position.trim_horizon()))
    assert big.call_times[1] - big.call_times[0] >= 1.0 - 1e-9


def test_backoff_is_full_jitter_and_capped() -> None:
    assert backoff_delay(0, base=0.1, cap=5.0, rng=lambda: 1.0) == pytest.approx(0.1)
    assert backoff_delay(3, base=0.1, cap=5.0, rng=lambda: 1.0) == pytest.approx(0.8)
    assert backoff_delay(20, base=0.1, cap=5.0, rng=lambda: 1.0) == pytest.approx(5.0)
    assert backoff_delay(3, base=0.1, cap=5.0, rng=lambda: 0.25) == pytest.approx(0.2)
    assert backoff_delay(3, base=0.1, cap=5.0, rng=lambda: 0.0) == 0.0


def test_throttling_and_5xx_are_retried_and_counted() -> None:
    fake = FakeKinesis(n=5)
    fake.failures = {
        1: client_error("ProvisionedThroughputExceededException"),
        2: client_error("LimitExceededException"),
        3: client_error("InternalFailure", 500),
        4: client_error("Whatever", 503),
    }
    clock = FakeClock()
    reader = make_reader(fake, clock)
    assert len(seqs(reader.read(Position.trim_horizon()))) == 5
    assert (reader.stats.throttles, reader.stats.retries, reader.stats.calls) == (2, 4, 5)
    # rng() == 1.0 gives the upper bound of each full-jitter window: 0.1, 0.2, 0.4, 0.8
    for expected in (0.1, 0.2, 0.4, 0.8):
        assert any(s == pytest.approx(expected) for s in clock.sleeps)


def test_gives_up_after_max_retries_and_fails_at_once_on_other_errors() -> None:
    fake = FakeKinesis(n=5)
    fake.failures = {i: client_error("ProvisionedThroughputExceededException") for i in range(1, 10)}
    with pytest.raises(SourceError, match="failed 3 times"):
        list(make_reader(fake, max_retries=3).read(Position.trim_horizon()))

    fake = FakeKinesis(n=5)
    fake.failures = {1: client_error("AccessDeniedException")}
    with pytest.raises(SourceError, match="AccessDenied"):
        list(make_reader(fake).read(Position.trim_horizon()))


def test_an_expired_iterator_resumes_after_the_last_record() -> None:
    fake = FakeKinesis(n=30, per_call=10)
    fake.failures = {2: client_error("ExpiredIteratorException")}
    reader = make_reader(fake, max_records=100)
    got = seqs(reader.read(Position.trim_horizon()))
    assert got == [r["SequenceNumber"] for r in fake.records]  # nothing twice, nothing skipped
    assert fake.iterator_requests[1] == {"type": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": got[9]}


# --- bounded replay ---------------------------------------------------------------------------


def test_replay_reads_exactly_to_the_claimed_end_even_with_more_data() -> None:
    fake = FakeKinesis(n=50)
    end = fake.records[11]["SequenceNumber"]
    reader = make_reader(fake)
    got = seqs(reader.replay(Position.after(fake.records[1]["SequenceNumber"]), end=f"AFTER_SEQUENCE_NUMBER:{end}",
                             expected_fetched=10))  # fmt: skip
    assert got == [r["SequenceNumber"] for r in fake.records[2:12]]
    assert fake.limits == [10]


def test_replay_detects_a_missing_end_record() -> None:
    fake = FakeKinesis(n=10)
    lost = fake.records.pop(5)["SequenceNumber"]
    with pytest.raises(DataLossError, match=lost):
        list(make_reader(fake).replay(Position.trim_horizon(), end=f"AFTER_SEQUENCE_NUMBER:{lost}", expected_fetched=6))
    reader = make_reader(fake)
    got = seqs(reader.replay(Position.trim_horizon(), end=f"AFTER_SEQUENCE_NUMBER:{lost}", expected_fetched=6,
                             fail_on_data_loss=False))  # fmt: skip
    assert len(got) == 5  # stops before the next epoch's records


def test_replay_of_an_empty_epoch_makes_no_call() -> None:
    fake = FakeKinesis(n=10)
    assert seqs(make_reader(fake).replay(Position.trim_horizon(), end=NOCHANGE, expected_fetched=0)) == []
    assert fake.limits == [] and fake.iterator_requests == []


# --- ends ------------------------------------------------------------------------------------


def test_reaching_the_tip_with_nothing_read_moves_a_timestamp_start_but_never_backwards() -> None:
    tip = FetchStats(caught_up=True, tip_ms=1_000_000, calls=3)
    assert decide_end(Position.trim_horizon(), tip, margin_ms=2_000) == "AT_TIMESTAMP:998000"
    one_call = FetchStats(caught_up=True, tip_ms=1_000_000, calls=1)
    assert decide_end(Position.trim_horizon(), one_call, margin_ms=2_000) == NOCHANGE  # an empty shard
    assert decide_end(Position.at_timestamp(990_000), tip, margin_ms=2_000) == "AT_TIMESTAMP:998000"
    assert decide_end(Position.at_timestamp(999_000), tip, margin_ms=2_000) == NOCHANGE
    assert decide_end(Position.after("42"), tip, margin_ms=2_000) == NOCHANGE
    assert decide_end(Position.trim_horizon(), FetchStats(stop_reason="empty_walk_cap"), margin_ms=0) == NOCHANGE
    assert decide_end(Position.trim_horizon(), FetchStats(last_seq="7", fetched=1), margin_ms=0) == (
        "AFTER_SEQUENCE_NUMBER:7"
    )


# --- one task: claim or replay ----------------------------------------------------------------


def partition(tmp_path: Path, *, max_records: int = 10, epoch: int = 1, start: str = "TRIM_HORIZON") -> ShardPartition:
    opts = KinesisOptions.parse(
        {"streamName": "s", "metadataPath": str(tmp_path / "meta"), "maxRecordsPerShard": str(max_records)}
    )
    return ShardPartition(options=opts, run="run1", epoch=epoch, shard_id="shardId-0", start=start)


def run_task(part: ShardPartition, fake: FakeKinesis, tmp_path: Path) -> pa.Table:
    end_log = LocalEndLog(tmp_path / "meta")
    clock = FakeClock()
    fake.clock = clock
    batches = list(read_partition(part, end_log=end_log, client=fake, clock=clock, rng=lambda: 0.0))
    return pa.Table.from_batches(batches) if batches else pa.table({})


def test_first_complete_attempt_claims_and_a_retry_replays_the_same_rows(tmp_path: Path) -> None:
    fake = FakeKinesis(n=15)
    first = run_task(partition(tmp_path, max_records=10), fake, tmp_path)
    entry = LocalEndLog(tmp_path / "meta").get("run1/000000000001/shardId-0.json")
    assert entry is not None
    assert (entry["fetched"], entry["records"], entry["calls"]) == (10, 10, 1)
    assert entry["end"] == f"AFTER_SEQUENCE_NUMBER:{fake.records[9]['SequenceNumber']}"

    fake.put(20)  # more data and a bigger budget must not change a replay
    retry = run_task(partition(tmp_path, max_records=1000), fake, tmp_path)
    assert retry.equals(first)
    assert first.column("sequence_number").to_pylist() == [r["SequenceNumber"] for r in fake.records[:10]]


def test_an_attempt_that_read_to_a_different_end_fails_after_the_winner_claimed(tmp_path: Path) -> None:
    fake = FakeKinesis(n=30)
    end_log = LocalEndLog(tmp_path / "meta")
    slow = read_partition(partition(tmp_path, max_records=25), end_log=end_log, client=fake, rng=lambda: 0.0)
    next(slow)  # the slow attempt found no claim and is reading freely
    winner = run_task(partition(tmp_path, max_records=10), fake, tmp_path)
    with pytest.raises(SourceError, match="another attempt already claimed"):
        list(slow)
    retry = run_task(partition(tmp_path, max_records=25), fake, tmp_path)
    assert retry.equals(winner) and retry.num_rows == 10


def test_duplicate_attempts_that_agree_both_succeed(tmp_path: Path) -> None:
    fake = FakeKinesis(n=8)
    end_log = LocalEndLog(tmp_path / "meta")
    a = read_partition(partition(tmp_path), end_log=end_log, client=fake, rng=lambda: 0.0)
    b = read_partition(partition(tmp_path), end_log=end_log, client=fake, rng=lambda: 0.0)
    first_a, first_b = next(a), next(b)
    assert list(a) == [] and list(b) == []
    assert first_a.equals(first_b)


def test_a_partition_consumed_only_in_part_claims_nothing(tmp_path: Path) -> None:
    fake = FakeKinesis(n=30, per_call=10)
    gen = read_partition(partition(tmp_path, max_records=30), end_log=LocalEndLog(tmp_path / "meta"), client=fake)
    next(gen)
    gen.close()
    assert LocalEndLog(tmp_path / "meta").get("run1/000000000001/shardId-0.json") is None


def test_a_vanished_shard_is_data_loss_unless_allowed(tmp_path: Path) -> None:
    fake = FakeKinesis(shard_id="other", n=3)
    with pytest.raises(DataLossError, match="failOnDataLoss"):
        run_task(partition(tmp_path), fake, tmp_path)


def test_tuples_when_arrow_batches_are_off(tmp_path: Path) -> None:
    fake = FakeKinesis(n=2)
    opts = KinesisOptions.parse({"streamName": "s", "metadataPath": str(tmp_path), "arrowBatches": "false"})
    part = ShardPartition(options=opts, run="r", epoch=1, shard_id="shardId-0", start="TRIM_HORIZON")
    rows = list(read_partition(part, end_log=LocalEndLog(tmp_path), client=fake, rng=lambda: 0.0))
    assert rows[0] == ("s", "shardId-0", fake.records[0]["SequenceNumber"], 0, "pk0", T0, b"AAA")
