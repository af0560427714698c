"""One Spark task: read one shard for one epoch, replaying a claimed end or claiming a new one.

* An end-log entry exists: read exactly to it (bounded replay), whatever the budgets say now.
* No entry: read freely within the budgets; when the read is complete, claim the end with a
  write-once put. If another attempt claimed a *different* end first, raise: this attempt's rows
  are discarded with the failed task and the retry replays the winner's end. Only a fully consumed
  partition claims (a generator closed early never reaches the claim).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql.datasource import InputPartition

from jobs.kinesis.endlog import EndLog, claim, entry_key, open_end_log
from jobs.kinesis.offsets import NOCHANGE, SHARD_END, Position
from jobs.kinesis.options import KinesisOptions
from jobs.kinesis.reader import Clock, FetchStats, ShardNotFoundError, ShardReader
from jobs.kinesis.rows import RowConverter, RowStats
from jobs.kinesis.shards import FULL_HASH_RANGE, kinesis_client
from streamlake.errors import DataLossError, SourceError

log = logging.getLogger(__name__)

ENTRY_VERSION = 1


@dataclass(frozen=True)
class ShardPartition(InputPartition):  # type: ignore[misc]
    """What one task needs: the options (budgets included, so a retry reads with the same limits),
    the epoch, the shard and where it starts."""

    options: KinesisOptions
    run: str
    epoch: int
    shard_id: str
    start: str
    hash_range: tuple[int, int] = field(default=FULL_HASH_RANGE)
    closed: bool = False

    @property
    def key(self) -> str:
        return entry_key(self.run, self.epoch, self.shard_id)


def read_partition(
    part: ShardPartition,
    *,
    end_log: EndLog | None = None,
    client: Any = None,
    clock: Clock | None = None,
    rng: Callable[[], float] | None = None,
) -> Iterator[Any]:
    """Yield the partition's rows (Arrow RecordBatches, or tuples when ``arrowBatches=false``)."""
    opts = part.options
    end_log = end_log or open_end_log(opts.metadata_path, s3_endpoint_url=opts.s3_endpoint_url, region=opts.region)
    claimed = end_log.get(part.key)
    if claimed is not None and int(claimed.get("fetched", 0)) == 0:
        _check_claim(part, claimed)
        return  # an empty epoch replays as empty, with no Kinesis call
    began = time.monotonic()
    reader = ShardReader(
        client if client is not None else kinesis_client(opts, executor=True, read_timeout=opts.read_timeout_sec),
        timestamp_client=(
            kinesis_client(opts, executor=True, read_timeout=opts.at_timestamp_timeout_sec)
            if client is None and opts.emulator_quirks
            else None
        ),
        emulator_quirks=opts.emulator_quirks,
        stream=opts.stream_name,
        shard_id=part.shard_id,
        budget=opts.budget,
        clock=clock,
        rng=rng,
        closed=part.closed,
    )
    rows = RowConverter(
        stream=opts.stream_name,
        shard_id=part.shard_id,
        hash_range=part.hash_range,
        deaggregate=opts.deaggregate,
        arrow=opts.arrow_batches,
    )
    start = Position.parse(part.start)
    if claimed is not None:
        _check_claim(part, claimed)
        records_iter = reader.replay(
            start, end=str(claimed["end"]), expected_fetched=int(claimed["fetched"]),
            fail_on_data_loss=opts.fail_on_data_loss,
        )  # fmt: skip
        yield from _emit(records_iter, rows)
        _verify_replay(part, claimed, reader.stats, rows.stats)
        log.info("replayed %s epoch %d: %d rows to %s", part.shard_id, part.epoch, rows.stats.rows, claimed["end"])
        return
    try:
        yield from _emit(reader.read(start), rows)
    except ShardNotFoundError as exc:
        if opts.fail_on_data_loss:
            raise DataLossError(f"{exc} (was at {part.start}); set failOnDataLoss=false to skip it") from exc
        log.warning("data loss: %s; treating it as drained", exc)
        reader.stats.shard_end = True
    entry = build_entry(part, start, reader.stats, rows.stats, margin_ms=opts.clock_skew_margin_ms)
    winner = claim(end_log, part.key, entry)
    if winner is not entry and not same_end(winner, entry):
        raise SourceError(
            f"{opts.stream_name}/{part.shard_id} epoch {part.epoch}: another attempt already claimed end "
            f"{winner.get('end')} ({winner.get('fetched')} records) while this one read to {entry['end']} "
            f"({entry['fetched']}); failing this attempt so its rows are discarded and the retry replays"
        )
    log.info(
        "read %s epoch %d: %d rows (%d fetched, %d calls, %d throttles) %s -> %s [%s] in %.2fs",
        part.shard_id, part.epoch, rows.stats.rows, reader.stats.fetched, reader.stats.calls,
        reader.stats.throttles, part.start, entry["end"], reader.stats.stop_reason, time.monotonic() - began,
    )  # fmt: skip


def _emit(batches: Iterator[list[dict[str, Any]]], rows: RowConverter) -> Iterator[Any]:
    for records in batches:
        out = rows.convert(records)
        if out is None:
            continue
        if rows.arrow:
            yield out
        else:
            yield from out


def decide_end(start: Position, stats: FetchStats, *, margin_ms: int) -> str:
    """The end to claim for a complete free read."""
    if stats.shard_end:
        return SHARD_END
    if stats.last_seq is not None:
        return Position.after(stats.last_seq).encode()
    if not (stats.caught_up and stats.tip_ms is not None) or start.kind == "AFTER_SEQUENCE_NUMBER":
        return NOCHANGE
    # Reached the tip with nothing read: move the start up to "just before the tip" so the next
    # epoch does not walk the same empty stretch again; the margin covers clock skew and records
    # not yet visible. Never jump to LATEST (not replayable). A TRIM_HORIZON that reached the tip
    # in one call walked nothing and stays, which also keeps idle shards off AT_TIMESTAMP.
    if start.kind == "TRIM_HORIZON" and stats.calls <= 1:
        return NOCHANGE
    moved = stats.tip_ms - margin_ms
    previous = start.timestamp_ms
    return Position.at_timestamp(moved).encode() if previous is None or moved > previous else NOCHANGE


def build_entry(
    part: ShardPartition, start: Position, stats: FetchStats, rows: RowStats, *, margin_ms: int
) -> dict[str, Any]:
    """The end-log entry of a complete free read (everything the driver and the job's progress use)."""
    end = decide_end(start, stats, margin_ms=margin_ms)
    budget = part.options.budget
    return {
        "v": ENTRY_VERSION,
        "run": part.run,
        "epoch": part.epoch,
        "stream": part.options.stream_name,
        "shard": part.shard_id,
        "start": part.start,
        "end": end,
        "fetched": stats.fetched,
        "records": rows.rows,
        "filtered": rows.filtered,
        "corrupt": rows.corrupt,
        "bytes": stats.bytes,
        "calls": stats.calls,
        "throttles": stats.throttles,
        "retries": stats.retries,
        "lastSeq": stats.last_seq,
        "lastSubSeq": rows.last_sub_seq,
        "firstArrivalMs": stats.first_arrival_ms,
        "lastArrivalMs": stats.last_arrival_ms,
        "millisBehindLatest": stats.millis_behind,
        "caughtUp": stats.caught_up or end == SHARD_END,
        # Wall time of the call that found the tip: a reader that "caught up" at tipMs has seen
        # every record put before it (what until-caught-up and idleIntervalSec rely on).
        "tipMs": stats.tip_ms if stats.caught_up else None,
        "stopReason": stats.stop_reason,
        "childShards": [
            {"shardId": c.get("ShardId"), "parents": list(c.get("ParentShards") or [])} for c in stats.child_shards
        ],
        "budget": {
            "maxRecords": budget.max_records,
            "maxBytes": budget.max_bytes,
            "maxFetchTimeSec": budget.max_fetch_time_sec,
        },
        "writtenAtMs": int(time.time() * 1000),
    }


def same_end(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two claims deliver the same rows when they end at the same place after the same records."""
    return (a.get("end"), a.get("fetched"), a.get("records")) == (
        b.get("end"),
        b.get("fetched"),
        b.get("records"),
    )


def _check_claim(part: ShardPartition, claimed: dict[str, Any]) -> None:
    found = (claimed.get("run"), claimed.get("epoch"), claimed.get("shard"), claimed.get("start"))
    expected = (part.run, part.epoch, part.shard_id, part.start)
    if found != expected:
        raise SourceError(
            f"end-log entry {part.key} was written for (run, epoch, shard, start)={found}, expected {expected}"
        )


def _verify_replay(part: ShardPartition, claimed: dict[str, Any], stats: FetchStats, rows: RowStats) -> None:
    if (stats.fetched, rows.rows) == (claimed.get("fetched"), claimed.get("records")):
        return
    message = (
        f"replay of {part.key} read {stats.fetched} records / {rows.rows} rows, the claimed end says "
        f"{claimed.get('fetched')} / {claimed.get('records')}"
    )
    if part.options.fail_on_data_loss:
        raise DataLossError(message)
    log.warning("data loss: %s", message)
