"""The lake writer: Spark stages a micro-batch, the driver publishes it under deterministic keys.

Spark's file sink is exactly-once only for readers of its ``_spark_metadata`` log; Athena, Spectrum
and DuckDB list directories and would count a retried batch's files twice. So inside
``foreachBatch`` Spark writes each output to ``<staging>/<batch>/<name>`` and the driver then:

1. maps the staged files, in a deterministic order, to ``<name>/<partition>/part-<batch>-<n>.parquet``;
2. writes an intent listing every key it is about to create (``_commits/_pending/<batch>.json``);
3. moves or uploads the files (a replay first deletes every key of an earlier intent, so a
   half-published batch never leaves a second copy);
4. registers new partitions in the catalog (only once their files are published);
5. writes one commit record per output, then the batch marker with a conditional put — the commit
   point — and removes the intent and the staging directory.

A batch whose marker exists is never written again: Spark replays the last batch after a restart and
the sink answers with the recorded commit.

Notes
-----
One writer per lake and stream: the ingest job holds a lease (jobs/ingest/lease.py) and passes its
check as ``fence``; the conditional puts also detect a second writer committing the same batch.
Files of one batch appear one by one; a reader that lists during a publish may see part of the
batch, never a duplicate once the batch has committed.
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from jobs.lake import layout
from jobs.lake.commit import BatchCommit, FileEntry, OutputCommit, OutputSummary
from jobs.lake.footer import parquet_rows
from jobs.lake.fs import LakeFS, filesystem_for, is_s3, spark_path
from schemas import partitions
from streamlake.errors import ConfigError, LakeError
from streamlake.faults import crash_point

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


class PartitionCatalog(Protocol):
    """What the writer needs from a catalog (``glue.catalog.PartitionRegistrar`` is one)."""

    def register(self, name: str, partitions: list[dict[str, str]]) -> object: ...


@dataclass(frozen=True)
class Output:
    """One destination of a batch.

    ``frame`` is a static batch DataFrame holding the stored columns and the partition columns;
    ``name`` is a path under the lake (``"page_view"``, ``"_quarantine/page_view"``).
    """

    name: str
    frame: DataFrame
    partition_by: tuple[str, ...] = ()
    schema_hash: str | None = None


@dataclass(frozen=True)
class PlannedFile:
    """A staged file and the lake key it will be published under."""

    output: str
    staged_key: str
    key: str
    partition_dir: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Plan:
    """Everything a batch will publish, decided before anything is moved."""

    batch_id: int
    files: tuple[PlannedFile, ...]
    outputs: tuple[str, ...]

    def files_of(self, name: str) -> list[PlannedFile]:
        return [f for f in self.files if f.output == name]

    def commit_keys(self) -> list[str]:
        return sorted({layout.commit_key(f.output, self.batch_id) for f in self.files})

    def intent(self) -> bytes:
        return json.dumps(
            {"batch_id": self.batch_id, "keys": [f.key for f in self.files], "commits": self.commit_keys()},
            indent=1,
        ).encode()


class LakeWriter:
    """Writes micro-batches to the lake exactly once as seen by directory-listing readers.

    Parameters
    ----------
    lake_uri:
        A local directory, ``file:///dir`` or ``s3://bucket/prefix``.
    staging_uri:
        Where Spark writes before publishing; defaults to ``<lake>/_staging`` (outside every table's
        location). Local Spark cannot write ``s3://``, so with an S3 lake in tests pass a local dir
        and publishing uploads.
    s3_client:
        The boto3 S3 client for ``s3://`` URIs (made by ``streamlake.aws`` when omitted).
    catalog:
        Receives the partitions of each output after they are published (e.g. a Glue registrar).
    max_records_per_file:
        Spark's ``maxRecordsPerFile`` cap, bounding file size.
    lake_fs, staging_fs:
        Ready-made file systems instead of the URIs (alternative storage, fault-injecting tests).
    """

    def __init__(
        self,
        *,
        lake_uri: str,
        staging_uri: str | None = None,
        s3_client: Any | None = None,
        catalog: PartitionCatalog | None = None,
        max_records_per_file: int = 1_000_000,
        cluster_partitions: bool = False,
        publish_threads: int = 8,
        lake_fs: LakeFS | None = None,
        staging_fs: LakeFS | None = None,
    ) -> None:
        self.cluster_partitions = cluster_partitions
        if max_records_per_file < 1:
            raise ConfigError("max_records_per_file", max_records_per_file, "a positive integer")
        if publish_threads < 1:
            raise ConfigError("publish_threads", publish_threads, "a positive integer")
        self.lake = lake_fs or filesystem_for(lake_uri, s3_client=s3_client)
        staging = staging_uri or f"{self.lake.uri.rstrip('/')}/{layout.STAGING}"
        self.staging = staging_fs or filesystem_for(staging, s3_client=s3_client)
        self.catalog = catalog
        self.max_records_per_file = max_records_per_file
        # Uploads to S3 are latency-bound, so they run in parallel; local renames are instant.
        self.publish_threads = publish_threads if is_s3(self.lake.uri) else 1

    # -- public surface ------------------------------------------------------------------------

    def is_committed(self, batch_id: int) -> bool:
        """Whether ``batch_id`` has been committed (its batch marker exists)."""
        return self.lake.exists(layout.marker_key(batch_id))

    def committed(self, batch_id: int) -> BatchCommit | None:
        """The recorded commit of ``batch_id``, or ``None`` if it was never committed."""
        try:
            data = self.lake.read_bytes(layout.marker_key(batch_id))
        except FileNotFoundError:
            return None
        return BatchCommit.from_json(data, replayed=True)

    def write_batch(
        self,
        batch_id: int,
        outputs: Sequence[Output],
        *,
        source: dict[str, Any] | None = None,
        verify: Callable[[dict[str, int]], None] | None = None,
        fence: Callable[[], None] | None = None,
    ) -> BatchCommit:
        """Write, publish and commit one micro-batch; a committed batch is returned as recorded.

        ``source`` (e.g. Kinesis shard positions) is stored in every commit record of the batch.
        ``verify`` receives the staged row count of every output before anything is published; if it
        raises, nothing of the batch becomes visible. ``fence`` is called before anything in the lake
        changes (recovery, publish) and again right before the commit point; it raises when this
        writer may no longer write (another driver took over).
        Raises :class:`LakeError` naming the batch and the step that failed; calling again with the
        same batch id and data (what Spark does after a restart) completes the batch exactly once.
        """
        started = time.monotonic()
        names = [o.name for o in outputs]
        if len(set(names)) != len(names):
            raise ConfigError("outputs", names, "distinct output names")
        done = self.committed(batch_id)
        if done is not None:
            self._cleanup(batch_id)  # a crash after the marker may have left the intent or staging
            log.info("lake batch already committed batch_id=%d; nothing written", batch_id)
            return done
        fence = fence or (lambda: None)
        fence()
        self.recover(batch_id)
        self.stage(batch_id, outputs)
        crash_point("lake.staged")
        plan = self.plan(batch_id, outputs)
        if verify is not None:
            verify({o.name: sum(f.rows for f in plan.files_of(o.name)) for o in outputs})
        fence()
        self.write_intent(plan)
        crash_point("lake.intent")
        self.publish(plan)
        self.register(plan, outputs)
        fence()
        result = self.commit(plan, outputs, source=source, started=started)
        crash_point("lake.marker")
        self._cleanup(batch_id)
        log.info(
            "lake batch committed batch_id=%d outputs=%d rows=%d files=%d partitions=%d bytes=%d duration_ms=%.0f",
            batch_id,
            len(result.outputs),
            result.rows,
            result.files,
            sum(o.partitions for o in result.outputs.values()),
            sum(o.bytes for o in result.outputs.values()),
            result.duration_s * 1000,
            extra={"batch_id": batch_id, "rows": result.rows, "files": result.files},
        )
        return result

    # -- the protocol's steps (public so tests can stop between them) ----------------------------

    def recover(self, batch_id: int) -> None:
        """Undo a half-published earlier attempt of ``batch_id``: delete every key its intent lists."""
        try:
            data = self.lake.read_bytes(layout.intent_key(batch_id))
        except FileNotFoundError:
            return
        intent = json.loads(data)
        keys = list(intent.get("keys", [])) + list(intent.get("commits", []))
        self._guard(batch_id, "recover", self.lake.delete_many, keys)
        # The intent itself stays until the replay commits: a crash now still leaves a record of what
        # may exist, and deleting a missing key is harmless.
        log.warning("lake batch replay batch_id=%d: removed %d key(s) of an unfinished publish", batch_id, len(keys))

    def stage(self, batch_id: int, outputs: Sequence[Output]) -> None:
        """Let Spark write every output under ``<staging>/<batch>/<name>``."""
        for out in outputs:
            path = spark_path(self.staging, layout.staging_key(batch_id, out.name))
            # Without a repartition each task writes its own file per partition value (at most
            # spark.sql.shuffle.partitions files per partition per batch; compaction merges them).
            # Measured once on 1M events in one batch (2 cores, loaded machine): 65-75 s with the
            # repartition, 38-51 s without.
            cluster = out.partition_by and self.cluster_partitions
            frame = out.frame.repartition(*out.partition_by) if cluster else out.frame
            writer = frame.write.option("maxRecordsPerFile", self.max_records_per_file).mode("overwrite")
            if out.partition_by:
                writer = writer.partitionBy(*out.partition_by)
            try:
                writer.parquet(path)
            except Exception as exc:
                raise LakeError(f"batch {batch_id}: staging output {out.name!r} to {path} failed: {exc}") from exc

    def plan(self, batch_id: int, outputs: Sequence[Output]) -> Plan:
        """Map the staged files to their lake keys in a deterministic order (partition, then file)."""
        planned: list[PlannedFile] = []
        for out in outputs:
            root = layout.staging_key(batch_id, out.name)
            by_dir: dict[str, list[tuple[str, int, int]]] = {}
            for info in self.staging.list(root):
                rel = info.key[len(root) + 1 :]
                if layout.is_hidden(rel) or not rel.endswith(".parquet"):
                    continue
                rows = parquet_rows(self.staging, info)
                if rows == 0:  # Spark writes a schema-only file for an empty unpartitioned frame
                    continue
                pdir = posixpath.dirname(rel)
                self._check_partition_dir(out, pdir)
                by_dir.setdefault(pdir, []).append((info.key, rows, info.size))
            for pdir in sorted(by_dir):
                for n, (staged, rows, size) in enumerate(sorted(by_dir[pdir])):
                    key = layout.data_file_key(out.name, pdir, batch_id, n)
                    planned.append(PlannedFile(out.name, staged, key, pdir, rows, size))
        return Plan(batch_id, tuple(planned), tuple(o.name for o in outputs))

    def write_intent(self, plan: Plan) -> None:
        """Record every key the batch will create before creating any of them."""
        key = layout.intent_key(plan.batch_id)
        self._guard(plan.batch_id, "write intent", self.lake.write_bytes, key, plan.intent())

    def publish(self, plan: Plan) -> None:
        """Move (local) or upload (S3) every planned file to its lake key."""

        def one(f: PlannedFile) -> None:
            crash_point("lake.publish")
            self._guard(plan.batch_id, f"publish {f.key}", self.lake.put_from, self.staging, f.staged_key, f.key)

        if self.publish_threads == 1 or len(plan.files) < 2:
            for f in plan.files:
                one(f)
            return
        with ThreadPoolExecutor(max_workers=self.publish_threads, thread_name_prefix="lake-publish") as pool:
            for fut in [pool.submit(one, f) for f in plan.files]:
                fut.result()

    def register(self, plan: Plan, outputs: Sequence[Output]) -> None:
        """Tell the catalog about every partition the batch wrote into (after publishing)."""
        if self.catalog is None:
            return
        for out in outputs:
            if not out.partition_by:
                continue
            dirs = sorted({f.partition_dir for f in plan.files_of(out.name)})
            if not dirs:
                continue
            parts = [partitions.partition_values(d) for d in dirs]
            step = f"register partitions of {out.name}"
            crash_point("lake.register")
            self._guard(plan.batch_id, step, self.catalog.register, out.name, parts)

    def commit(
        self,
        plan: Plan,
        outputs: Sequence[Output],
        *,
        source: dict[str, Any] | None = None,
        started: float | None = None,
    ) -> BatchCommit:
        """Write the per-output commit records, then the batch marker (the commit point)."""
        summaries: dict[str, OutputSummary] = {}
        for out in outputs:
            files = plan.files_of(out.name)
            dirs = sorted({f.partition_dir for f in files})
            summaries[out.name] = OutputSummary(
                rows=sum(f.rows for f in files),
                files=len(files),
                partitions=len(dirs) if out.partition_by else 0,
                bytes=sum(f.bytes for f in files),
            )
            if not files:
                continue  # an empty output writes nothing; it still counts in the batch summary
            record = OutputCommit(
                name=out.name,
                batch_id=plan.batch_id,
                files=tuple(
                    FileEntry(
                        f.key,
                        self.lake.uri_for(f.key),
                        f.rows,
                        f.bytes,
                        partitions.partition_values(f.partition_dir),
                    )
                    for f in files
                ),
                rows=summaries[out.name].rows,
                bytes=summaries[out.name].bytes,
                partitions=tuple(partitions.partition_values(d) for d in dirs) if out.partition_by else (),
                schema_hash=out.schema_hash,
                source=source,
            )
            self._put_new(plan.batch_id, layout.commit_key(out.name, plan.batch_id), record.to_json())
        duration = time.monotonic() - started if started is not None else 0.0
        result = BatchCommit(batch_id=plan.batch_id, outputs=summaries, duration_s=round(duration, 3))
        crash_point("lake.commit")
        self._put_new(plan.batch_id, layout.marker_key(plan.batch_id), result.to_json())
        return result

    # -- helpers -------------------------------------------------------------------------------

    def _put_new(self, batch_id: int, key: str, data: bytes) -> None:
        created = self._guard(batch_id, f"write {key}", self.lake.put_if_absent, key, data)
        if not created:
            # recover() removed this batch's earlier records, so only a second writer can have put it.
            raise LakeError(
                f"batch {batch_id}: {self.lake.uri_for(key)} already exists; another writer is committing "
                "the same batch (run one writer per lake and stream)"
            )

    def _cleanup(self, batch_id: int) -> None:
        self.lake.delete(layout.intent_key(batch_id))
        self.staging.delete_prefix(layout.staging_key(batch_id))

    @staticmethod
    def _check_partition_dir(out: Output, pdir: str) -> None:
        got = tuple(partitions.partition_values(pdir)) if pdir else ()
        if got != tuple(out.partition_by):
            raise LakeError(
                f"output {out.name!r}: staged directory {pdir!r} does not match partition_by={list(out.partition_by)}"
            )

    def _guard(self, batch_id: int, step: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one storage or catalog call; wrap its failure with the batch, the step and the lake."""
        try:
            return fn(*args)
        except LakeError:
            raise
        except Exception as exc:
            raise LakeError(f"batch {batch_id}: {step} failed on {self.lake.uri}: {exc}") from exc
