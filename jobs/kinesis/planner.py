"""Driver-side planning, as pure functions: the next offset from the last epoch's end-log entries.

Resharding rules (they keep per-partition-key order): a parent is read to its real ``SHARD_END``
(never closed early because ``ListShards`` shows an ending sequence number); a child is planned
only when every tracked parent is drained, so a merge waits for both parents; children start at
``TRIM_HORIZON``. A tracked shard that vanishes before it is drained is data loss.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jobs.kinesis.endlog import EndLog, entry_key
from jobs.kinesis.offsets import SHARD_END, Position, SourceOffset, next_start
from jobs.kinesis.shards import ShardInfo
from streamlake.errors import DataLossError, SourceError

log = logging.getLogger(__name__)

Entries = Mapping[str, "dict[str, Any] | None"]


def initial_offset(
    *, run: str, stream: str, t0: int | None, shards: Sequence[ShardInfo], start: Position
) -> SourceOffset:
    """Epoch 0: the shards with no listed parent, all at ``start``; the rest wait for parents."""
    listed = {s.shard_id for s in shards}
    roots = {s.shard_id: start.encode() for s in shards if not any(p in listed for p in s.parents)}
    return SourceOffset(run=run, epoch=0, stream=stream, shards=roots, done=(), t0=t0)


def read_entries(end_log: EndLog, offset: SourceOffset) -> dict[str, dict[str, Any] | None]:
    """The end-log entries of ``offset``'s epoch, by key (no listing), None where unclaimed."""
    if offset.epoch == 0:  # epoch 0 is the initial offset; it is never read
        return dict.fromkeys(offset.shards)
    return {sid: end_log.get(entry_key(offset.run, offset.epoch, sid)) for sid in offset.shards}


def caught_up_at_ms(offset: SourceOffset, entries: Entries) -> int | None:
    """When the epoch's *last* shard to look saw the tip (min of ``tipMs``), if it caught up."""
    if not epoch_caught_up(offset, entries):
        return None
    tips = [int(e["tipMs"]) for e in entries.values() if e is not None and e.get("tipMs") is not None]
    return min(tips) if len(tips) == len(offset.shards) and tips else None


def epoch_caught_up(offset: SourceOffset, entries: Entries) -> bool:
    """True when every shard of the epoch reached the tip and none closed (no child is pending)."""
    if offset.epoch == 0:
        return False
    for sid in offset.shards:
        entry = entries.get(sid)
        if entry is None or not entry.get("caughtUp") or entry.get("end") == SHARD_END:
            return False
    return True


@dataclass(frozen=True)
class Plan:
    """The next offset and what changed on the way."""

    offset: SourceOffset
    added: tuple[str, ...] = ()
    drained: tuple[str, ...] = ()
    carried: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


def plan_next(
    prev: SourceOffset,
    entries: Entries,
    listed: Sequence[ShardInfo] | None,
    *,
    initial: Position,
    fail_on_data_loss: bool = True,
) -> Plan:
    """Offset of epoch ``prev.epoch + 1`` (``listed`` is None when ListShards was not called)."""
    shards: dict[str, str] = {}
    done = set(prev.done)
    drained: list[str] = []
    carried: list[str] = []
    for sid, start_text in prev.shards.items():
        entry = entries.get(sid)
        if entry is None:
            if prev.epoch > 0:
                # The partition was not fully consumed (e.g. foreachBatch ran no action): nothing
                # was delivered, so the next epoch starts where this one did.
                carried.append(sid)
            shards[sid] = start_text
            continue
        _check_entry(prev, sid, entry)
        nxt = next_start(Position.parse(start_text), str(entry["end"]))
        if nxt is None:
            done.add(sid)
            drained.append(sid)
        else:
            shards[sid] = nxt.encode()
    if carried:
        log.warning(
            "epoch %d of %s: no end-log entry for %s; carrying their start forward",
            prev.epoch,
            prev.stream,
            carried,
        )
    added: list[str] = []
    dropped: list[str] = []
    if listed is not None:
        listed_ids = {s.shard_id for s in listed}
        for sid in sorted(set(shards) - listed_ids):
            message = f"shard {prev.stream}/{sid} vanished before it was drained (was at {shards[sid]})"
            if fail_on_data_loss:
                raise DataLossError(message + "; set failOnDataLoss=false to skip it")
            log.warning("data loss: %s; dropping it", message)
            dropped.append(sid)
            del shards[sid]
        done &= listed_ids  # a parent gone from the listing no longer gates anything
        for info in sorted(listed, key=lambda s: s.shard_id):
            sid = info.shard_id
            if sid in shards or sid in done:
                continue
            blocking = [p for p in info.parents if p in shards or (p in listed_ids and p not in done)]
            if blocking:
                continue
            child_of_ours = any(p in done for p in info.parents)
            shards[sid] = (Position.trim_horizon() if child_of_ours else initial).encode()
            added.append(sid)
    offset = SourceOffset(
        run=prev.run,
        epoch=prev.epoch + 1,
        stream=prev.stream,
        shards=shards,
        done=tuple(sorted(done)),
        t0=prev.t0,
    )
    return Plan(offset, tuple(added), tuple(drained), tuple(carried), tuple(dropped))


def _check_entry(prev: SourceOffset, sid: str, entry: Mapping[str, Any]) -> None:
    expected = (prev.run, prev.epoch, prev.shards[sid])
    found = (entry.get("run"), entry.get("epoch"), entry.get("start"))
    if found != expected:
        raise SourceError(
            f"end-log entry for {prev.stream}/{sid} in epoch {prev.epoch} was written for "
            f"(run, epoch, start)={found}, expected {expected}; is metadataPath shared with another query?"
        )
