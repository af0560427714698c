"""Pure planning for the sender: user records -> Kinesis records (optionally KPL aggregates) -> batches.

No I/O here, so the limits (500 records and 5 MiB per PutRecords, 1 MiB per record) are unit
tested without a stream.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jobs.kinesis import kpl
from local.producer.record import ProducedRecord

log = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
# The KPL sends records above its AggregationMaxSize (51200 bytes by default) on their own.
AGGREGATE_RECORD_LIMIT = 51_200


@dataclass(slots=True)
class Entry:
    """One Kinesis record of a PutRecords call and the user records it carries (one unless aggregated)."""

    data: bytes
    partition_key: str
    members: list[ProducedRecord]
    explicit_hash_key: str | None = None
    aggregated: bool = False
    # Kinesis counts the data and the partition key against the per-record and per-call limits.
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.data) + len(self.partition_key.encode("utf-8"))

    def request(self) -> dict[str, Any]:
        req: dict[str, Any] = {"Data": self.data, "PartitionKey": self.partition_key}
        if self.explicit_hash_key is not None:
            req["ExplicitHashKey"] = self.explicit_hash_key
        return req


@dataclass(frozen=True)
class ShardMap:
    """The open shards' hash key ranges, to route user records the way Kinesis will."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    shard_ids: tuple[str, ...]

    @classmethod
    def from_shards(cls, shards: Iterable[dict[str, Any]]) -> ShardMap:
        """From ``ListShards`` entries; closed shards (with an ending sequence number) are skipped."""
        open_shards = sorted(
            (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]), s["ShardId"])
            for s in shards
            if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})
        )
        return cls(
            tuple(s for s, _, _ in open_shards),
            tuple(e for _, e, _ in open_shards),
            tuple(i for _, _, i in open_shards),
        )

    def shard_for(self, partition_key: str) -> str:
        key = kpl.hash_key(partition_key)
        i = bisect.bisect_right(self.starts, key) - 1
        if i < 0 or key > self.ends[i]:
            raise LookupError(f"no open shard covers hash key {key} of partition key {partition_key!r}")
        return self.shard_ids[i]


def plain_entries(records: Iterable[ProducedRecord]) -> Iterator[Entry]:
    """One Kinesis record per user record."""
    for record in records:
        yield Entry(record.data, record.partition_key, [record])


def aggregated_entries(records: Iterable[ProducedRecord], *, shards: ShardMap, per_aggregate: int) -> Iterator[Entry]:
    """Pack up to ``per_aggregate`` user records bound for the same shard into one KPL aggregate.

    Grouping by shard matters: a reader drops user records whose key falls outside the shard's hash
    range. Records that already look like an aggregate (the KPL magic) and records above
    :data:`AGGREGATE_RECORD_LIMIT` go alone, as the KPL does; an aggregate nested in an aggregate
    would never be opened.
    """
    buffers: dict[str, list[ProducedRecord]] = {}
    for record in records:
        if record.data.startswith(kpl.MAGIC) or len(record.data) > AGGREGATE_RECORD_LIMIT:
            yield Entry(record.data, record.partition_key, [record])
            continue
        shard = shards.shard_for(record.partition_key)
        buffer = buffers.setdefault(shard, [])
        buffer.append(record)
        if len(buffer) >= per_aggregate:
            yield from _pack(buffer)
            buffers[shard] = []
    for shard in sorted(buffers):
        if buffers[shard]:
            yield from _pack(buffers[shard])


def _pack(records: list[ProducedRecord]) -> Iterator[Entry]:
    # kpl.aggregate splits further if the records would pass its byte cap (under 1 MiB).
    start = 0
    for agg in kpl.aggregate((r.partition_key, r.data) for r in records):
        members = records[start : start + agg.count]
        start += agg.count
        yield Entry(agg.data, agg.partition_key, members, agg.explicit_hash_key, aggregated=True)


def batches(
    entries: Iterable[Entry], *, max_records: int = MAX_RECORDS_PER_CALL, max_bytes: int = MAX_BYTES_PER_CALL
) -> Iterator[list[Entry]]:
    """Group entries into PutRecords calls within ``max_records`` records and ``max_bytes`` bytes."""
    batch: list[Entry] = []
    size = 0
    for entry in entries:
        if batch and (len(batch) >= max_records or size + entry.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry.size
    if batch:
        yield batch
