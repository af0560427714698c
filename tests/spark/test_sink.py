"""The lake sink on real Spark and a real lake directory: retries found across batches and
restarts, no row lost to skew, and a batch that does not add up commits nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from jobs.ingest.sink import BatchResults, ConservationError, LakeSink
from jobs.lake import layout
from jobs.lake.writer import LakeWriter, Plan
from jobs.transforms.pipeline import prepare
from schemas import load_stream, load_table
from tests.spark.test_transforms import SOURCE_DDL, _cart, _uuid

NOW = dt.datetime(2026, 11, 23, 12, 0, 0)


@pytest.fixture(scope="module")
def shop() -> tuple[Any, list[Any]]:
    stream = load_stream("shop_events")
    return stream, [load_table(t) for t in stream.tables]


def _checkpoint(tmp_path: Path) -> str:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "metadata").write_text(json.dumps({"id": "11111111-2222-3333-4444-555555555555"}))
    return str(ckpt)


def _sink(tmp_path: Path, tables: list[Any], writer: LakeWriter | None = None, **kw: Any) -> LakeSink:
    writer = writer or LakeWriter(lake_uri=str(tmp_path / "lake"))
    return LakeSink(writer=writer, tables=tables, checkpoint=str(tmp_path / "ckpt"), results=BatchResults(), **kw)


def _batch(spark: Any, shop: Any, rows: list[tuple[str, str, dt.datetime, bytes]]) -> Any:
    stream, tables = shop
    raw = spark.createDataFrame([("s", sh, seq, 0, "k", at, data) for sh, seq, at, data in rows], SOURCE_DDL)
    return prepare(raw, tables=tables, stream=stream, max_record_bytes=4096)


def _stored(lake: Path) -> list[tuple[str, str]]:
    files = str(lake / "add_to_cart" / "**" / "*.parquet")
    con = duckdb.connect()
    return sorted(con.execute(f"SELECT event_id, _sequence_number FROM read_parquet('{files}')").fetchall())


def test_retries_are_found_across_batches_and_restarts_and_no_lagging_row_is_lost(
    spark: Any, shop: Any, tmp_path: Path
) -> None:
    _, tables = shop
    _checkpoint(tmp_path)
    two_days_ago = NOW - dt.timedelta(days=2)
    old = "2026-11-21T11:59:00Z"
    sink = _sink(tmp_path, tables)
    # Batch 0: a quiet shard at the tip. Batch 1: a hot shard two days behind, and a retry of
    # batch 0's event. Nothing is "late": every row of batch 1 lands except the retry.
    sink(_batch(spark, shop, [("shardId-1", "10", NOW, _cart(event_id=_uuid(1)))]), 0)
    behind = [("shardId-0", f"{i:02d}", two_days_ago, _cart(event_id=_uuid(100 + i), event_time=old)) for i in range(3)]
    sink(_batch(spark, shop, [*behind, ("shardId-1", "11", NOW, _cart(event_id=_uuid(1)))]), 1)
    # A new driver (fresh memory, loaded from the lake) sees the same keys.
    restarted = _sink(tmp_path, tables)
    restarted(_batch(spark, shop, [("shardId-1", "12", NOW, _cart(event_id=_uuid(100), event_time=old))]), 2)

    assert _stored(tmp_path / "lake") == [(_uuid(1), "10"), (_uuid(100), "00"), (_uuid(101), "01"), (_uuid(102), "02")]
    results = [sink.results.pop(0), sink.results.pop(1), restarted.results.pop(2)]
    assert [(r.read, r.valid, r.quarantined, r.duplicates) for r in results if r] == [
        (1, 1, 0, 0),
        (4, 3, 0, 1),
        (1, 0, 0, 1),
    ]


def test_a_batch_the_source_counted_differently_commits_nothing(spark: Any, shop: Any, tmp_path: Path) -> None:
    _, tables = shop
    ckpt = Path(_checkpoint(tmp_path))
    (ckpt / "offsets").mkdir()
    (ckpt / "offsets" / "0").write_text('v1\n{"batchWatermarkMs":0}\n{"epoch": 1}\n')
    sink = _sink(tmp_path, tables, source_records=lambda end: 3)  # the source emitted 3 rows
    with pytest.raises(ConservationError, match="source emitted 3 rows but the batch holds 2"):
        sink(
            _batch(spark, shop, [("shardId-1", "10", NOW, _cart(event_id=_uuid(1))), ("shardId-1", "11", NOW, b"x")]), 0
        )
    assert not list((tmp_path / "lake").rglob("*.parquet"))
    assert not (tmp_path / "lake" / layout.BATCHES).exists() or not any((tmp_path / "lake" / layout.BATCHES).iterdir())


class _LosesAFile(LakeWriter):
    """A writer whose staging lost the quarantine file (a faulty store): the count must catch it."""

    def plan(self, batch_id: int, outputs: Any) -> Plan:
        plan = super().plan(batch_id, outputs)
        return Plan(plan.batch_id, tuple(f for f in plan.files if f.output != "_quarantine"), plan.outputs)


def test_a_batch_whose_staged_files_do_not_add_up_commits_nothing(spark: Any, shop: Any, tmp_path: Path) -> None:
    _, tables = shop
    _checkpoint(tmp_path)
    sink = _sink(tmp_path, tables, writer=_LosesAFile(lake_uri=str(tmp_path / "lake")))
    batch = _batch(spark, shop, [("shardId-1", "10", NOW, _cart(event_id=_uuid(1))), ("shardId-1", "11", NOW, b"x")])
    with pytest.raises(ConservationError, match=r"batch 0 does not add up: read 2 != valid 1 .* quarantined 0"):
        sink(batch, 0)
    assert not list((tmp_path / "lake").glob("add_to_cart/**/*.parquet"))
    assert not (tmp_path / "lake" / layout.BATCHES).exists() or not any((tmp_path / "lake" / layout.BATCHES).iterdir())
