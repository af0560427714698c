"""The sender against a small fake Kinesis client that records calls and fails chosen entries."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from random import Random
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobs.kinesis import kpl
from local.producer import ProducedRecord, RetryPolicy, SendError, generate_events, send

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0)
MiB = 1024 * 1024


class FakeKinesis:
    """Routes by MD5 like Kinesis, numbers records per shard, and fails what ``fail`` says.

    ``fail(call_number, request)`` returns an ErrorCode for an entry, or None to accept it.
    ``raise_on(call_number)`` may return a ClientError to raise for the whole call.
    """

    def __init__(
        self,
        shards: int = 4,
        fail: Callable[[int, dict[str, Any]], str | None] | None = None,
        raise_on: Callable[[int], ClientError | None] | None = None,
    ) -> None:
        step = 2**128 // shards
        self.ranges = [(i * step, (i + 1) * step - 1 if i < shards - 1 else 2**128 - 1) for i in range(shards)]
        self.fail = fail or (lambda call, req: None)
        self.raise_on = raise_on or (lambda call: None)
        self.calls: list[list[dict[str, Any]]] = []
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}
        self._seq = 0

    def shard_of(self, request: dict[str, Any]) -> str:
        key = int(request.get("ExplicitHashKey") or kpl.hash_key(request["PartitionKey"]))
        return next(f"shardId-{i:012d}" for i, (lo, hi) in enumerate(self.ranges) if lo <= key <= hi)

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        call = len(self.calls)
        self.calls.append(Records)
        error = self.raise_on(call)
        if error is not None:
            raise error
        results, failed = [], 0
        for req in Records:
            code = self.fail(call, req)
            if code:
                failed += 1
                results.append({"ErrorCode": code, "ErrorMessage": "slow down"})
                continue
            self._seq += 1
            shard, seq = self.shard_of(req), f"{self._seq:056d}"
            self.stored[(shard, seq)] = req
            results.append({"ShardId": shard, "SequenceNumber": seq})
        return {"FailedRecordCount": failed, "Records": results}

    def list_shards(self, **kwargs: Any) -> dict[str, Any]:
        # Two pages, to exercise NextToken.
        shards = [
            {
                "ShardId": f"shardId-{i:012d}",
                "HashKeyRange": {"StartingHashKey": str(lo), "EndingHashKey": str(hi)},
                "SequenceNumberRange": {"StartingSequenceNumber": "0"},
            }
            for i, (lo, hi) in enumerate(self.ranges)
        ]
        if "NextToken" in kwargs:
            return {"Shards": shards[2:]}
        return {"Shards": shards[:2], "NextToken": "page2"}


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutRecords")


def _records(n: int, size: int = 100, seed: int = 0) -> list[ProducedRecord]:
    rng = Random(seed)
    return [
        ProducedRecord(i, rng.randbytes(size), f"U{rng.randrange(10**7):07d}", "valid", "page_view", str(i))
        for i in range(n)
    ]


def test_calls_never_exceed_500_records_or_5_mib() -> None:
    # Mostly small records with some ~900 kB ones, so both limits bind.
    records = _records(1700, size=200)
    rng = Random(1)
    for r in rng.sample(records, 40):
        r.data = rng.randbytes(900_000)
    fake = FakeKinesis()
    result = send(records, kinesis_client=fake, stream="s", progress=False, retry=FAST)
    assert result.sent == 1700 and result.failed_retries == 0
    for call in fake.calls:
        assert len(call) <= 500
        assert sum(len(r["Data"]) + len(r["PartitionKey"].encode()) for r in call) <= 5 * MiB
    # The byte limit bound (a call was filled close to 5 MiB), and nothing was lost or repeated.
    assert max(sum(len(r["Data"]) for r in call) for call in fake.calls) > 4 * MiB
    assert sorted(r["Data"] for call in fake.calls for r in call) == sorted(r.data for r in records)


def test_every_record_gets_its_shard_and_sequence_number() -> None:
    records = generate_events(2000, seed=3, now=NOW)
    fake = FakeKinesis()
    seen: list[int] = []
    result = send(records, kinesis_client=fake, stream="s", progress=False, on_sent=lambda r: seen.append(r.index))
    assert sorted(seen) == list(range(2000))
    for r in records:
        stored = fake.stored[(r.shard_id, r.sequence_number)]  # type: ignore[index]
        assert stored["Data"] == r.data and stored["PartitionKey"] == r.partition_key
        assert r.sub_sequence_number == 0
    assert result.per_shard == dict(sorted(Counter(r.shard_id for r in records).items()))  # type: ignore[arg-type]
    assert sum(result.per_shard.values()) == 2000 and len(result.per_shard) == 4
    assert result.kinesis_records == 2000 and result.rate > 0


def test_batches_of_1200_small_records() -> None:
    fake = FakeKinesis()
    send(_records(1200), kinesis_client=fake, stream="s", progress=False)
    assert [len(c) for c in fake.calls] == [500, 500, 200]


def test_partial_failure_retries_only_the_failed_entries() -> None:
    records = _records(300)
    unlucky = {records[i].data for i in (0, 7, 150, 299)}
    fake = FakeKinesis(
        fail=lambda call, req: (
            "ProvisionedThroughputExceededException" if call == 0 and req["Data"] in unlucky else None
        )
    )
    result = send(records, kinesis_client=fake, stream="s", progress=False, retry=FAST)
    assert len(fake.calls) == 2
    assert {r["Data"] for r in fake.calls[1]} == unlucky  # only the failed ones, nothing re-sent twice
    assert result.failed_retries == 4 and result.sent == 300
    assert len(fake.stored) == 300
    assert all(r.sequence_number is not None for r in records)


def test_exhausted_retries_raise_with_a_clear_message() -> None:
    records = _records(50)
    stuck = records[10].data
    fake = FakeKinesis(fail=lambda call, req: "InternalFailure" if req["Data"] == stuck else None)
    with pytest.raises(SendError, match=r"stream 'orders'.*after 4 attempts.*InternalFailure") as info:
        send(records, kinesis_client=fake, stream="orders", progress=False, retry=FAST)
    assert isinstance(info.value, RuntimeError)
    assert "10" in str(info.value)  # names the record index
    assert len(fake.calls) == 4 and [len(c) for c in fake.calls[1:]] == [1, 1, 1]


def test_whole_call_throttling_is_retried() -> None:
    fake = FakeKinesis(
        raise_on=lambda call: _client_error("ProvisionedThroughputExceededException") if call == 0 else None
    )
    result = send(_records(20), kinesis_client=fake, stream="s", progress=False, retry=FAST)
    assert result.sent == 20 and len(fake.calls) == 2 and result.failed_retries == 20


def test_missing_stream_is_not_retried() -> None:
    fake = FakeKinesis(raise_on=lambda call: _client_error("ResourceNotFoundException"))
    with pytest.raises(SendError, match="--create-shards"):
        send(_records(5), kinesis_client=fake, stream="nope", progress=False, retry=FAST)
    assert len(fake.calls) == 1


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = Random(0)
    for attempt, cap in ((1, 0.1), (2, 0.2), (3, 0.4), (5, 1.0), (9, 1.0)):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= cap
        assert max(delays) > cap * 0.8  # spread over the whole range, not a fixed step


def test_rate_limit_paces_calls() -> None:
    fake = FakeKinesis()
    started = time.monotonic()
    result = send(_records(300), kinesis_client=fake, stream="s", progress=False, rate=1000)
    elapsed = time.monotonic() - started
    assert all(len(c) <= 100 for c in fake.calls)  # ~0.1 s worth per call
    assert elapsed >= 0.19 and result.rate < 1600


@pytest.mark.parametrize(("kwargs", "flag"), [({"rate": 0}, "rate"), ({"aggregate": 0}, "aggregate")])
def test_bad_options(kwargs: dict, flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        send(_records(1), kinesis_client=FakeKinesis(), stream="s", progress=False, **kwargs)


def test_aggregation_packs_per_shard_and_round_trips() -> None:
    records = generate_events(3000, seed=21, now=NOW, bad_fraction=0.1, aggregated=True)
    fake = FakeKinesis()
    result = send(records, kinesis_client=fake, stream="s", progress=False, aggregate=25, retry=FAST)
    assert result.sent == 3000 and result.kinesis_records < 3000 / 10
    by_position: dict[tuple[str, str, int], bytes] = {}
    for (shard, seq), req in fake.stored.items():
        for user in kpl.deaggregate(req["Data"], req["PartitionKey"]):
            by_position[(shard, seq, user.sub_sequence_number)] = user.data
            if not user.corrupt:
                lo, hi = fake.ranges[int(shard.split("-")[1])]
                assert kpl.in_hash_range(user, lo, hi)  # each user record on the shard its key maps to
    for r in records:
        assert by_position[(r.shard_id, r.sequence_number, r.sub_sequence_number)] == r.data  # type: ignore[index]
    packed = [kpl.deaggregate(req["Data"], req["PartitionKey"]) for req in fake.stored.values()]
    assert max(len(p) for p in packed) == 25
    # Corrupt aggregates and oversized records travel alone, never inside an aggregate.
    for r in records:
        if r.kind in ("corrupt_aggregate", "oversized"):
            assert fake.stored[(r.shard_id, r.sequence_number)]["Data"] == r.data  # type: ignore[index]
    for req in fake.stored.values():
        assert len(req["Data"]) + len(req["PartitionKey"]) <= MiB
    # The MD5 of each aggregate checks out (the corrupt ones were made corrupt on purpose).
    good = [
        req
        for req in fake.stored.values()
        if req["Data"][:4] == kpl.MAGIC and hashlib.md5(req["Data"][4:-16]).digest() == req["Data"][-16:]
    ]
    assert len(good) >= result.kinesis_records - sum(r.kind in ("corrupt_aggregate", "oversized") for r in records)


def test_aggregated_partial_failure_retries_whole_aggregates_only() -> None:
    records = generate_events(400, seed=2, now=NOW, bad_fraction=0.0, duplicate_fraction=0.0)
    fake = FakeKinesis(
        fail=lambda call, req: (
            "ProvisionedThroughputExceededException" if call == 0 and req["PartitionKey"] < "T" else None
        )
    )
    result = send(records, kinesis_client=fake, stream="s", progress=False, aggregate=10, retry=FAST)
    assert result.sent == 400
    assert len(fake.calls) == 2 and fake.calls[1] == [r for r in fake.calls[0] if r["PartitionKey"] < "T"]
