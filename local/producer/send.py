"""Put records on a Kinesis stream: batched, rate-limited, retried entry by entry, optionally aggregated."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from random import Random
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from local.producer.batching import (
    MAX_RECORDS_PER_CALL,
    Entry,
    ShardMap,
    aggregated_entries,
    batches,
    plain_entries,
)
from local.producer.record import ProducedRecord
from streamlake.errors import ConfigError, StreamlakeError

log = logging.getLogger(__name__)

KINESIS_MAX_RECORD = 1024 * 1024
# Whole-call errors that mean "rejected, try again later"; anything else will not get better.
_RETRYABLE_CALL_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "KMSThrottlingException",
        "InternalFailure",
        "InternalFailureException",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


class SendError(StreamlakeError, RuntimeError):
    """Records could not be put on the stream (retries exhausted, or a non-retryable error)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with full-jitter exponential backoff: sleep ~ U(0, min(max_delay, base * 2^k))."""

    max_attempts: int = 8
    base_delay: float = 0.1
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("max_attempts", self.max_attempts, "an integer >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("base_delay/max_delay", (self.base_delay, self.max_delay), "non-negative seconds")

    def delay(self, attempt: int, rng: Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class SendResult:
    """What a :func:`send` did. ``sent`` and ``per_shard`` count user records."""

    sent: int
    kinesis_records: int
    put_calls: int
    failed_retries: int
    bytes: int
    per_shard: dict[str, int]
    seconds: float
    rate: float


@dataclass
class _Progress:
    sent: int = 0
    kinesis_records: int = 0
    put_calls: int = 0
    failed_retries: int = 0
    bytes: int = 0
    per_shard: Counter[str] = field(default_factory=Counter)


class _Pacer:
    """Keeps the average rate at ``rate`` user records/s by sleeping before a call that would pass it."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.start: float | None = None
        self.admitted = 0

    def admit(self, records: int) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        if self.start is None:
            self.start = now
        wait = self.start + self.admitted / self.rate - now
        if wait > 0:
            time.sleep(wait)
        self.admitted += records


def send(
    records: Iterable[ProducedRecord],
    *,
    kinesis_client: Any,
    stream: str,
    rate: float | None = None,
    aggregate: int | None = None,
    progress: bool = True,
    retry: RetryPolicy | None = None,
    on_sent: Callable[[ProducedRecord], None] | None = None,
) -> SendResult:
    """Put ``records`` on ``stream`` and fill in each record's shard and sequence numbers.

    Calls PutRecords with at most 500 records and 5 MiB (data + partition keys) each; entries that
    fail (``ErrorCode`` in the response) are retried alone with full-jitter backoff, at most
    ``retry.max_attempts`` times, then :class:`SendError` is raised. ``rate`` caps user records per
    second; ``aggregate=N`` packs up to N user records bound for one shard into a KPL aggregate.
    ``on_sent`` is called once per user record as Kinesis acknowledges it (e.g. a manifest writer),
    so ``records`` may be a lazy iterator of any length.

    Notes
    -----
    Retrying a failed entry can put it after later records of the same partition key, exactly as
    with any PutRecords producer; the manifest records the real positions.
    """
    if rate is not None and not (rate > 0 and math.isfinite(rate)):
        raise ConfigError("rate", rate, "a positive number of records per second")
    if aggregate is not None and aggregate < 1:
        raise ConfigError("aggregate", aggregate, "an integer >= 1 (user records per aggregate)")
    sender = _Sender(kinesis_client, stream, retry or RetryPolicy(), on_sent)
    if aggregate:
        shards = ShardMap.from_shards(_list_shards(kinesis_client, stream))
        entries = aggregated_entries(records, shards=shards, per_aggregate=aggregate)
    else:
        entries = plain_entries(records)
    # With a rate, keep each call to ~0.1 s worth of records so the pace is smooth, not bursty.
    per_call = MAX_RECORDS_PER_CALL
    if rate is not None:
        per_call = max(1, min(MAX_RECORDS_PER_CALL, math.ceil(rate / 10 / (aggregate or 1))))
    pacer = _Pacer(rate)
    total = len(records) if isinstance(records, Sized) else None
    bar = tqdm(total=total, unit="rec", desc=f"put {stream}", disable=not progress or not sys.stderr.isatty())
    started = time.monotonic()
    try:
        for batch in batches(entries, max_records=per_call):
            pacer.admit(sum(len(e.members) for e in batch))
            sender.put(batch)
            bar.update(sum(len(e.members) for e in batch))
    finally:
        bar.close()
    seconds = time.monotonic() - started
    p = sender.progress
    result = SendResult(
        sent=p.sent,
        kinesis_records=p.kinesis_records,
        put_calls=p.put_calls,
        failed_retries=p.failed_retries,
        bytes=p.bytes,
        per_shard=dict(sorted(p.per_shard.items())),
        seconds=seconds,
        rate=p.sent / seconds if seconds > 0 else 0.0,
    )
    log.info(
        "sent %d records (%d Kinesis records, %d calls, %d retried entries) to %s in %.2fs (%.0f/s)",
        result.sent,
        result.kinesis_records,
        result.put_calls,
        result.failed_retries,
        stream,
        seconds,
        result.rate,
    )
    return result


class _Sender:
    def __init__(
        self, client: Any, stream: str, retry: RetryPolicy, on_sent: Callable[[ProducedRecord], None] | None
    ) -> None:
        self.client = client
        self.stream = stream
        self.retry = retry
        self.on_sent = on_sent
        self.progress = _Progress()
        self.jitter = Random()  # backoff timing only; it never touches the data

    def put(self, batch: list[Entry]) -> None:
        for entry in batch:
            if entry.size > KINESIS_MAX_RECORD:
                first = entry.members[0].index
                raise SendError(
                    f"record {first} is {entry.size} bytes (data + partition key); Kinesis accepts at most "
                    f"{KINESIS_MAX_RECORD}"
                )
        pending = batch
        for attempt in range(1, self.retry.max_attempts + 1):
            failed, codes = self._attempt(pending)
            if not failed:
                return
            if attempt == self.retry.max_attempts:
                indexes = [r.index for e in failed for r in e.members][:5]
                raise SendError(
                    f"{len(failed)} of {len(batch)} records (indexes {indexes}...) were not accepted by "
                    f"stream {self.stream!r} after {attempt} attempts (errors: {dict(codes)}); lower "
                    "--rate, add shards, or raise RetryPolicy.max_attempts"
                )
            self.progress.failed_retries += len(failed)
            delay = self.retry.delay(attempt, self.jitter)
            log.info(
                "retrying %d failed entries of %s after %.3fs (%s)",
                len(failed),
                self.stream,
                delay,
                dict(codes),
            )
            time.sleep(delay)
            pending = failed

    def _attempt(self, pending: list[Entry]) -> tuple[list[Entry], Counter[str]]:
        """One PutRecords call; returns the entries to retry and their error codes."""
        self.progress.put_calls += 1
        try:
            response = self.client.put_records(StreamName=self.stream, Records=[e.request() for e in pending])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code not in _RETRYABLE_CALL_ERRORS:
                hint = (
                    " (does the stream exist? --create-shards N creates it)"
                    if code == "ResourceNotFoundException"
                    else ""
                )
                raise SendError(f"PutRecords on stream {self.stream!r} failed with {code}: {exc}{hint}") from exc
            return pending, Counter({code: len(pending)})
        except BotoCoreError as exc:
            # botocore has already retried connection errors; a timeout leaves the outcome unknown,
            # and blindly re-sending would put records the manifest cannot account for.
            raise SendError(f"PutRecords on stream {self.stream!r} failed: {exc}") from exc
        results = response["Records"]
        if len(results) != len(pending):
            raise SendError(f"PutRecords on {self.stream!r} answered {len(results)} results for {len(pending)} records")
        failed: list[Entry] = []
        codes: Counter[str] = Counter()
        for entry, result in zip(pending, results, strict=True):
            if result.get("ErrorCode"):
                failed.append(entry)
                codes[result["ErrorCode"]] += 1
            else:
                self._acknowledged(entry, result["ShardId"], result["SequenceNumber"])
        return failed, codes

    def _acknowledged(self, entry: Entry, shard_id: str, sequence_number: str) -> None:
        p = self.progress
        p.kinesis_records += 1
        p.bytes += entry.size
        p.sent += len(entry.members)
        p.per_shard[shard_id] += len(entry.members)
        for sub, record in enumerate(entry.members):
            record.shard_id = shard_id
            record.sequence_number = sequence_number
            record.sub_sequence_number = sub if entry.aggregated else 0
            if self.on_sent is not None:
                self.on_sent(record)


def _list_shards(client: Any, stream: str) -> list[dict[str, Any]]:
    """Every shard of ``stream`` (ListShards, paginated)."""
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamName": stream}
    try:
        while True:
            page = client.list_shards(**kwargs)
            shards.extend(page["Shards"])
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}
    except ClientError as exc:
        raise SendError(f"cannot list the shards of stream {stream!r}: {exc}") from exc
