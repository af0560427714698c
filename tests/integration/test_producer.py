"""The producer against kinesalite: what the manifest says was sent is exactly what is in the stream."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jobs.kinesis import kpl
from local.producer import expected_outcome, generate_events, load_manifest, send, write_manifest
from local.producer.cli import main
from local.stack import ensure_stream

pytestmark = pytest.mark.integration


def _new_stream(client: Any, shards: int = 4) -> str:
    name = f"producer-{uuid.uuid4().hex[:10]}"
    ensure_stream(client, name, shards=shards)
    return name


def read_stream(client: Any, stream: str) -> dict[tuple[str, str], tuple[str, bytes]]:
    """Every record of every shard from TRIM_HORIZON: (shard, sequence) -> (partition key, data)."""
    out: dict[tuple[str, str], tuple[str, bytes]] = {}
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        sid = shard["ShardId"]
        it = client.get_shard_iterator(StreamName=stream, ShardId=sid, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while it:
            resp = client.get_records(ShardIterator=it, Limit=10_000)
            for rec in resp["Records"]:
                key = (sid, rec["SequenceNumber"])
                assert key not in out
                out[key] = (rec["PartitionKey"], rec["Data"])
            if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
                break
            it = resp.get("NextShardIterator")
    return out


def test_5000_events_arrive_exactly_as_the_manifest_says(stack: Any, tmp_path: Path) -> None:
    client = stack.client("kinesis")
    name = _new_stream(client)
    records = generate_events(5000, seed=2026, now=datetime.now(UTC))
    result = send(records, kinesis_client=client, stream=name, progress=False)
    rows = load_manifest(write_manifest(records, tmp_path / "manifest.jsonl"))

    got = read_stream(client, name)
    assert result.sent == 5000 and len(result.per_shard) == 4
    assert set(got) == {(r.shard_id, r.sequence_number) for r in rows}
    for row, rec in zip(rows, records, strict=True):
        pk, data = got[(row.shard_id, row.sequence_number)]  # type: ignore[index]
        assert (pk, data) == (rec.partition_key, rec.data)
        assert hashlib.sha256(data).hexdigest() == row.sha256
    assert {s: n for s, n in result.per_shard.items()} == {
        s: sum(1 for k in got if k[0] == s) for s in result.per_shard
    }
    expected = expected_outcome(rows)
    assert expected.total_records == 5000 and expected.duplicates > 0 and expected.quarantined_records > 0


def test_aggregated_mode_round_trips_through_the_kpl_decoder(stack: Any, tmp_path: Path) -> None:
    client = stack.client("kinesis")
    name = _new_stream(client)
    records = generate_events(5000, seed=7, now=datetime.now(UTC), bad_fraction=0.05, aggregated=True)
    result = send(records, kinesis_client=client, stream=name, progress=False, aggregate=50)
    rows = load_manifest(write_manifest(records, tmp_path / "manifest.jsonl"))
    assert result.sent == 5000 and result.kinesis_records < 500

    shards = {s["ShardId"]: s["HashKeyRange"] for s in client.list_shards(StreamName=name)["Shards"]}
    users: dict[tuple[str, str, int], kpl.UserRecord] = {}
    for (sid, seq), (pk, data) in read_stream(client, name).items():
        for user in kpl.deaggregate(data, pk):
            rng = shards[sid]
            # The reader drops user records outside the shard's range; the producer must not put any there.
            assert kpl.in_hash_range(user, int(rng["StartingHashKey"]), int(rng["EndingHashKey"]))
            users[(sid, seq, user.sub_sequence_number)] = user
    assert set(users) == {r.position for r in rows}
    by_index = {r.index: r for r in records}
    for row in rows:
        user = users[row.position]  # type: ignore[index]
        assert user.data == by_index[row.index].data
        assert user.corrupt == (row.kind == "corrupt_aggregate")
        if not user.corrupt:
            assert user.partition_key == row.partition_key
    assert any(r.kind == "corrupt_aggregate" for r in rows)


def test_cli_creates_the_stream_and_writes_the_manifest(
    stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"producer-cli-{uuid.uuid4().hex[:8]}"
    manifest = tmp_path / "run.jsonl.gz"
    code = main(
        [
            "--stream",
            name,
            "--endpoint-url",
            stack.kinesis_endpoint,
            "--region",
            stack.region,
            "--create-shards",
            "2",
            "--count",
            "300",
            "--seed",
            "5",
            "--now",
            "2026-11-23T12:00:00Z",
            "--manifest",
            str(manifest),
            "--no-progress",
            "--aggregate",
            "10",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    rows = load_manifest(manifest)
    assert len(rows) == 300 and all(r.sequence_number for r in rows)
    assert "total" in out and "300" in out and out.count("shardId-") == 2
    # Same seed and clock: the manifest describes exactly the records the library generates.
    again = generate_events(300, seed=5, now=datetime(2026, 11, 23, 12, tzinfo=UTC), aggregated=True)
    assert [r.sha256 for r in rows] == [hashlib.sha256(r.data).hexdigest() for r in again]
