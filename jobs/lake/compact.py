"""Compaction of closed partitions: many small files -> few files of a target size.

The new files go to a new prefix, ``<lake>/_compacted/<name>/<id>/<partition>/``; the catalog's
partition location is swapped to it in one update, so Athena and Spectrum switch from all old
files to all new ones at once; the old files are deleted only after a grace period, when no query
that listed them can still be running. Readers that bypass the catalog use
:func:`jobs.lake.readers.live_files`, which applies the compaction records.

Notes
-----
Compact only *closed* partitions, older than the late-data horizon: a batch writing into a
partition after its location was swapped would land in the old directory, which the catalog no
longer reads.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.lake import layout
from jobs.lake.commit import CompactionRecord, CompactionState, FileEntry
from jobs.lake.fs import LakeFS, LocalFS, filesystem_for, is_s3
from jobs.lake.readers import compaction_records, live_files
from schemas import partitions
from streamlake.errors import ConfigError, LakeError

log = logging.getLogger(__name__)

DEFAULT_TARGET_BYTES = 256 * 1024 * 1024
# Row groups are cut at this many in-memory bytes, so a compacted file is not one giant row group.
_ROW_GROUP_BYTES = 64 * 1024 * 1024


class PartitionMover(Protocol):
    """What compaction needs from a catalog (``glue.catalog.PartitionRegistrar`` is one)."""

    def move(self, name: str, partition: Mapping[str, str], location: str) -> None: ...


def compact_partition(
    lake: LakeFS,
    name: str,
    partition: Mapping[str, str],
    *,
    catalog: PartitionMover | None = None,
    target_file_bytes: int = DEFAULT_TARGET_BYTES,
    min_files: int = 2,
    grace_seconds: float = 3600.0,
    now: float | None = None,
) -> CompactionRecord | None:
    """Rewrite the live files of one partition into files of about ``target_file_bytes``.

    Returns the compaction record, or ``None`` when the partition has fewer than ``min_files``
    live files. Row counts are checked before anything becomes visible.
    """
    now = time.time() if now is None else now
    wanted = {k: str(v) for k, v in partition.items()}
    inputs = [f for f in live_files(lake, name) if f.partition == wanted]
    if len(inputs) < max(min_files, 1):
        log.info("compaction skipped name=%s partition=%s files=%d", name, wanted, len(inputs))
        return None
    started = time.monotonic()
    pdir = partitions.partition_dir(dict(wanted), list(wanted))
    # Time-ordered, and unique per partition even when one run compacts several in the same millisecond.
    comp_id = f"c{int(now * 1000):013d}-{hashlib.sha1(pdir.encode()).hexdigest()[:8]}"
    out_dir = layout.compacted_dir(name, comp_id, pdir)
    with tempfile.TemporaryDirectory(prefix="streamlake-compact-") as tmp:
        local = LocalFS(tmp)
        written = _rewrite(_local_copies(lake, inputs, local), local.path("out"), target_file_bytes)
        outputs: list[FileEntry] = []
        for n, (path, rows) in enumerate(written):
            key = f"{out_dir}/part-{comp_id}-{n:05d}.parquet"
            size = path.stat().st_size
            lake.put_from(local, f"out/{path.name}", key)
            outputs.append(FileEntry(key, lake.uri_for(key), rows, size, dict(wanted)))
    rows_in, rows_out = sum(f.rows for f in inputs), sum(f.rows for f in outputs)
    if rows_in != rows_out:  # never expected; refuse to swap rather than lose or duplicate rows
        lake.delete_many([f.key for f in outputs])
        raise LakeError(f"compaction of {name} {wanted}: read {rows_in} rows but wrote {rows_out}")
    record = CompactionRecord(
        id=comp_id,
        name=name,
        partition=dict(wanted),
        inputs=tuple(f.key for f in inputs),
        outputs=tuple(outputs),
        rows=rows_out,
        bytes=sum(f.bytes for f in outputs),
        location=lake.uri_for(out_dir) + "/",
        delete_after=now + grace_seconds,
    )
    lake.write_bytes(layout.compaction_key(name, comp_id), record.to_json())
    record = _swap(lake, record, catalog)
    log.info(
        "compaction done name=%s partition=%s id=%s files_in=%d files_out=%d rows=%d bytes_in=%d "
        "bytes_out=%d duration_ms=%.0f",
        name,
        wanted,
        comp_id,
        len(inputs),
        len(outputs),
        rows_out,
        sum(f.bytes for f in inputs),
        record.bytes,
        (time.monotonic() - started) * 1000,
    )
    return record


def finish_compactions(
    lake: LakeFS, name: str, *, catalog: PartitionMover | None = None, now: float | None = None
) -> list[CompactionRecord]:
    """Complete earlier compactions: swap any not yet swapped, delete inputs past their grace period."""
    now = time.time() if now is None else now
    finished: list[CompactionRecord] = []
    for record in compaction_records(lake, name):
        if record.state == "published":
            record = _swap(lake, record, catalog)
        if record.state == "swapped" and record.delete_after <= now:
            lake.delete_many(list(record.inputs))
            record = _with_state(record, "done")
            lake.write_bytes(layout.compaction_key(name, record.id), record.to_json())
            log.info("compaction inputs deleted name=%s id=%s files=%d", name, record.id, len(record.inputs))
            finished.append(record)
    return finished


def closed_partitions(lake: LakeFS, name: str, *, before: str) -> list[dict[str, str]]:
    """Partitions of ``name`` whose first partition value sorts before ``before`` (e.g. a date)."""
    seen = {tuple(sorted(f.partition.items())) for f in live_files(lake, name) if f.partition}
    return [dict(p) for p in sorted(seen) if next(iter(dict(p).values())) < before]


def _swap(lake: LakeFS, record: CompactionRecord, catalog: PartitionMover | None) -> CompactionRecord:
    if catalog is not None:
        catalog.move(record.name, record.partition, record.location)
    swapped = _with_state(record, "swapped")
    lake.write_bytes(layout.compaction_key(record.name, record.id), swapped.to_json())
    return swapped


def _with_state(record: CompactionRecord, state: CompactionState) -> CompactionRecord:
    return replace(record, state=state)


def _local_copies(lake: LakeFS, files: Sequence[FileEntry], tmp: LocalFS) -> list[Path]:
    """Local paths of the inputs: as they are on a local lake, downloaded once from S3."""
    if isinstance(lake, LocalFS):
        return [lake.path(f.key) for f in files]
    paths = []
    for n, f in enumerate(files):
        tmp.put_from(lake, f.key, f"in/{n:05d}.parquet", move=False)
        paths.append(tmp.path(f"in/{n:05d}.parquet"))
    return paths


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    # Files written before a nullable column was added lack it: fill it with nulls.
    cols = [
        batch.column(fld.name).cast(fld.type) if fld.name in batch.schema.names else pa.nulls(batch.num_rows, fld.type)
        for fld in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def _rewrite(inputs: Sequence[Path], tmp: Path, target: int) -> list[tuple[Path, int]]:
    """Stream ``inputs`` into new files under ``tmp`` of about ``target`` bytes; (path, rows) each."""
    schema = pa.unify_schemas([pq.read_schema(p) for p in inputs])
    tmp.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, int]] = []
    writer: pq.ParquetWriter | None = None
    sink: pa.OSFile | None = None
    pending: list[pa.Table] = []
    rows = 0

    def flush() -> None:
        nonlocal writer, sink, rows
        if not pending:
            return
        if writer is None:
            path = tmp / f"{len(out):05d}.parquet"
            sink = pa.OSFile(str(path), "wb")
            writer = pq.ParquetWriter(sink, schema, compression="snappy")
            out.append((path, 0))
        table = pa.concat_tables(pending)
        writer.write_table(table)
        rows += table.num_rows
        pending.clear()
        assert sink is not None
        if sink.tell() >= target:
            close()

    def close() -> None:
        nonlocal writer, sink, rows
        if writer is not None:
            writer.close()
            out[-1] = (out[-1][0], rows)
        writer, sink, rows = None, None, 0

    for batch in (b for p in inputs for b in pq.ParquetFile(p).iter_batches()):
        pending.append(_conform(batch, schema))
        if sum(t.nbytes for t in pending) >= min(target, _ROW_GROUP_BYTES):
            flush()
    flush()
    close()
    return out


def _parse_partition(text: str) -> dict[str, str]:
    try:
        return partitions.partition_values(text)
    except ValueError as exc:
        raise ConfigError("--partition", text, "col=value[/col=value...], e.g. event_date=2026-11-21") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.lake.compact``: compact partitions of one lake output."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.lake.compact",
        description="Compact closed partitions of a lake output into larger files, then delete the "
        "replaced files after a grace period. Without a catalog only lake readers that use the "
        "commit records (live_files) see the swap.",
    )
    parser.add_argument("--lake", required=True, help="lake root: a directory or s3://bucket/prefix")
    parser.add_argument("--name", required=True, help="output name, e.g. page_view")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--partition", action="append", default=[], help="col=value; repeatable")
    which.add_argument("--closed-before", help="compact every partition whose value sorts before this")
    parser.add_argument("--target-mb", type=int, default=DEFAULT_TARGET_BYTES // 2**20, help="target file size")
    parser.add_argument("--min-files", type=int, default=2, help="skip partitions with fewer live files")
    parser.add_argument("--grace-seconds", type=float, default=3600.0, help="keep replaced files this long")
    parser.add_argument("--finish-only", action="store_true", help="only delete inputs past their grace")
    parser.add_argument("--endpoint-url", help="S3 endpoint (moto/LocalStack)")
    parser.add_argument(
        "--allow-without-catalog",
        action="store_true",
        help="compact an s3:// lake without swapping Glue locations (Athena would lose the rows)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.target_mb < 1:
        raise ConfigError("--target-mb", args.target_mb, "a positive number of megabytes")
    if is_s3(args.lake) and not args.allow_without_catalog:
        parser.error(
            "an s3:// lake is read through the Glue catalog; compact it from code with a catalog "
            "(PartitionRegistrar) or pass --allow-without-catalog"
        )
    from streamlake import aws

    lake = filesystem_for(
        args.lake, s3_client=aws.client("s3", endpoint_url=args.endpoint_url) if is_s3(args.lake) else None
    )
    finish_compactions(lake, args.name)
    if args.finish_only:
        return 0
    targets = [_parse_partition(p) for p in args.partition]
    if args.closed_before:
        targets = closed_partitions(lake, args.name, before=args.closed_before)
    if not targets:
        parser.error("give --partition or --closed-before")
    for part in targets:
        compact_partition(
            lake,
            args.name,
            part,
            target_file_bytes=args.target_mb * 2**20,
            min_files=args.min_files,
            grace_seconds=args.grace_seconds,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
