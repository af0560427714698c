"""Driver planning from end-log entries: positions, resharding order, data loss, caught-up."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.kinesis.offsets import SHARD_END, Position, SourceOffset
from jobs.kinesis.planner import Plan, caught_up_at_ms, epoch_caught_up, initial_offset, plan_next
from jobs.kinesis.shards import ShardInfo
from streamlake.errors import DataLossError, SourceError

TH = Position.trim_horizon()
T0 = Position.at_timestamp(1_000)


def shard(sid: str, *parents: str, closed: bool = False) -> ShardInfo:
    return ShardInfo(sid, parents[0] if parents else None, parents[1] if len(parents) > 1 else None, 0, 1, closed)


def offset(shards: dict[str, str], *, epoch: int = 3, done: tuple[str, ...] = ()) -> SourceOffset:
    return SourceOffset(run="r", epoch=epoch, stream="s", shards=shards, done=done, t0=None)


def entry(prev: SourceOffset, sid: str, end: str, *, caught_up: bool = True, tip: int | None = 5) -> dict[str, Any]:
    return {
        "run": prev.run,
        "epoch": prev.epoch,
        "start": prev.shards[sid],
        "end": end,
        "caughtUp": caught_up,
        "tipMs": tip if caught_up else None,
    }


def test_initial_offset_tracks_only_shards_without_listed_parents() -> None:
    listed = [shard("a", closed=True), shard("b"), shard("c", "a"), shard("d", "a"), shard("e", "x-expired")]
    first = initial_offset(run="r", stream="s", t0=1_000, shards=listed, start=T0)
    assert first.epoch == 0 and first.t0 == 1_000
    assert dict(first.shards) == {"a": T0.encode(), "b": T0.encode(), "e": T0.encode()}


def test_ends_become_next_starts_and_missing_entries_carry_forward() -> None:
    prev = offset({"a": "TRIM_HORIZON", "b": "AFTER_SEQUENCE_NUMBER:5", "c": "TRIM_HORIZON"})
    entries = {
        "a": entry(prev, "a", "AFTER_SEQUENCE_NUMBER:9"),
        "b": entry(prev, "b", "NOCHANGE"),
        "c": None,
    }
    plan = plan_next(prev, entries, None, initial=TH)
    assert plan.offset == offset(
        {"a": "AFTER_SEQUENCE_NUMBER:9", "b": "AFTER_SEQUENCE_NUMBER:5", "c": "TRIM_HORIZON"}, epoch=4
    )
    assert plan.carried == ("c",)


def test_a_split_child_starts_at_trim_horizon_only_after_its_parent_drained() -> None:
    prev = offset({"a": "AFTER_SEQUENCE_NUMBER:1"})
    listed = [shard("a", closed=True), shard("b", "a"), shard("c", "a")]
    still_reading = plan_next(prev, {"a": entry(prev, "a", "AFTER_SEQUENCE_NUMBER:2", caught_up=False)}, listed,
                              initial=T0)  # fmt: skip
    assert dict(still_reading.offset.shards) == {"a": "AFTER_SEQUENCE_NUMBER:2"}  # closed is not drained

    drained = plan_next(prev, {"a": entry(prev, "a", SHARD_END)}, listed, initial=T0)
    assert drained == Plan(
        offset({"b": "TRIM_HORIZON", "c": "TRIM_HORIZON"}, epoch=4, done=("a",)), added=("b", "c"), drained=("a",)
    )


def test_a_merge_child_waits_for_both_parents() -> None:
    listed = [shard("a", closed=True), shard("b", closed=True), shard("m", "a", "b")]
    prev = offset({"a": "AFTER_SEQUENCE_NUMBER:1", "b": "AFTER_SEQUENCE_NUMBER:2"})
    one = plan_next(prev, {"a": entry(prev, "a", SHARD_END), "b": entry(prev, "b", "AFTER_SEQUENCE_NUMBER:3")},
                    listed, initial=TH)  # fmt: skip
    assert dict(one.offset.shards) == {"b": "AFTER_SEQUENCE_NUMBER:3"} and one.offset.done == ("a",)
    two = plan_next(one.offset, {"b": entry(one.offset, "b", SHARD_END)}, listed, initial=TH)
    assert dict(two.offset.shards) == {"m": "TRIM_HORIZON"} and two.offset.done == ("a", "b")


def test_without_a_listing_children_wait_for_the_next_listing() -> None:
    prev = offset({"a": "AFTER_SEQUENCE_NUMBER:1"})
    plan = plan_next(prev, {"a": entry(prev, "a", SHARD_END)}, None, initial=TH)
    assert dict(plan.offset.shards) == {} and plan.offset.done == ("a",)


def test_new_unrelated_shards_start_at_the_initial_position() -> None:
    prev = offset({"a": "AFTER_SEQUENCE_NUMBER:1"})
    plan = plan_next(prev, {"a": entry(prev, "a", "NOCHANGE")}, [shard("a"), shard("z")], initial=T0)
    assert plan.offset.shards["z"] == T0.encode() and plan.added == ("z",)


def test_a_vanished_undrained_shard_is_data_loss() -> None:
    prev = offset({"a": "AFTER_SEQUENCE_NUMBER:1", "b": "TRIM_HORIZON"})
    entries = {"a": entry(prev, "a", "NOCHANGE"), "b": entry(prev, "b", "NOCHANGE")}
    with pytest.raises(DataLossError, match="shard s/b vanished"):
        plan_next(prev, entries, [shard("a")], initial=TH)
    plan = plan_next(prev, entries, [shard("a")], initial=TH, fail_on_data_loss=False)
    assert dict(plan.offset.shards) == {"a": "AFTER_SEQUENCE_NUMBER:1"} and plan.dropped == ("b",)


def test_drained_shards_leave_done_once_they_expire() -> None:
    prev = offset({"b": "AFTER_SEQUENCE_NUMBER:1"}, done=("a",))
    plan = plan_next(prev, {"b": entry(prev, "b", "NOCHANGE")}, [shard("b", "a")], initial=TH)
    assert plan.offset.done == ()


def test_an_entry_from_another_plan_is_refused() -> None:
    prev = offset({"a": "TRIM_HORIZON"})
    bad = {**entry(prev, "a", "NOCHANGE"), "start": "AFTER_SEQUENCE_NUMBER:1"}
    with pytest.raises(SourceError, match="metadataPath shared"):
        plan_next(prev, {"a": bad}, None, initial=TH)


def test_caught_up_means_every_shard_at_the_tip_and_none_closed() -> None:
    prev = offset({"a": "TRIM_HORIZON", "b": "TRIM_HORIZON"})
    at_tip = {"a": entry(prev, "a", "NOCHANGE", tip=7), "b": entry(prev, "b", "AFTER_SEQUENCE_NUMBER:1", tip=9)}
    assert epoch_caught_up(prev, at_tip) and caught_up_at_ms(prev, at_tip) == 7
    assert not epoch_caught_up(prev, {**at_tip, "b": entry(prev, "b", SHARD_END)})
    assert not epoch_caught_up(prev, {**at_tip, "b": entry(prev, "b", "NOCHANGE", caught_up=False)})
    assert not epoch_caught_up(prev, {**at_tip, "b": None})
    assert not epoch_caught_up(offset(dict(prev.shards), epoch=0), at_tip)  # epoch 0 is never read
