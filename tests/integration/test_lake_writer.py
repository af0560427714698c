"""The lake writer on a local directory: real Spark, real files, DuckDB as the directory-listing reader."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from jobs.lake import LakeWriter, Output, committed_files, layout, orphans, sweep_orphans
from jobs.lake.fs import FileInfo, LakeFS, LocalFS
from streamlake.errors import LakeError

pytestmark = pytest.mark.integration

VIEW_SCHEMA = "event_id string, user_id string, duration_ms long, _batch_id long, event_date date"
QUARANTINE_SCHEMA = "raw string, reason string, _batch_id long, event_date date"
DAYS = (dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23))


def view_rows(batch_id: int, n: int = 12) -> list[tuple[Any, ...]]:
    return [(f"e{batch_id}-{i:03d}", f"U{i % 4:07d}", i * 10, batch_id, DAYS[i % 3]) for i in range(n)]


def quarantine_rows(batch_id: int) -> list[tuple[Any, ...]]:
    return [(f"{{bad {i}}}", "malformed_json", batch_id, DAYS[i % 3]) for i in range(6)]


def outputs(spark: Any, batch_id: int, *, views: list[tuple[Any, ...]] | None = None) -> list[Output]:
    return [
        Output(
            "page_view",
            spark.createDataFrame(views if views is not None else view_rows(batch_id), VIEW_SCHEMA),
            ("event_date",),
            schema_hash="abc123",
        ),
        Output(
            "_quarantine/page_view",
            spark.createDataFrame(quarantine_rows(batch_id), QUARANTINE_SCHEMA),
            ("event_date",),
        ),
    ]


def read_lake(lake: Path, name: str) -> list[tuple[Any, ...]]:
    """What a directory-listing engine sees: every Parquet file under the table, Hive partitions on."""
    files = sorted(str(p) for p in (lake / name).rglob("*.parquet"))
    if not files:
        return []
    with duckdb.connect() as con:
        rows = con.execute("select * from read_parquet($files, hive_partitioning=true)", {"files": files}).fetchall()
    return sorted(rows)


def data_keys(lake: Path, name: str) -> list[str]:
    return sorted(p.relative_to(lake).as_posix() for p in (lake / name).rglob("*") if p.is_file())


class FailingFS(LakeFS):
    """A real file system that raises once ``op`` on keys under ``prefix`` has succeeded ``after`` times.

    A stand-in for a driver dying mid-publish: everything before the failure really happened.
    """

    def __init__(self, inner: LakeFS, *, op: str, after: int = 0, prefix: str = "") -> None:
        self.inner = inner
        self.uri = inner.uri
        self.op = op
        self.after = after
        self.prefix = prefix
        self.calls = 0
        self._lock = threading.Lock()

    def _tick(self, op: str, key: str) -> None:
        if op != self.op or not key.startswith(self.prefix):
            return
        with self._lock:
            if self.calls >= self.after:
                raise OSError(f"injected crash before {op} {key}")
            self.calls += 1

    def list(self, prefix: str = "") -> list[FileInfo]:
        return self.inner.list(prefix)

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(key)

    def read_tail(self, key: str, size: int, nbytes: int) -> bytes:
        return self.inner.read_tail(key, size, nbytes)

    def write_bytes(self, key: str, data: bytes) -> None:
        self._tick("write_bytes", key)
        self.inner.write_bytes(key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self._tick("put_if_absent", key)
        return self.inner.put_if_absent(key, data)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def put_from(self, src: LakeFS, src_key: str, key: str, *, move: bool = True) -> None:
        self._tick("put_from", key)
        self.inner.put_from(src, src_key, key, move=move)


class RecordingCatalog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[dict[str, str]]]] = []

    def register(self, name: str, partitions: list[dict[str, str]]) -> None:
        self.calls.append((name, partitions))


def expected_views(batch_id: int, n: int = 12) -> list[tuple[Any, ...]]:
    return sorted(view_rows(batch_id, n))


# -- the happy path ----------------------------------------------------------------------------


def test_batch_lands_with_deterministic_names_and_exact_rows(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    catalog = RecordingCatalog()
    result = LakeWriter(cluster_partitions=True, lake_uri=str(lake), catalog=catalog).write_batch(
        7, outputs(spark, 7), source={"s": 1}
    )

    assert read_lake(lake, "page_view") == expected_views(7)
    assert read_lake(lake, "_quarantine/page_view") == sorted(quarantine_rows(7))
    assert data_keys(lake, "page_view") == [
        f"page_view/event_date={d.isoformat()}/part-000000000007-00000.parquet" for d in DAYS
    ]
    assert data_keys(lake, "_quarantine") == [
        f"_quarantine/page_view/event_date={d.isoformat()}/part-000000000007-00000.parquet" for d in DAYS
    ]
    # Nothing but data, commit records and the marker: no _SUCCESS, .crc, staging or intent left.
    assert sorted(p.relative_to(lake).as_posix() for p in lake.rglob("*") if p.is_file()) == sorted(
        data_keys(lake, "page_view")
        + data_keys(lake, "_quarantine")
        + [
            "_commits/_batches/000000000007.json",
            "_commits/page_view/000000000007.json",
            "_commits/_quarantine/page_view/000000000007.json",
        ]
    )

    assert not result.replayed
    assert result.outputs["page_view"].rows == 12
    assert result.outputs["page_view"].files == 3
    assert result.outputs["page_view"].partitions == 3
    assert result.outputs["_quarantine/page_view"].rows == 6

    record = json.loads((lake / "_commits/page_view/000000000007.json").read_text())
    assert record["rows"] == 12
    assert record["schema_hash"] == "abc123"
    assert record["source"] == {"s": 1}
    assert record["partitions"] == [{"event_date": d.isoformat()} for d in DAYS]
    for f in record["files"]:
        path = lake / f["key"]
        assert f["bytes"] == path.stat().st_size
        assert f["rows"] == pq.read_metadata(path).num_rows
        assert f["uri"] == str(path)
    assert sum(f["rows"] for f in record["files"]) == 12

    assert catalog.calls == [
        ("page_view", [{"event_date": d.isoformat()} for d in DAYS]),
        ("_quarantine/page_view", [{"event_date": d.isoformat()} for d in DAYS]),
    ]
    assert [f.key for f in committed_files(str(lake), "page_view")] == data_keys(lake, "page_view")


def test_replaying_a_committed_batch_is_a_no_op(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    first = LakeWriter(cluster_partitions=True, lake_uri=str(lake)).write_batch(3, outputs(spark, 3))
    before = {p: p.stat().st_mtime_ns for p in lake.rglob("*") if p.is_file()}

    catalog = RecordingCatalog()
    # Different rows under the same batch id prove nothing is even staged on a replay.
    again = LakeWriter(cluster_partitions=True, lake_uri=str(lake), catalog=catalog).write_batch(3, outputs(spark, 99))

    assert again.replayed
    assert again.outputs == first.outputs
    assert {p: p.stat().st_mtime_ns for p in lake.rglob("*") if p.is_file()} == before
    assert read_lake(lake, "page_view") == expected_views(3)
    assert catalog.calls == []
    assert not (lake / "_staging" / "000000000003").exists()


def test_consecutive_batches_append(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    writer = LakeWriter(cluster_partitions=True, lake_uri=str(lake))
    writer.write_batch(0, outputs(spark, 0))
    writer.write_batch(1, outputs(spark, 1))
    assert writer.is_committed(0) and writer.is_committed(1) and not writer.is_committed(2)
    assert read_lake(lake, "page_view") == sorted(view_rows(0) + view_rows(1))
    assert len(committed_files(str(lake), "page_view")) == 6


def test_max_records_per_file_is_respected(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    rows = [(f"e{i:03d}", "U0000001", i, 5, DAYS[0]) for i in range(10)]
    frame = spark.createDataFrame(rows, VIEW_SCHEMA)
    result = LakeWriter(cluster_partitions=True, lake_uri=str(lake), max_records_per_file=3).write_batch(
        5, [Output("page_view", frame, ("event_date",))]
    )

    keys = data_keys(lake, "page_view")
    assert keys == [f"page_view/event_date=2026-11-21/part-000000000005-{n:05d}.parquet" for n in range(4)]
    assert sorted(pq.read_metadata(lake / k).num_rows for k in keys) == [1, 3, 3, 3]
    assert result.outputs["page_view"].files == 4
    assert read_lake(lake, "page_view") == sorted(rows)


def test_empty_output_writes_nothing_but_counts(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    outs = [
        Output("page_view", spark.createDataFrame([], VIEW_SCHEMA), ("event_date",)),
        Output("unpartitioned", spark.createDataFrame([], "a long")),
    ]
    result = LakeWriter(cluster_partitions=True, lake_uri=str(lake)).write_batch(0, outs)

    assert result.outputs["page_view"].rows == 0 and result.outputs["page_view"].files == 0
    assert result.outputs["unpartitioned"].files == 0
    assert not (lake / "page_view").exists() and not (lake / "unpartitioned").exists()
    assert not (lake / "_commits/page_view").exists()
    assert (lake / layout.marker_key(0)).exists()


# -- crashes and replays -----------------------------------------------------------------------


def test_crash_mid_publish_then_replay_leaves_exactly_one_copy(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    # The first attempt splits files finely; the replay writes fewer, so any file of the first attempt
    # the replay does not overwrite would be a second copy unless the intent removes it.
    crashing = FailingFS(LocalFS(lake), op="put_from", after=4)
    with pytest.raises(LakeError, match="batch 11: publish"):
        LakeWriter(cluster_partitions=True, lake_uri=str(lake), lake_fs=crashing, max_records_per_file=2).write_batch(
            11, outputs(spark, 11)
        )

    assert (lake / layout.intent_key(11)).exists()
    assert len(data_keys(lake, "page_view")) == 4  # half published: 4 of 6 files, rows doubled-up risk
    assert not (lake / layout.marker_key(11)).exists()

    result = LakeWriter(cluster_partitions=True, lake_uri=str(lake)).write_batch(11, outputs(spark, 11))

    assert read_lake(lake, "page_view") == expected_views(11)
    assert read_lake(lake, "_quarantine/page_view") == sorted(quarantine_rows(11))
    assert data_keys(lake, "page_view") == [
        f"page_view/event_date={d.isoformat()}/part-000000000011-00000.parquet" for d in DAYS
    ]
    assert not result.replayed
    assert not (lake / layout.intent_key(11)).exists()
    assert not (lake / "_staging" / "000000000011").exists()


def test_crash_after_publish_before_commit_then_replay(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    crashing = FailingFS(LocalFS(lake), op="put_if_absent", after=0)
    with pytest.raises(LakeError, match=r"_commits/page_view/000000000004\.json"):
        LakeWriter(cluster_partitions=True, lake_uri=str(lake), lake_fs=crashing, max_records_per_file=5).write_batch(
            4, outputs(spark, 4)
        )
    assert read_lake(lake, "page_view") == expected_views(4)  # all published, not committed
    assert not LakeWriter(cluster_partitions=True, lake_uri=str(lake)).is_committed(4)

    LakeWriter(cluster_partitions=True, lake_uri=str(lake)).write_batch(4, outputs(spark, 4))

    assert read_lake(lake, "page_view") == expected_views(4)
    assert [f.key for f in committed_files(str(lake), "page_view")] == data_keys(lake, "page_view")


def test_crash_between_commit_records_and_marker_then_replay(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    crashing = FailingFS(LocalFS(lake), op="put_if_absent", prefix=layout.BATCHES)
    with pytest.raises(LakeError, match="_batches"):
        LakeWriter(cluster_partitions=True, lake_uri=str(lake), lake_fs=crashing, max_records_per_file=1).write_batch(
            9, outputs(spark, 9)
        )
    assert (lake / layout.commit_key("page_view", 9)).exists()
    # A record without its marker is not committed.
    assert committed_files(str(lake), "page_view") == []

    LakeWriter(cluster_partitions=True, lake_uri=str(lake)).write_batch(9, outputs(spark, 9))

    assert read_lake(lake, "page_view") == expected_views(9)
    record = json.loads((lake / layout.commit_key("page_view", 9)).read_text())
    assert [f["key"] for f in record["files"]] == data_keys(lake, "page_view")


def test_crash_after_marker_replay_returns_record_and_cleans_up(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    writer = LakeWriter(cluster_partitions=True, lake_uri=str(lake))
    outs = outputs(spark, 2)
    # Drive the protocol step by step and stop before the final cleanup.
    writer.recover(2)
    writer.stage(2, outs)
    plan = writer.plan(2, outs)
    writer.write_intent(plan)
    writer.publish(plan)
    writer.register(plan, outs)
    committed = writer.commit(plan, outs, started=time.monotonic())
    assert (lake / layout.intent_key(2)).exists() and (lake / "_staging" / "000000000002").exists()

    again = LakeWriter(cluster_partitions=True, lake_uri=str(lake)).write_batch(2, outputs(spark, 2))

    assert again.replayed and again.outputs == committed.outputs
    assert not (lake / layout.intent_key(2)).exists()
    assert not (lake / "_staging" / "000000000002").exists()
    assert read_lake(lake, "page_view") == expected_views(2)


def test_second_writer_of_a_committed_marker_is_refused(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    writer = LakeWriter(cluster_partitions=True, lake_uri=str(lake))
    outs = outputs(spark, 1)
    writer.stage(1, outs)
    plan = writer.plan(1, outs)
    LocalFS(lake).put_if_absent(layout.marker_key(1), b"{}")  # someone else committed meanwhile
    with pytest.raises(LakeError, match="another writer"):
        writer.commit(plan, outs)


# -- orphans -----------------------------------------------------------------------------------


def test_orphans_found_and_swept_young_files_spared(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    LakeWriter(cluster_partitions=True, lake_uri=str(lake)).write_batch(1, outputs(spark, 1))
    committed = data_keys(lake, "page_view")
    old = lake / "page_view/event_date=2026-11-21/part-00000-dead.snappy.parquet"
    young = lake / "page_view/event_date=2026-11-22/part-00000-fresh.snappy.parquet"
    for p in (old, young):
        p.write_bytes(b"stray")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    # Committed files are never orphans, however old.
    for k in committed:
        os.utime(lake / k, (an_hour_ago, an_hour_ago))

    found = orphans(str(lake), "page_view", older_than_seconds=600)
    assert [f.key for f in found] == [old.relative_to(lake).as_posix()]

    assert [f.key for f in sweep_orphans(str(lake), "page_view", older_than_seconds=600)] == [found[0].key]
    assert old.exists()  # dry run by default

    sweep_orphans(str(lake), "page_view", older_than_seconds=600, dry_run=False)
    assert not old.exists() and young.exists()
    assert sorted(set(data_keys(lake, "page_view")) - {young.relative_to(lake).as_posix()}) == committed
    assert read_lake(lake, "_quarantine/page_view") == sorted(quarantine_rows(1))


# -- inside a real streaming query ---------------------------------------------------------------


def test_foreach_batch_in_a_stream_survives_a_replayed_batch(spark: Any, tmp_path: Path) -> None:
    """Spark replays the last batch when its checkpoint commit is missing; the lake must not change."""
    source, lake, checkpoint = tmp_path / "in", tmp_path / "lake", tmp_path / "checkpoint"
    source.mkdir()
    batches = [view_rows(0), [(f"late-{i}", "U0000009", i, 0, DAYS[0]) for i in range(5)]]
    for i, rows in enumerate(batches):
        spark.createDataFrame(rows, VIEW_SCHEMA).write.mode("overwrite").parquet(str(tmp_path / f"src{i}"))
    writer = LakeWriter(cluster_partitions=True, lake_uri=str(lake))

    def to_outputs(batch: Any, batch_id: int) -> list[Output]:
        return [Output("page_view", batch, ("event_date",))]

    def run_stream() -> None:
        stream = spark.readStream.schema(VIEW_SCHEMA).option("maxFilesPerTrigger", 1).parquet(str(source))
        query = (
            stream.writeStream.foreachBatch(lambda df, i: writer.write_batch(i, to_outputs(df, i)))
            .option("checkpointLocation", str(checkpoint))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination(120)

    for i in range(2):
        for f in (tmp_path / f"src{i}").glob("*.parquet"):
            f.rename(source / f"b{i}-{f.name}")
    run_stream()
    expected = sorted(batches[0] + batches[1])
    assert read_lake(lake, "page_view") == expected
    before = data_keys(lake, "page_view")

    # Forget that Spark committed the last batch: the restarted query runs it again.
    commits = sorted((checkpoint / "commits").glob("[0-9]*"), key=lambda p: int(p.name))
    last = int(commits[-1].name)
    commits[-1].unlink()
    (checkpoint / "commits" / f".{last}.crc").unlink(missing_ok=True)
    run_stream()

    assert (checkpoint / "commits" / str(last)).exists()
    assert read_lake(lake, "page_view") == expected
    assert data_keys(lake, "page_view") == before


def test_default_unclustered_layout_is_exact_with_bounded_files(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    frames = [Output(o.name, o.frame.repartition(3), o.partition_by) for o in outputs(spark, 5)]
    result = LakeWriter(lake_uri=str(lake)).write_batch(5, frames)
    assert read_lake(lake, "page_view") == expected_views(5)
    # Each of the 3 tasks writes at most one file per partition value.
    assert 0 < result.outputs["page_view"].files <= 3 * len(DAYS)
