"""Driver-side helpers: per-epoch statistics from the end log, and the stream pre-flight check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.kinesis.endlog import LocalEndLog, entry_key
from jobs.kinesis.offsets import SourceOffset
from jobs.kinesis.progress import EpochStats, epoch_stats

OFFSET = SourceOffset(run="r", epoch=4, stream="s", shards={"a": "TRIM_HORIZON", "b": "AT_TIMESTAMP:1"})


def put(root: Path, sid: str, **fields: Any) -> None:
    base = {"run": "r", "epoch": 4, "start": OFFSET.shards[sid], "end": "NOCHANGE", "caughtUp": True}
    LocalEndLog(root).put_if_absent(entry_key("r", 4, sid), {**base, **fields})


def test_epoch_stats_sums_the_epochs_entries(tmp_path: Path) -> None:
    put(tmp_path, "a", records=12, fetched=3, bytes=300, calls=2, throttles=1, millisBehindLatest=0, tipMs=50)
    put(tmp_path, "b", records=0, fetched=0, bytes=0, calls=1, throttles=0, millisBehindLatest=0, tipMs=40)
    stats = epoch_stats(str(OFFSET.to_dict()), str(tmp_path))  # as lastProgress reports it
    assert stats == EpochStats(
        epoch=4, records=12, bytes=300, max_millis_behind_latest=0, shards=2, caught_up=True,
        fetched_records=3, get_records_calls=3, throttles=1, missing=0, drained=0, caught_up_at_ms=40,
    )  # fmt: skip


def test_a_closed_shard_or_a_missing_entry_is_not_caught_up(tmp_path: Path) -> None:
    put(tmp_path, "a", records=1, fetched=1, end="SHARD_END", millisBehindLatest=7)
    stats = epoch_stats(OFFSET.to_json(), str(tmp_path))
    assert (stats.caught_up, stats.missing, stats.drained, stats.max_millis_behind_latest) == (False, 1, 1, 7)
