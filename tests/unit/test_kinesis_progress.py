"""Driver-side helpers: per-epoch statistics from the end log, and the stream pre-flight check."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from jobs.kinesis.endlog import LocalEndLog, entry_key
from jobs.kinesis.offsets import SourceOffset
from jobs.kinesis.progress import EpochStats, epoch_stats, validate_stream
from streamlake.errors import SourceError

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


@pytest.mark.integration
def test_caught_up_also_needs_every_open_shard_tracked_when_kinesis_is_given(stack: Any, tmp_path: Path) -> None:
    from streamlake.stack import ensure_stream

    name = f"progress-{uuid.uuid4().hex[:8]}"
    ensure_stream(stack.client("kinesis"), name, shards=2)
    offset = SourceOffset(run="r", epoch=4, stream=name, shards={"shardId-000000000000": "TRIM_HORIZON"})
    entry = {"run": "r", "epoch": 4, "start": "TRIM_HORIZON", "end": "NOCHANGE", "caughtUp": True, "tipMs": 9}
    LocalEndLog(tmp_path).put_if_absent(entry_key("r", 4, "shardId-000000000000"), entry)
    assert epoch_stats(offset.to_json(), str(tmp_path)).caught_up  # the end log alone
    kinesis = {"endpoint_url": stack.kinesis_endpoint, "region": stack.region}
    assert not epoch_stats(offset.to_json(), str(tmp_path), **kinesis).caught_up  # shard 1 is not read
    both = SourceOffset(
        run="r", epoch=4, stream=name, shards={f"shardId-00000000000{i}": "TRIM_HORIZON" for i in (0, 1)}
    )
    LocalEndLog(tmp_path).put_if_absent(entry_key("r", 4, "shardId-000000000001"), entry)
    assert epoch_stats(both.to_json(), str(tmp_path), **kinesis).caught_up


@pytest.mark.integration
def test_validate_stream_accepts_a_stream_and_names_what_is_wrong(stack: Any) -> None:
    from streamlake.stack import ensure_stream

    name = f"validate-{uuid.uuid4().hex[:8]}"
    ensure_stream(stack.client("kinesis"), name, shards=1)
    summary = validate_stream(name, stack.kinesis_endpoint, stack.region, 5)
    assert summary["StreamName"] == name
    with pytest.raises(SourceError, match="'no-such-stream' does not exist"):
        validate_stream("no-such-stream", stack.kinesis_endpoint, stack.region, 5)
    with pytest.raises(SourceError, match=r"cannot reach Kinesis at http://127\.0\.0\.1:9"):
        validate_stream(name, "http://127.0.0.1:9", stack.region, 1)
