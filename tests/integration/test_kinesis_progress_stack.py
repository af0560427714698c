"""Driver-side helpers against the emulator: caught-up needs every open shard; the stream pre-flight check."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from jobs.kinesis.endlog import LocalEndLog, entry_key
from jobs.kinesis.offsets import SourceOffset
from jobs.kinesis.progress import epoch_stats, validate_stream
from streamlake.errors import SourceError

pytestmark = pytest.mark.integration


def test_caught_up_also_needs_every_open_shard_tracked_when_kinesis_is_given(stack: Any, tmp_path: Path) -> None:
    from local.stack import ensure_stream

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


def test_validate_stream_accepts_a_stream_and_names_what_is_wrong(stack: Any) -> None:
    from local.stack import ensure_stream

    name = f"validate-{uuid.uuid4().hex[:8]}"
    ensure_stream(stack.client("kinesis"), name, shards=1)
    summary = validate_stream(name, stack.kinesis_endpoint, stack.region, 5)
    assert summary["StreamName"] == name
    with pytest.raises(SourceError, match="'no-such-stream' does not exist"):
        validate_stream("no-such-stream", stack.kinesis_endpoint, stack.region, 5)
    with pytest.raises(SourceError, match=r"cannot reach Kinesis at http://127\.0\.0\.1:9"):
        validate_stream(name, "http://127.0.0.1:9", stack.region, 1)
