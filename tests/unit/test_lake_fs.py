"""The local implementation of the lake's file-system abstraction, and parsing lake URIs."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.lake.footer import parquet_rows
from jobs.lake.fs import S3FS, LocalFS, filesystem_for
from streamlake.errors import ConfigError, LakeError


def test_filesystem_for_parses_uris(tmp_path: Path) -> None:
    assert isinstance(filesystem_for(str(tmp_path)), LocalFS)
    assert filesystem_for(tmp_path.as_uri()).uri == str(tmp_path)
    s3 = filesystem_for("s3://bucket/some/prefix/", s3_client=object())
    assert isinstance(s3, S3FS)
    assert (s3.bucket, s3.prefix, s3.uri) == ("bucket", "some/prefix", "s3://bucket/some/prefix")
    assert s3.uri_for("a/b.json") == "s3://bucket/some/prefix/a/b.json"
    assert s3.full_key("a") == "some/prefix/a"
    with pytest.raises(ConfigError, match="gs://x"):
        filesystem_for("gs://x/y")


def test_local_list_is_recursive_sorted_and_scoped(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    fs.write_bytes("t/b/2.txt", b"22")
    fs.write_bytes("t/a.txt", b"1")
    fs.write_bytes("t_v2/c.txt", b"3")
    assert [(f.key, f.size) for f in fs.list("t")] == [("t/a.txt", 1), ("t/b/2.txt", 2)]
    assert fs.list("nothing") == []
    assert len(fs.list()) == 3


def test_write_bytes_leaves_no_temp_files(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    fs.write_bytes("x/y.json", b"one")
    fs.write_bytes("x/y.json", b"two")
    assert fs.read_bytes("x/y.json") == b"two"
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["y.json"]


def test_put_if_absent_creates_once(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    assert fs.put_if_absent("m/1.json", b"first") is True
    assert fs.put_if_absent("m/1.json", b"second") is False
    assert fs.read_bytes("m/1.json") == b"first"
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["1.json"]


def test_put_if_absent_has_one_winner_under_contention(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        barrier.wait()
        results.append(fs.put_if_absent("m/race.json", str(i).encode()))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_move_and_copy_between_local_file_systems(tmp_path: Path) -> None:
    staging, lake = LocalFS(tmp_path / "staging"), LocalFS(tmp_path / "lake")
    staging.write_bytes("b/1.parquet", b"data")
    staging.write_bytes("b/2.parquet", b"more")
    lake.put_from(staging, "b/1.parquet", "t/p=1/part-0.parquet")
    lake.put_from(staging, "b/2.parquet", "t/p=1/part-1.parquet", move=False)
    assert lake.read_bytes("t/p=1/part-0.parquet") == b"data"
    assert not staging.exists("b/1.parquet")
    assert staging.exists("b/2.parquet") and lake.read_bytes("t/p=1/part-1.parquet") == b"more"
    staging.delete_prefix("b")
    assert staging.list() == []
    lake.delete("t/p=1/missing")  # deleting a missing key is fine (deletes are replayed)


def test_put_from_an_unknown_file_system_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="cannot publish"):
        LocalFS(tmp_path).put_from(object(), "a", "b")  # type: ignore[arg-type]


def _parquet(rows: int, *, big_footer: bool = False) -> bytes:
    cols = {"a": list(range(rows))}
    if big_footer:  # many columns make a footer larger than the first tail read
        cols.update({f"c{i:04d}_{'x' * 40}": list(range(rows)) for i in range(1500)})
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


@pytest.mark.parametrize("big_footer", [False, True])
def test_parquet_rows_from_the_footer(tmp_path: Path, big_footer: bool) -> None:
    fs = LocalFS(tmp_path)
    fs.write_bytes("f.parquet", _parquet(17, big_footer=big_footer))
    assert parquet_rows(fs, fs.list()[0]) == 17


def test_parquet_rows_refuses_non_parquet(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    fs.write_bytes("f.parquet", b"definitely not parquet")
    with pytest.raises(LakeError, match="magic"):
        parquet_rows(fs, fs.list()[0])
