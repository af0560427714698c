"""The lake writer with an S3 lake on the moto server: local Spark stages, the driver uploads."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glue.catalog import PartitionRegistrar, ensure_database, ensure_table
from jobs.lake import LakeWriter, Output, committed_files, layout, orphans, redshift_manifest
from jobs.lake.fs import S3FS, FileInfo, LakeFS, filesystem_for
from local.stack import ensure_bucket
from schemas.loader import load_table
from streamlake.errors import LakeError

pytestmark = pytest.mark.integration

SCHEMA = "event_id string, duration_ms long, _batch_id long, event_date date"
DAYS = (dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23))
_buckets = itertools.count()


def rows(batch_id: int, n: int = 9) -> list[tuple[Any, ...]]:
    return [(f"e{batch_id}-{i:03d}", i, batch_id, DAYS[i % 3]) for i in range(n)]


@pytest.fixture
def s3(stack: Any) -> Any:
    return stack.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"lake-s3-test-{next(_buckets)}"
    ensure_bucket(s3, name)
    return name


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def read_back(s3: Any, bucket: str, prefix: str) -> list[tuple[Any, ...]]:
    """Every Parquet object under ``prefix`` read with boto3 + pyarrow, partition value from the key."""
    out: list[tuple[Any, ...]] = []
    for key in keys(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        day = dt.date.fromisoformat(key.split("event_date=")[1].split("/")[0])
        table: pa.Table = pq.read_table(io.BytesIO(body))
        out += [(*r.values(), day) for r in table.to_pylist()]
    return sorted(out)


def test_s3_lake_publishes_commits_and_reads_back_exactly(spark: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    lake_uri = f"s3://{bucket}/lake"
    writer = LakeWriter(cluster_partitions=True, lake_uri=lake_uri, staging_uri=str(tmp_path / "staging"), s3_client=s3)
    result = writer.write_batch(
        12, [Output("page_view", spark.createDataFrame(rows(12), SCHEMA), ("event_date",))], source={"x": 1}
    )

    assert read_back(s3, bucket, "lake/page_view/") == sorted(rows(12))
    assert keys(s3, bucket, "lake/") == sorted(
        [f"lake/page_view/event_date={d}/part-000000000012-00000.parquet" for d in DAYS]
        + ["lake/_commits/_batches/000000000012.json", "lake/_commits/page_view/000000000012.json"]
    )
    assert result.outputs["page_view"].rows == 9 and result.outputs["page_view"].files == 3
    assert not list((tmp_path / "staging").glob("000000000012"))  # local staging cleaned up

    record = json.loads(s3.get_object(Bucket=bucket, Key="lake/_commits/page_view/000000000012.json")["Body"].read())
    for f in record["files"]:
        head = s3.head_object(Bucket=bucket, Key=f"lake/{f['key']}")
        assert f["bytes"] == head["ContentLength"]
        assert f["uri"] == f"s3://{bucket}/lake/{f['key']}"
    assert record["source"] == {"x": 1}

    # The commit point is a conditional put: a second writer of the same marker is refused by S3.
    lake = filesystem_for(lake_uri, s3_client=s3)
    assert lake.put_if_absent(layout.marker_key(12), b"{}") is False
    assert lake.put_if_absent(layout.marker_key(13), b"{}") is True

    manifest = redshift_manifest(committed_files(lake, "page_view"))
    assert [e["meta"]["content_length"] for e in manifest["entries"]] == [f["bytes"] for f in record["files"]]

    again = LakeWriter(
        cluster_partitions=True, lake_uri=lake_uri, staging_uri=str(tmp_path / "staging"), s3_client=s3
    ).write_batch(12, [Output("page_view", spark.createDataFrame(rows(99), SCHEMA), ("event_date",))])
    assert again.replayed
    assert read_back(s3, bucket, "lake/page_view/") == sorted(rows(12))


class CrashingUploads(LakeFS):
    """An S3 lake whose uploads start failing after ``after`` successful ones (a dying driver)."""

    def __init__(self, inner: S3FS, *, after: int) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.after = after
        self._lock = threading.Lock()

    def put_from(self, src: LakeFS, src_key: str, key: str, *, move: bool = True) -> None:
        with self._lock:
            if self.after <= 0:
                raise OSError(f"injected crash before uploading {key}")
            self.after -= 1
        self.inner.put_from(src, src_key, key, move=move)

    def list(self, prefix: str = "") -> list[FileInfo]:
        return self.inner.list(prefix)

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(key)

    def read_tail(self, key: str, size: int, nbytes: int) -> bytes:
        return self.inner.read_tail(key, size, nbytes)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.inner.write_bytes(key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self.inner.put_if_absent(key, data)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


def test_s3_crash_mid_upload_then_replay_leaves_one_copy(spark: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    lake_uri = f"s3://{bucket}/lake"
    staging = str(tmp_path / "staging")
    frame = spark.createDataFrame(rows(5), SCHEMA)
    crashing = CrashingUploads(S3FS(lake_uri, s3), after=5)
    with pytest.raises(LakeError, match="injected crash"):
        LakeWriter(
            cluster_partitions=True, lake_uri=lake_uri, staging_uri=staging, lake_fs=crashing, max_records_per_file=1
        ).write_batch(5, [Output("page_view", frame, ("event_date",))])
    assert len(keys(s3, bucket, "lake/page_view/")) == 5  # 5 of 9 single-row files uploaded
    assert keys(s3, bucket, "lake/_commits/_pending/") == ["lake/_commits/_pending/000000000005.json"]

    LakeWriter(cluster_partitions=True, lake_uri=lake_uri, staging_uri=staging, s3_client=s3).write_batch(
        5, [Output("page_view", frame, ("event_date",))]
    )

    assert read_back(s3, bucket, "lake/page_view/") == sorted(rows(5))
    assert keys(s3, bucket, "lake/page_view/") == [
        f"lake/page_view/event_date={d}/part-000000000005-00000.parquet" for d in DAYS
    ]
    assert keys(s3, bucket, "lake/_commits/_pending/") == []


def test_s3_lake_registers_glue_partitions_after_publishing(
    spark: Any, stack: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    glue = stack.client("glue")
    ensure_database(glue, "lake_s3_writer")
    table = load_table("page_view")
    lake_uri = f"s3://{bucket}/lake"
    ensure_table(glue, database="lake_s3_writer", table=table, location=f"{lake_uri}/page_view")
    seen_at_registration: list[list[str]] = []

    class CheckingRegistrar(PartitionRegistrar):
        def register(self, name: str, partitions: Any) -> int:
            seen_at_registration.append(keys(s3, bucket, f"lake/{name}/"))
            return super().register(name, partitions)

    registrar = CheckingRegistrar(
        glue,
        database="lake_s3_writer",
        tables={"page_view": table},
        location_for=lambda name: f"{lake_uri}/{name}",
    )
    writer = LakeWriter(
        cluster_partitions=True,
        lake_uri=lake_uri,
        staging_uri=str(tmp_path / "staging"),
        s3_client=s3,
        catalog=registrar,
    )
    writer.write_batch(1, [Output("page_view", spark.createDataFrame(rows(1), SCHEMA), ("event_date",))])

    parts = glue.get_partitions(DatabaseName="lake_s3_writer", TableName="page_view")["Partitions"]
    assert sorted((p["Values"][0], p["StorageDescriptor"]["Location"]) for p in parts) == [
        (d.isoformat(), f"{lake_uri}/page_view/event_date={d}/") for d in DAYS
    ]
    # Every partition's files were already published when the catalog learned about it.
    assert len(seen_at_registration) == 1 and len(seen_at_registration[0]) == 3


def test_s3_fs_basics(s3: Any, bucket: str) -> None:
    fs = filesystem_for(f"s3://{bucket}/root", s3_client=s3)
    fs.write_bytes("t/a.json", b"1")
    fs.write_bytes("t_v2/b.json", b"2")
    assert [f.key for f in fs.list("t")] == ["t/a.json"]  # "t" is a directory, not a name prefix
    assert fs.read_bytes("t/a.json") == b"1"
    assert fs.exists("t/a.json") and not fs.exists("t/zzz")
    with pytest.raises(FileNotFoundError):
        fs.read_bytes("t/zzz")
    assert fs.put_if_absent("t/c.json", b"3") and not fs.put_if_absent("t/c.json", b"4")
    assert fs.read_bytes("t/c.json") == b"3"
    fs.delete_many(["t/a.json", "t/c.json", "t/missing.json"])
    assert fs.list("t") == []
    assert orphans(fs, "t_v2", older_than_seconds=0, now=1e12)[0].key == "t_v2/b.json"
    sibling = filesystem_for(f"s3://{bucket}/root2", s3_client=s3)
    sibling.write_bytes("x.json", b"5")
    assert [f.key for f in fs.list()] == ["t_v2/b.json"]  # the root is a directory too
