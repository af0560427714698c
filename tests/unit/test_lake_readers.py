"""Commit records, committed files and orphans on a hand-built local lake (no Spark)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jobs.lake import layout
from jobs.lake.commit import BatchCommit, FileEntry, OutputCommit, OutputSummary
from jobs.lake.fs import LocalFS
from jobs.lake.readers import commit_records, committed_files, orphans, redshift_manifest, sweep_orphans


def _commit(fs: LocalFS, batch_id: int, keys: list[str], *, marker: bool = True) -> OutputCommit:
    files = tuple(FileEntry(k, fs.uri_for(k), 1, 4, {"event_date": "2026-11-23"}) for k in keys)
    record = OutputCommit("page_view", batch_id, files, len(files), 4 * len(files), ({"event_date": "2026-11-23"},))
    for k in keys:
        fs.write_bytes(k, b"data")
    fs.write_bytes(layout.commit_key("page_view", batch_id), record.to_json())
    if marker:
        summary = BatchCommit(batch_id, {"page_view": OutputSummary(len(files), len(files), 1, 4)}, 0.1)
        fs.write_bytes(layout.marker_key(batch_id), summary.to_json())
    return record


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_records_round_trip(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    record = _commit(fs, 1, ["page_view/event_date=2026-11-23/part-000000000001-00000.parquet"])
    assert OutputCommit.from_json(record.to_json()) == record
    summary = BatchCommit.from_json(fs.read_bytes(layout.marker_key(1)))
    assert summary.outputs["page_view"] == OutputSummary(1, 1, 1, 4)
    assert not summary.replayed and BatchCommit.from_json(summary.to_json(), replayed=True).replayed
    # The flag describes one call's outcome; it must never be persisted in the marker.
    assert "replayed" not in json.loads(summary.to_json())


def test_only_committed_batches_count(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    _commit(fs, 1, ["page_view/d=1/part-000000000001-00000.parquet"])
    _commit(fs, 2, ["page_view/d=1/part-000000000002-00000.parquet"], marker=False)
    assert [f.key for f in committed_files(fs, "page_view")] == ["page_view/d=1/part-000000000001-00000.parquet"]
    assert [r.batch_id for r in commit_records(fs, "page_view", committed_only=False)] == [1, 2]
    # A nested output's records are not the parent's.
    fs.write_bytes("_commits/page_view/sub/000000000001.json", b"{}")
    assert [r.batch_id for r in commit_records(fs, "page_view")] == [1]


def test_orphans_respect_records_and_grace(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    _commit(fs, 1, ["page_view/d=1/part-000000000001-00000.parquet"])
    # Mentioned by a record whose marker is missing: the batch's replay owns it, the sweeper spares it.
    _commit(fs, 2, ["page_view/d=1/part-000000000002-00000.parquet"], marker=False)
    fs.write_bytes("page_view/d=1/part-00000-stray.parquet", b"x")
    fs.write_bytes("page_view/d=2/part-00000-young.parquet", b"x")
    for key in (
        "page_view/d=1/part-000000000001-00000.parquet",
        "page_view/d=1/part-000000000002-00000.parquet",
    ):
        _age(fs.path(key), 7200)
    _age(fs.path("page_view/d=1/part-00000-stray.parquet"), 7200)

    assert [f.key for f in orphans(fs, "page_view", older_than_seconds=3600)] == [
        "page_view/d=1/part-00000-stray.parquet"
    ]
    assert len(orphans(fs, "page_view", older_than_seconds=0)) == 2

    sweep_orphans(fs, "page_view", older_than_seconds=3600)
    assert fs.exists("page_view/d=1/part-00000-stray.parquet")
    sweep_orphans(fs, "page_view", older_than_seconds=3600, dry_run=False)
    assert not fs.exists("page_view/d=1/part-00000-stray.parquet")
    assert fs.exists("page_view/d=2/part-00000-young.parquet")
    assert fs.exists("page_view/d=1/part-000000000001-00000.parquet")


def test_redshift_manifest_has_content_length(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path)
    _commit(fs, 1, ["page_view/d=1/a.parquet", "page_view/d=1/b.parquet"])
    manifest = redshift_manifest(committed_files(fs, "page_view"))
    assert manifest["entries"] == [
        {"url": fs.uri_for(k), "mandatory": True, "meta": {"content_length": 4}}
        for k in ("page_view/d=1/a.parquet", "page_view/d=1/b.parquet")
    ]
