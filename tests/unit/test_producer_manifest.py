"""The manifest round-trips, and the expected outcome counts what the records say."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.producer import expected_outcome, generate_events, load_manifest, write_manifest
from streamlake.errors import ConfigError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def records() -> list:
    recs = generate_events(4000, seed=17, now=NOW, bad_fraction=0.15, duplicate_fraction=0.05, aggregated=True)
    for r in recs:  # as if sent: positions filled in
        r.shard_id = f"shardId-{r.index % 3:012d}"
        r.sequence_number = f"{r.index:056d}"
        r.sub_sequence_number = 0
    return recs


@pytest.mark.parametrize("name", ["m.jsonl", "nested/dir/m.jsonl.gz"])
def test_round_trip(tmp_path: Path, records: list, name: str) -> None:
    path = write_manifest(reversed(records), tmp_path / name)
    rows = load_manifest(path)
    assert [r.index for r in rows] == list(range(4000))  # sorted by index whatever the write order
    for rec, row in zip(records, rows, strict=True):
        assert (row.event_id, row.table, row.kind, row.partition_key) == (
            rec.event_id,
            rec.table,
            rec.kind,
            rec.partition_key,
        )
        assert row.expected_reasons == rec.expected_reasons
        assert row.position == (rec.shard_id, rec.sequence_number, 0)
        assert row.size == len(rec.data) and row.sha256 == hashlib.sha256(rec.data).hexdigest()
        assert row.data == rec.data


def test_rows_have_the_documented_fields(tmp_path: Path, records: list) -> None:
    path = write_manifest(records[:5], tmp_path / "m.jsonl")
    first = json.loads(path.read_text().splitlines()[0])
    assert set(first) == {
        "index",
        "event_id",
        "table",
        "kind",
        "expected_reasons",
        "partition_key",
        "shard_id",
        "sequence_number",
        "sub_sequence_number",
        "size",
        "sha256",
        "data_b64",
    }


def test_expected_outcome_counts_independently(tmp_path: Path, records: list) -> None:
    expected = expected_outcome(write_manifest(records, tmp_path / "m.jsonl"))
    # Re-derive from the records by a different route: parse the valid records' JSON.
    valid_ids: dict[str, set[str]] = {}
    for r in records:
        if r.kind == "valid":
            event = json.loads(r.data)
            valid_ids.setdefault(r.table, set()).add(event["event_id"])
    assert {t: set(ids) for t, ids in expected.valid_event_ids.items()} == valid_ids
    reasons = Counter(reason for r in records for reason in r.expected_reasons)
    assert expected.quarantine_counts == dict(reasons)
    assert expected.duplicates == sum(r.kind == "duplicate" for r in records)
    assert expected.quarantined_records == sum(bool(r.expected_reasons) for r in records)
    assert expected.total_records == 4000
    assert expected.valid_records + expected.quarantined_records + expected.duplicates == 4000
    unrouted = sum(r.table is None and bool(r.expected_reasons) for r in records)
    assert expected.quarantine_tables["_unrouted"] == unrouted
    assert sum(expected.quarantine_tables.values()) == expected.quarantined_records


def test_duplicates_point_at_expected_valid_ids(records: list) -> None:
    rows_expected = expected_outcome(load_manifest_from(records))
    all_valid = set().union(*rows_expected.valid_event_ids.values())
    assert all(r.event_id in all_valid for r in records if r.kind == "duplicate")


def load_manifest_from(records: list) -> list:
    from local.producer.manifest import ManifestRow, row_of

    out = []
    for r in records:
        row = row_of(r)
        row["expected_reasons"] = tuple(row["expected_reasons"])
        out.append(ManifestRow(**row))
    return out


def test_a_broken_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"index": 0}\n')
    with pytest.raises(ConfigError, match=r"m\.jsonl:1"):
        load_manifest(path)
    with pytest.raises(ConfigError, match="existing manifest"):
        load_manifest(tmp_path / "missing.jsonl")
