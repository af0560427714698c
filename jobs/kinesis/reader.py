"""Executor-side reading of one shard: the ``GetRecords`` loop.

Rules that keep every record fetched once in steady state:

* stop only *between* responses, never drop part of a response;
* ask for ``Limit = min(10000, records left in the budget)``;
* stop as soon as a response shows the reader is at the tip (``MillisBehindLatest == 0`` and the
  response was not full: an emulator or a same-millisecond burst can report 0 with more to come);
* walk long empty regions (no records, still behind) up to a cap below iterator expiry.

Politeness: at most ``calls_per_sec`` calls and ``bytes_per_sec`` bytes per shard, full-jitter
exponential backoff on throttling and 5xx, a fresh iterator on ``ExpiredIteratorException``.
The client should not retry on its own (``max_attempts=1``) so throttles are seen and counted here.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from jobs.kinesis.offsets import SHARD_END, Position
from jobs.kinesis.options import KINESIS_MAX_LIMIT, ReadBudget
from streamlake.errors import DataLossError, SourceError

log = logging.getLogger(__name__)

THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException",
     "KMSThrottlingException", "RequestLimitExceeded"}
)  # fmt: skip
RETRYABLE_CODES = frozenset({"InternalFailure", "InternalServerError", "ServiceUnavailable", "InternalError"})


class Clock(Protocol):
    """Time as the reader sees it; tests pass a fake whose ``sleep`` advances ``monotonic``."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def backoff_delay(attempt: int, *, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Full jitter: uniform in ``[0, min(cap, base * 2**attempt)]`` (spreads retrying readers)."""
    return rng() * min(cap, base * (2 ** min(attempt, 30)))


@dataclass
class FetchStats:
    """What one read of one shard did; becomes part of the end-log entry."""

    calls: int = 0
    throttles: int = 0
    retries: int = 0
    fetched: int = 0
    bytes: int = 0
    last_seq: str | None = None
    first_arrival_ms: int | None = None
    last_arrival_ms: int | None = None
    millis_behind: int | None = None
    caught_up: bool = False
    shard_end: bool = False
    child_shards: list[dict[str, Any]] = field(default_factory=list)
    tip_ms: int | None = None
    stop_reason: str = ""


def _arrival_ms(record: dict[str, Any]) -> int | None:
    ts = record.get("ApproximateArrivalTimestamp")
    if isinstance(ts, datetime):
        return int(ts.timestamp() * 1000)
    if isinstance(ts, (int, float)):
        return int(ts * 1000)
    return None


class ShardReader:
    """Reads one shard for one epoch, freely (``read``) or up to a claimed end (``replay``)."""

    def __init__(
        self,
        client: Any,
        *,
        stream: str,
        shard_id: str,
        budget: ReadBudget,
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        closed: bool = False,
        timestamp_client: Any = None,
        emulator_quirks: bool = False,
    ) -> None:
        self.client = client
        # Only with emulator_quirks: GetShardIterator(AT_TIMESTAMP) goes through a client with a
        # short read timeout, because kinesalite never answers it when no record has arrived since
        # the timestamp. On AWS a timeout is only a slow call: it is retried, never interpreted.
        self.timestamp_client = timestamp_client if timestamp_client is not None else client
        self.emulator_quirks = emulator_quirks
        # Set while an AT_TIMESTAMP start is emulated by a walk from TRIM_HORIZON (see _iterator).
        self._not_before_ms: int | None = None
        # ListShards showed the shard closed: read on to the real end even past an empty
        # "at the tip" response (kinesalite hands out one more iterator before the end).
        self.closed = closed
        self.stream = stream
        self.shard_id = shard_id
        self.budget = budget
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.random
        self.stats = FetchStats()
        self._start = Position.trim_horizon()
        self._free = False
        self._next_call_at = 0.0

    # --- the two modes ---------------------------------------------------------------------

    def read(self, start: Position) -> Iterator[list[dict[str, Any]]]:
        """Yield each response's records until the tip, the shard end or a budget is reached."""
        self._start = start
        self._free = True
        try:
            yield from self._read(start)
        except _NothingSince as nothing:
            # No record has arrived since the AT_TIMESTAMP start: that is the tip, nothing to read.
            self.stats.caught_up = True
            self.stats.tip_ms = nothing.wall_ms
            self.stats.stop_reason = "nothing_since_timestamp"

    def _read(self, start: Position) -> Iterator[list[dict[str, Any]]]:
        budget, stats = self.budget, self.stats
        began = self.clock.monotonic()
        iterator = self._iterator(start, nothing_ok=True)
        while True:
            limit = max(1, min(KINESIS_MAX_LIMIT, budget.max_records - stats.fetched))
            resp, iterator = self._get_records(iterator, limit)
            page = len(resp.get("Records") or [])  # before an emulated AT_TIMESTAMP drops any
            records = self._since_start(resp)
            self._account(records, resp)
            if records:
                yield records
            next_iterator = resp.get("NextShardIterator")
            if not next_iterator:
                stats.shard_end = True
                stats.child_shards = list(resp.get("ChildShards") or [])
                stats.stop_reason = SHARD_END
                return
            iterator = next_iterator
            behind = resp.get("MillisBehindLatest")
            if (behind == 0 or (behind is None and not page)) and page < limit and not self.closed:
                stats.caught_up = True
                stats.stop_reason = "caught_up"
                return
            # Count the pacing wait before the next call: stop now if that call would start late.
            elapsed = max(self.clock.monotonic(), self._next_call_at) - began
            if stats.fetched >= budget.max_records:
                stats.stop_reason = "max_records"
            elif stats.bytes >= budget.max_bytes:
                stats.stop_reason = "max_bytes"
            elif stats.fetched > 0 and elapsed >= budget.max_fetch_time_sec:
                stats.stop_reason = "max_fetch_time"
            elif elapsed >= budget.max_empty_walk_sec:
                stats.stop_reason = "empty_walk_cap"
            else:
                continue
            return

    def replay(
        self, start: Position, *, end: str, expected_fetched: int, fail_on_data_loss: bool = True
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield exactly the records an earlier attempt read from ``start`` to ``end``.

        ``Limit`` is the number still expected, so an intact shard is read with no overshoot.
        """
        self._start = start
        if expected_fetched <= 0:
            self.stats.stop_reason = "nothing_to_replay"
            return
        target: int | None = None
        if end != SHARD_END:
            end_pos = Position.parse(end)
            if end_pos.kind != "AFTER_SEQUENCE_NUMBER":
                raise SourceError(f"end {end!r} of {self.shard_id} cannot follow {expected_fetched} fetched records")
            target = int(end_pos.value)
        iterator = self._iterator(start)
        last_progress = self.clock.monotonic()
        while True:
            limit = max(1, min(KINESIS_MAX_LIMIT, expected_fetched - self.stats.fetched))
            resp, iterator = self._get_records(iterator, limit)
            records = self._since_start(resp)
            done = False
            if target is not None:
                for i, rec in enumerate(records):
                    seq = int(rec["SequenceNumber"])
                    if seq >= target:
                        if seq > target:
                            self._lost(f"record {target} is gone (next is {seq})", fail_on_data_loss)
                            records = records[:i]
                        else:
                            records = records[: i + 1]
                        done = True
                        break
            self._account(records, resp)
            if records:
                last_progress = self.clock.monotonic()
                yield records
            if done:
                self.stats.stop_reason = "replayed"
                return
            next_iterator = resp.get("NextShardIterator")
            if not next_iterator:
                if target is not None:
                    self._lost(f"shard ended before record {target}", fail_on_data_loss)
                self.stats.shard_end = True
                self.stats.stop_reason = SHARD_END
                return
            iterator = next_iterator
            if self.clock.monotonic() - last_progress > self.budget.max_empty_walk_sec:
                self._lost(f"no progress towards {end} for {self.budget.max_empty_walk_sec:.0f}s", fail_on_data_loss)
                self.stats.stop_reason = "replay_stalled"
                return

    # --- calls -----------------------------------------------------------------------------

    def _since_start(self, resp: dict[str, Any]) -> list[dict[str, Any]]:
        """The response's records, less those an emulated AT_TIMESTAMP start must skip.

        Like Kinesis, the position is the first record that arrived at or after the timestamp;
        every record after that one counts, whatever its own arrival time.
        """
        records: list[dict[str, Any]] = resp.get("Records") or []
        if self._not_before_ms is None or not records:
            return records
        first = next((i for i, r in enumerate(records) if (_arrival_ms(r) or 0) >= self._not_before_ms), None)
        if first is None:
            return []
        self._not_before_ms = None
        return records[first:]

    def _lost(self, what: str, fail: bool) -> None:
        message = f"replaying {self.stream}/{self.shard_id} from {self._start.encode()}: {what}"
        if fail:
            raise DataLossError(message + " (set failOnDataLoss=false to continue without it)")
        log.warning("data loss: %s", message)

    def _account(self, records: list[dict[str, Any]], resp: dict[str, Any]) -> None:
        stats = self.stats
        stats.millis_behind = resp.get("MillisBehindLatest", stats.millis_behind)
        if not records:
            return
        stats.fetched += len(records)
        stats.bytes += sum(len(r.get("Data") or b"") for r in records)
        stats.last_seq = str(records[-1]["SequenceNumber"])
        first, last = _arrival_ms(records[0]), _arrival_ms(records[-1])
        if stats.first_arrival_ms is None:
            stats.first_arrival_ms = first
        stats.last_arrival_ms = last if last is not None else stats.last_arrival_ms

    def _pace(self) -> float:
        now = self.clock.monotonic()
        if now < self._next_call_at:
            self.clock.sleep(self._next_call_at - now)
            now = self._next_call_at
        self._next_call_at = now + 1.0 / self.budget.calls_per_sec
        return now

    def _backoff(self, attempt: int, what: str, exc: Exception) -> None:
        if attempt >= self.budget.max_retries:
            raise SourceError(f"{what} on {self.stream}/{self.shard_id} failed {attempt} times; last: {exc}") from exc
        self.stats.retries += 1
        delay = backoff_delay(attempt, base=self.budget.backoff_base_sec, cap=self.budget.backoff_cap_sec, rng=self.rng)
        log.debug("%s on %s: %s; retry in %.3fs", what, self.shard_id, exc, delay)
        self.clock.sleep(delay)

    def _get_records(self, iterator: str, limit: int) -> tuple[dict[str, Any], str]:
        attempt = 0
        while True:
            started = self._pace()
            wall = self.clock.time()
            self.stats.calls += 1
            try:
                resp: dict[str, Any] = self.client.get_records(ShardIterator=iterator, Limit=limit)
            except ClientError as exc:
                code = _code(exc)
                if code == "ExpiredIteratorException":
                    # A slow consumer (or a long backoff) outlived the 5-minute iterator: resume
                    # right after the last record we have, or at the epoch's start if none yet.
                    iterator = self._iterator(
                        Position.after(self.stats.last_seq) if self.stats.last_seq else self._start,
                        nothing_ok=self._free and self.stats.last_seq is None,
                    )
                elif code in THROTTLE_CODES:
                    self.stats.throttles += 1
                elif not (code in RETRYABLE_CODES or _status(exc) >= 500):
                    raise SourceError(f"GetRecords on {self.stream}/{self.shard_id} failed: {exc}") from exc
                self._backoff(attempt, "GetRecords", exc)
                attempt += 1
                continue
            except BotoCoreError as exc:  # connection refused/reset, read timeout
                self._backoff(attempt, "GetRecords", exc)
                attempt += 1
                continue
            got = sum(len(r.get("Data") or b"") for r in resp.get("Records") or [])
            # A big response spends the shard's 2 MB/s: space the next call so we are not throttled.
            self._next_call_at = max(self._next_call_at, started + got / self.budget.bytes_per_sec)
            if resp.get("MillisBehindLatest") == 0 or not resp.get("Records"):
                self.stats.tip_ms = int(wall * 1000)
            return resp, iterator

    def _iterator(self, position: Position, *, nothing_ok: bool = False) -> str:
        at_timestamp = position.kind == "AT_TIMESTAMP"
        client = self.timestamp_client if at_timestamp else self.client
        attempt = 0
        while True:
            wall_ms = int(self.clock.time() * 1000)
            try:
                resp = client.get_shard_iterator(
                    StreamName=self.stream, ShardId=self.shard_id, **position.iterator_request()
                )
                return str(resp["ShardIterator"])
            except ClientError as exc:
                code = _code(exc)
                if code == "ResourceNotFoundException":
                    raise ShardNotFoundError(f"shard {self.stream}/{self.shard_id} does not exist: {exc}") from exc
                if at_timestamp and nothing_ok and code == "InvalidArgumentException" and "greater than" in str(exc):
                    # The timestamp is ahead of Kinesis's clock (skew): nothing can be there yet.
                    raise _NothingSince(wall_ms) from exc
                if code in THROTTLE_CODES:
                    self.stats.throttles += 1
                elif not (code in RETRYABLE_CODES or _status(exc) >= 500):
                    raise SourceError(
                        f"GetShardIterator {position.encode()} on {self.stream}/{self.shard_id} failed: {exc}"
                    ) from exc
                self._backoff(attempt, "GetShardIterator", exc)
                attempt += 1
            except ReadTimeoutError as exc:
                if at_timestamp and self.emulator_quirks:
                    # kinesalite answers AT_TIMESTAMP only once a record at or after it exists. A
                    # timeout proves nothing (the call may only be slow), so emulate the position
                    # from what is really there: walk from TRIM_HORIZON, skip what arrived before.
                    log.debug("GetShardIterator AT_TIMESTAMP timed out on %s: walking from TRIM_HORIZON", self.shard_id)
                    self._not_before_ms = position.timestamp_ms
                    return self._iterator(Position.trim_horizon())
                self._backoff(attempt, "GetShardIterator", exc)
                attempt += 1
            except BotoCoreError as exc:
                self._backoff(attempt, "GetShardIterator", exc)
                attempt += 1


class _NothingSince(Exception):
    """Internal: no record has arrived since an AT_TIMESTAMP start (as of ``wall_ms``)."""

    def __init__(self, wall_ms: int) -> None:
        super().__init__(wall_ms)
        self.wall_ms = wall_ms


class ShardNotFoundError(SourceError):
    """The shard is gone (expired past retention, or the stream was deleted)."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
