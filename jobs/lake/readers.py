"""Reading the lake's bookkeeping: committed and live files, Redshift manifests and orphan files.

:func:`committed_files` is history (what each committed batch published, the input for Redshift
COPY manifests); :func:`live_files` is the current state after compactions (what a reader that does
not go through the catalog should read). An orphan is a file under a table's directory or its
compacted prefix that no record mentions: what a crashed batch or compaction leaves behind. The
sweeper only removes orphans older than a grace period, so a batch that is publishing right now
(files moved, commit record not yet written) is safe.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from jobs.lake import layout
from jobs.lake.commit import CompactionRecord, FileEntry, OutputCommit
from jobs.lake.fs import FileInfo, LakeFS, filesystem_for

log = logging.getLogger(__name__)


def _fs(lake: str | LakeFS, s3_client: Any | None) -> LakeFS:
    return lake if isinstance(lake, LakeFS) else filesystem_for(lake, s3_client=s3_client)


def commit_records(
    lake: str | LakeFS, name: str, *, committed_only: bool = True, s3_client: Any | None = None
) -> list[OutputCommit]:
    """The commit records of output ``name`` in batch order.

    With ``committed_only`` a record counts only once its batch marker exists (the commit point); a
    record without one belongs to a batch that crashed mid-commit and will be rewritten by its replay.
    """
    fs = _fs(lake, s3_client)
    prefix = layout.commit_prefix(name)
    records: list[OutputCommit] = []
    for info in fs.list(prefix):
        rel = info.key[len(prefix) + 1 :]
        if "/" in rel or not rel.endswith(".json") or layout.is_hidden(rel):
            continue  # nested names (e.g. "_quarantine/x" under "_quarantine") and temp files
        record = OutputCommit.from_json(fs.read_bytes(info.key))
        if committed_only and not fs.exists(layout.marker_key(record.batch_id)):
            continue
        records.append(record)
    return records


def committed_files(lake: str | LakeFS, name: str, *, s3_client: Any | None = None) -> list[FileEntry]:
    """Every file of output ``name`` that a committed batch published, in batch then key order."""
    return [f for r in commit_records(lake, name, s3_client=s3_client) for f in r.files]


def compaction_records(lake: str | LakeFS, name: str, *, s3_client: Any | None = None) -> list[CompactionRecord]:
    """The compaction records of output ``name``, oldest first."""
    fs = _fs(lake, s3_client)
    prefix = layout.compaction_prefix(name)
    return [
        CompactionRecord.from_json(fs.read_bytes(info.key))
        for info in fs.list(prefix)
        if info.key.endswith(".json") and not layout.is_hidden(info.key[len(prefix) + 1 :])
    ]


def live_files(lake: str | LakeFS, name: str, *, s3_client: Any | None = None) -> list[FileEntry]:
    """The files holding output ``name``'s rows now: committed batches, with compactions applied."""
    fs = _fs(lake, s3_client)
    live = {f.key: f for f in committed_files(fs, name)}
    for comp in compaction_records(fs, name):
        for key in comp.inputs:
            live.pop(key, None)
        live.update({f.key: f for f in comp.outputs})
    return sorted(live.values(), key=lambda f: f.key)


def redshift_manifest(files: list[FileEntry]) -> dict[str, Any]:
    """A Redshift ``COPY ... FORMAT AS PARQUET MANIFEST`` manifest (Parquet needs ``content_length``)."""
    return {"entries": [{"url": f.uri, "mandatory": True, "meta": {"content_length": f.bytes}} for f in files]}


def orphans(
    lake: str | LakeFS,
    name: str,
    *,
    older_than_seconds: float,
    now: float | None = None,
    s3_client: Any | None = None,
) -> list[FileInfo]:
    """Files under ``<lake>/<name>/`` or its compacted prefix that no record mentions, older than the
    grace period.

    Every record counts here, even one whose batch marker is missing: being generous about what is
    referenced can only spare a file, never delete a committed one.
    """
    if older_than_seconds < 0:
        raise ValueError(f"older_than_seconds must be >= 0, got {older_than_seconds}")
    fs = _fs(lake, s3_client)
    referenced = {f.key for r in commit_records(fs, name, committed_only=False) for f in r.files}
    referenced |= {f.key for c in compaction_records(fs, name) for f in c.outputs}
    cutoff = (time.time() if now is None else now) - older_than_seconds
    candidates = fs.list(name) + fs.list(f"{layout.COMPACTED}/{name}")
    return [f for f in candidates if f.key not in referenced and f.mtime <= cutoff]


def sweep_orphans(
    lake: str | LakeFS,
    name: str,
    *,
    older_than_seconds: float,
    dry_run: bool = True,
    s3_client: Any | None = None,
) -> list[FileInfo]:
    """Delete the :func:`orphans` of ``name`` (only list them when ``dry_run``, the default)."""
    fs = _fs(lake, s3_client)
    found = orphans(fs, name, older_than_seconds=older_than_seconds)
    if found and not dry_run:
        fs.delete_many([f.key for f in found])
    log.info(
        "lake orphan sweep name=%s orphans=%d bytes=%d dry_run=%s",
        name,
        len(found),
        sum(f.size for f in found),
        dry_run,
    )
    return found
