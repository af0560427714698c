"""The exactness oracle compares content: it passes on an exact lake and names one altered value,
one row in the wrong partition and one altered quarantined byte."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.ingest.sink import BatchResults, LakeSink
from jobs.lake.writer import LakeWriter
from jobs.transforms.pipeline import prepare
from local.producer import generate_events
from local.verify import check
from schemas import load_stream, load_table
from tests.spark.test_transforms import SOURCE_DDL

ARRIVAL = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def lake(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any], list[str]]:
    """A real lake written by the sink from 400 seeded events, bad ones and retries included."""
    stream = load_stream("shop_events")
    tables = [load_table(t) for t in stream.tables]
    records = generate_events(400, seed=3, now=ARRIVAL)
    for i, r in enumerate(records):  # where send() would have put them
        r.shard_id, r.sequence_number, r.sub_sequence_number = "shardId-000000000000", f"{10**20 + i}", 0
    arrival = ARRIVAL.replace(tzinfo=None)
    raw = spark.createDataFrame(
        [("s", r.shard_id, r.sequence_number, 0, r.partition_key, arrival, r.data) for r in records], SOURCE_DDL
    )
    root = tmp_path_factory.mktemp("oracle")
    (root / "ckpt").mkdir()
    (root / "ckpt" / "metadata").write_text(json.dumps({"id": "00000000-0000-0000-0000-000000000001"}))
    sink = LakeSink(
        writer=LakeWriter(lake_uri=str(root / "lake")),
        tables=tables,
        checkpoint=str(root / "ckpt"),
        results=BatchResults(),
    )
    sink(prepare(raw, tables=tables, stream=stream, max_record_bytes=512 * 1024), 0)
    return root / "lake", records, list(stream.tables)


def _copy(lake: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(lake, tmp_path / "lake"))


def _rewrite(path: Path, change: Any) -> None:
    table = pq.read_table(path, partitioning=None)
    pq.write_table(change(table), path)


def test_the_oracle_passes_an_exact_lake(lake: tuple[Path, list[Any], list[str]]) -> None:
    root, records, tables = lake
    result = check(root, records, tables)
    assert result.exact, result.explain()
    assert sum(result.lake_rows.values()) > 300 and result.quarantined > 0


def test_one_altered_value_is_named(lake: tuple[Path, list[Any], list[str]], tmp_path: Path) -> None:
    root, records, tables = _copy(lake[0], tmp_path), lake[1], lake[2]
    victim = sorted((root / "page_view").rglob("*.parquet"))[0]

    def change(t: pa.Table) -> pa.Table:
        values = t.column("duration_ms").to_pylist()
        values[0] = (values[0] or 0) + 1
        return t.set_column(t.schema.get_field_index("duration_ms"), "duration_ms", pa.array(values, pa.int64()))

    _rewrite(victim, change)
    problems = check(root, records, tables).problems
    assert len(problems) == 1 and "column duration_ms is" in problems[0], problems


def test_one_row_in_the_wrong_partition_is_named(lake: tuple[Path, list[Any], list[str]], tmp_path: Path) -> None:
    root, records, tables = _copy(lake[0], tmp_path), lake[1], lake[2]
    victim = sorted((root / "add_to_cart").rglob("*.parquet"))[0]
    moved = root / "add_to_cart" / "event_date=2001-01-01" / "part-moved.parquet"
    moved.parent.mkdir()
    table = pq.read_table(victim, partitioning=None)
    pq.write_table(table.slice(0, 1), moved)
    pq.write_table(table.slice(1), victim)
    problems = check(root, records, tables).problems
    assert len(problems) == 1 and "is in event_date=2001-01-01" in problems[0], problems


def test_one_altered_quarantined_byte_is_named(lake: tuple[Path, list[Any], list[str]], tmp_path: Path) -> None:
    root, records, tables = _copy(lake[0], tmp_path), lake[1], lake[2]
    victim = sorted((root / "_quarantine").rglob("*.parquet"))[0]

    def change(t: pa.Table) -> pa.Table:
        data = t.column("data").to_pylist()
        data[0] = bytes([data[0][0] ^ 1]) + data[0][1:]
        return t.set_column(t.schema.get_field_index("data"), "data", pa.array(data, pa.binary()))

    _rewrite(victim, change)
    problems = check(root, records, tables).problems
    assert len(problems) == 1 and "bytes that differ" in problems[0], problems
