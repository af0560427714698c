"""Compaction of closed partitions written by the lake writer (local lake, and S3 + Glue on moto)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from glue.catalog import PartitionRegistrar, ensure_database, ensure_table
from jobs.lake import LakeWriter, Output, layout, orphans
from jobs.lake.compact import closed_partitions, compact_partition, finish_compactions, main
from jobs.lake.fs import LocalFS, filesystem_for
from jobs.lake.readers import live_files
from local.stack import ensure_bucket
from schemas.loader import load_table

pytestmark = pytest.mark.integration

SCHEMA = "event_id string, duration_ms long, _batch_id long, event_date date"
DAYS = (dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23))
_ids = itertools.count()


def rows(batch_id: int, n: int = 9) -> list[tuple[Any, ...]]:
    return [(f"e{batch_id}-{i:03d}", i, batch_id, DAYS[i % 3]) for i in range(n)]


def write_batches(spark: Any, writer: LakeWriter, count: int) -> list[tuple[Any, ...]]:
    everything: list[tuple[Any, ...]] = []
    for b in range(count):
        writer.write_batch(b, [Output("page_view", spark.createDataFrame(rows(b), SCHEMA), ("event_date",))])
        everything += rows(b)
    return sorted(everything)


def read_live(lake: LocalFS) -> list[tuple[Any, ...]]:
    """A reader that bypasses the catalog: exactly the live files, Hive partitions from the paths."""
    files = [str(lake.path(f.key)) for f in live_files(lake, "page_view")]
    with duckdb.connect() as con:
        rows = con.execute("select * from read_parquet($files, hive_partitioning=true)", {"files": files}).fetchall()
    return sorted(rows)


def test_compaction_swaps_then_deletes_after_grace(spark: Any, tmp_path: Path) -> None:
    lake = LocalFS(tmp_path / "lake")
    expected = write_batches(spark, LakeWriter(cluster_partitions=True, lake_uri=lake.uri), 4)
    day0 = {"event_date": "2026-11-21"}
    old = [f.key for f in live_files(lake, "page_view") if f.partition == day0]
    assert len(old) == 4

    record = compact_partition(lake, "page_view", day0, grace_seconds=600, now=1_000_000.0)

    assert record is not None and record.state == "swapped"
    assert record.rows == 12 and len(record.outputs) == 1
    assert record.id.startswith("c0001000000000-")
    assert record.outputs[0].key.startswith(f"_compacted/page_view/{record.id}/event_date=2026-11-21/part-")
    assert read_live(lake) == expected
    assert all(lake.exists(k) for k in old)  # still there for queries planned before the swap
    assert orphans(lake, "page_view", older_than_seconds=0, now=2e9) == []

    assert finish_compactions(lake, "page_view", now=1_000_000.0 + 599) == []
    assert all(lake.exists(k) for k in old)
    done = finish_compactions(lake, "page_view", now=1_000_000.0 + 601)
    assert [r.id for r in done] == [record.id] and done[0].state == "done"
    assert not any(lake.exists(k) for k in old)
    assert read_live(lake) == expected
    # Untouched partitions keep their streaming files.
    assert len([f for f in live_files(lake, "page_view") if f.partition != day0]) == 8


def test_compaction_splits_at_the_target_size_and_skips_small_partitions(spark: Any, tmp_path: Path) -> None:
    lake = LocalFS(tmp_path / "lake")
    expected = write_batches(spark, LakeWriter(cluster_partitions=True, lake_uri=lake.uri), 3)

    record = compact_partition(lake, "page_view", {"event_date": "2026-11-22"}, target_file_bytes=1)
    assert record is not None and len(record.outputs) == 3  # every flush already exceeds 1 byte
    assert sorted(pq.read_metadata(lake.path(f.key)).num_rows for f in record.outputs) == [3, 3, 3]
    assert read_live(lake) == expected

    # One live file left after compacting into one file: nothing to do.
    again = compact_partition(lake, "page_view", {"event_date": "2026-11-21"})
    assert again is not None and len(again.outputs) == 1
    assert compact_partition(lake, "page_view", {"event_date": "2026-11-21"}) is None
    assert read_live(lake) == expected


def test_compact_cli(spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--closed-before" in capsys.readouterr().out

    lake = LocalFS(tmp_path / "lake")
    expected = write_batches(spark, LakeWriter(cluster_partitions=True, lake_uri=lake.uri), 2)
    assert closed_partitions(lake, "page_view", before="2026-11-23") == [
        {"event_date": "2026-11-21"},
        {"event_date": "2026-11-22"},
    ]
    assert (
        main(["--lake", lake.uri, "--name", "page_view", "--closed-before", "2026-11-23", "--grace-seconds", "0"]) == 0
    )
    assert main(["--lake", lake.uri, "--name", "page_view", "--finish-only"]) == 0
    by_day: dict[str, int] = {}
    for f in live_files(lake, "page_view"):
        by_day[f.partition["event_date"]] = by_day.get(f.partition["event_date"], 0) + 1
    assert by_day == {"2026-11-21": 1, "2026-11-22": 1, "2026-11-23": 2}
    assert read_live(lake) == expected
    assert not (lake.path("page_view/event_date=2026-11-21")).exists() or not any(
        lake.path("page_view/event_date=2026-11-21").iterdir()
    )

    with pytest.raises(SystemExit):
        main(["--lake", "s3://bucket/lake", "--name", "page_view", "--closed-before", "2026-11-23"])


def test_s3_compaction_moves_the_glue_partition(spark: Any, stack: Any, tmp_path: Path) -> None:
    s3, glue = stack.client("s3"), stack.client("glue")
    bucket, database = f"lake-compact-{next(_ids)}", f"lake_compact_{next(_ids)}"
    ensure_bucket(s3, bucket)
    ensure_database(glue, database)
    table = load_table("page_view")
    lake_uri = f"s3://{bucket}/lake"
    ensure_table(glue, database=database, table=table, location=f"{lake_uri}/page_view")
    registrar = PartitionRegistrar(
        glue, database=database, tables={"page_view": table}, location_for=lambda n: f"{lake_uri}/{n}"
    )
    writer = LakeWriter(
        cluster_partitions=True,
        lake_uri=lake_uri,
        staging_uri=str(tmp_path / "staging"),
        s3_client=s3,
        catalog=registrar,
    )
    expected = write_batches(spark, writer, 3)
    lake = filesystem_for(lake_uri, s3_client=s3)
    day0 = {"event_date": "2026-11-21"}
    old = [f.key for f in live_files(lake, "page_view") if f.partition == day0]

    record = compact_partition(lake, "page_view", day0, catalog=registrar, grace_seconds=0)

    assert record is not None
    part = glue.get_partition(DatabaseName=database, TableName="page_view", PartitionValues=["2026-11-21"])
    assert part["Partition"]["StorageDescriptor"]["Location"] == record.location
    assert record.location == f"{lake_uri}/_compacted/page_view/{record.id}/event_date=2026-11-21/"
    # What Athena would read for that partition now: everything under the new location.
    prefix = record.location.removeprefix(f"s3://{bucket}/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    got = []
    for obj in listed:
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        got += [(*r.values(), DAYS[0]) for r in pq.read_table(io.BytesIO(body)).to_pylist()]
    assert sorted(got) == [r for r in expected if r[3] == DAYS[0]]

    finish_compactions(lake, "page_view", catalog=registrar)
    assert not any(lake.exists(k) for k in old)
    assert lake.exists(layout.compaction_key("page_view", record.id))
