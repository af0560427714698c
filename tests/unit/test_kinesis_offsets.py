"""Offset JSON and shard positions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from jobs.kinesis.offsets import NOCHANGE, SHARD_END, Position, SourceOffset, next_start
from streamlake.errors import SourceError

OFFSET = SourceOffset(
    run="r1",
    epoch=7,
    stream="events",
    shards={"shardId-2": "AFTER_SEQUENCE_NUMBER:495", "shardId-1": "AT_TIMESTAMP:1700000000000"},
    done=("shardId-0",),
    t0=1700000000000,
)


def test_positions_round_trip_and_map_to_get_shard_iterator() -> None:
    for pos in (Position.trim_horizon(), Position.at_timestamp(1_700_000_000_123), Position.after("4951")):
        assert Position.parse(pos.encode()) == pos
    assert Position.after("49").iterator_request() == {
        "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
        "StartingSequenceNumber": "49",
    }
    assert Position.at_timestamp(1_700_000_000_123).iterator_request() == {
        "ShardIteratorType": "AT_TIMESTAMP",
        "Timestamp": datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
    }
    assert Position.trim_horizon().iterator_request() == {"ShardIteratorType": "TRIM_HORIZON"}


@pytest.mark.parametrize("text", ["LATEST", "AT_TIMESTAMP:soon", "AFTER_SEQUENCE_NUMBER:", "TRIM_HORIZON:1", ""])
def test_unreadable_positions_are_source_errors(text: str) -> None:
    with pytest.raises(SourceError, match="unreadable shard position"):
        Position.parse(text)


def test_next_start_follows_the_claimed_end() -> None:
    start = Position.at_timestamp(5)
    assert next_start(start, NOCHANGE) == start
    assert next_start(start, SHARD_END) is None
    assert next_start(start, "AFTER_SEQUENCE_NUMBER:9") == Position.after("9")
    assert next_start(start, "AT_TIMESTAMP:8") == Position.at_timestamp(8)


def test_offset_json_is_canonical_and_round_trips() -> None:
    text = OFFSET.to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert list(OFFSET.to_dict()) == sorted(OFFSET.to_dict())
    assert list(OFFSET.to_dict()["shards"]) == ["shardId-1", "shardId-2"]
    assert SourceOffset.from_json(text) == OFFSET
    assert SourceOffset.from_dict(OFFSET.to_dict()) == OFFSET


def test_offsets_as_pyspark_progress_reports_them() -> None:
    # StreamingQueryProgress.sources[i].endOffset is str() of a dict in PySpark 4.x.
    assert SourceOffset.from_json(str(OFFSET.to_dict())) == OFFSET
    assert SourceOffset.from_json(OFFSET.to_dict()) == OFFSET


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"v": 2}', "version 2"),
        ('{"v": 1, "run": "r"}', "malformed"),
        ('{"v": 1, "run": "r", "epoch": 1, "stream": "s", "shards": {"a": "LATEST"}}', "unreadable"),
    ],
)
def test_bad_offsets_are_source_errors(text: str, match: str) -> None:
    with pytest.raises(SourceError, match=match):
        SourceOffset.from_json(text)
