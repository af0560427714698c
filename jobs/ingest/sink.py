"""The foreachBatch sink: find producer retries, count the batch, and write it only if it adds up.

``read = valid + quarantined + duplicates`` is checked on the staged files before anything is
published, and ``read`` against what the source says it emitted; a batch that does not add up
commits nothing and stops the job (:class:`ConservationError`).

Spark gives the sink only ``(df, batch_id)``; the source offsets of the batch are read from the
checkpoint's offset log so the commit record can say exactly which positions it holds.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.ingest.dedup_index import KeyIndex
from jobs.ingest.runs import Run, checkpoint_query_id, claim_run
from jobs.lake import layout
from jobs.lake.commit import OutputCommit
from jobs.lake.fs import LakeFS
from jobs.lake.writer import LakeWriter, Output
from jobs.transforms.dedup import (
    COPY,
    DEDUP_KEY,
    DUPLICATE,
    KEYS_OUTPUT,
    accepted,
    mark_duplicates,
    new_keys,
    rank_copies,
    with_dedup_key,
)
from jobs.transforms.split import QUARANTINE, destinations
from schemas.glue import schema_hash
from schemas.model import Table
from streamlake.errors import LakeError

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What the sink did with one micro-batch (read by the monitor for the batch log line)."""

    batch_id: int
    rows_by_table: dict[str, int]
    quarantined: int
    reasons: dict[str, int]
    files: int
    partitions: int
    bytes: int
    seconds: float
    replayed: bool = False
    read: int | None = None  # None for a replayed batch (the lake already had it)
    duplicates: int | None = None

    @property
    def valid(self) -> int:
        return sum(self.rows_by_table.values())


@dataclass
class BatchResults:
    """Thread-safe hand-off from the sink (Spark's foreachBatch thread) to the monitor."""

    _results: dict[int, BatchResult] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, result: BatchResult) -> None:
        with self._lock:
            self._results[result.batch_id] = result

    def pop(self, batch_id: int) -> BatchResult | None:
        with self._lock:
            return self._results.pop(batch_id, None)


def source_offsets(checkpoint: str, batch_id: int) -> dict[str, Any] | None:
    """The offsets Spark logged for ``batch_id`` (line 3+ of ``offsets/<id>``), if readable locally."""
    path = Path(checkpoint.removeprefix("file://")) / "offsets" / str(batch_id)
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    return {"sources": [json.loads(line) if line.startswith("{") else line for line in lines[2:]]}


def quarantine_reasons(lake: LakeFS, lake_batch: int) -> dict[str, int]:
    """Reason counts of one batch, read from the quarantine files it just committed.

    Quarantined rows are a few percent of a batch, so reading their ``reasons`` column back is far
    cheaper than a second Spark pass over the whole persisted micro-batch.
    """
    record = OutputCommit.from_json(lake.read_bytes(layout.commit_key(QUARANTINE, lake_batch)))
    counts: Counter[str] = Counter()
    for entry in record.files:
        table = pq.read_table(io.BytesIO(lake.read_bytes(entry.key)), columns=["reasons"])
        counts.update(reason for reasons in table.column("reasons").to_pylist() for reason in reasons)
    return dict(counts)


class ConservationError(LakeError):
    """A batch does not add up (read != valid + quarantined + duplicates); nothing was committed."""


@dataclass(frozen=True)
class BatchCounts:
    """What one pass over the marked batch found, before anything is written."""

    read: int
    valid_by_table: dict[str, int]
    quarantined: int
    duplicates: int

    @property
    def valid(self) -> int:
        return sum(self.valid_by_table.values())


def count_batch(marked: DataFrame, tables: list[Table]) -> BatchCounts:
    """One aggregate: rows in, rows per table, quarantined rows, duplicates."""
    ok = accepted() & ~F.col(DUPLICATE)
    exprs = [
        F.count(F.lit(1)).alias("read"),
        F.count_if(~accepted()).alias("q"),
        F.count_if(F.col(DUPLICATE)).alias("d"),
    ]
    exprs += [F.count_if(ok & (F.col("_table") == F.lit(t.name))).alias(f"t{i}") for i, t in enumerate(tables)]
    row = marked.agg(*exprs).first()
    assert row is not None
    return BatchCounts(
        read=int(row["read"]),
        valid_by_table={t.name: int(row[f"t{i}"]) for i, t in enumerate(tables)},
        quarantined=int(row["q"]),
        duplicates=int(row["d"]),
    )


class LakeSink:
    """``foreachBatch`` callable: find retries, count the batch, write it, and commit only if it adds up.

    ``source_records`` (optional) returns how many rows the source says it emitted for a batch,
    given the batch's end offset; the batch must then hold exactly that many rows.
    """

    def __init__(
        self,
        *,
        writer: LakeWriter,
        tables: list[Table],
        checkpoint: str,
        results: BatchResults,
        dedup_window_seconds: float | None = 3600.0,
        s3_client: Any | None = None,
        source_records: Callable[[str], int | None] | None = None,
        fence: Callable[[], None] | None = None,
    ) -> None:
        self.writer = writer
        self.s3_client = s3_client
        self._run: Run | None = None
        self.tables = tables
        self.checkpoint = checkpoint
        self.results = results
        self.schema_hashes = {t.name: schema_hash(t) for t in tables}
        self.dedup_window_seconds = dedup_window_seconds
        self.source_records = source_records
        self.fence = fence
        self._index: KeyIndex | None = None

    def run(self) -> Run:
        """This checkpoint's run in the lake (read once, on the first batch: Spark has written
        ``<checkpoint>/metadata`` by then)."""
        if self._run is None:
            query_id = checkpoint_query_id(self.checkpoint, s3_client=self.s3_client)
            self._run = claim_run(self.writer.lake, query_id)
        return self._run

    def index(self) -> KeyIndex | None:
        if self._index is None and self.dedup_window_seconds is not None:
            self._index = KeyIndex.load(self.writer.lake, window_seconds=self.dedup_window_seconds)
        return self._index

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        lake_batch = self.run().lake_batch_id(batch_id)
        done = self.writer.committed(lake_batch)
        if done is not None:  # a replay after a crash: the lake has it, the query is stateless
            self.results.put(self._result(batch_id, lake_batch, done, None, started))
            return
        offsets = source_offsets(self.checkpoint, batch_id)
        index = self.index()
        # The batch is evaluated once: ranking, counting, every output and the new keys read these rows.
        ranked = rank_copies(with_dedup_key(df, self.tables)).persist(StorageLevel.MEMORY_AND_DISK)
        marked, stored_keys = self._mark(ranked, index)
        marked = marked.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            counts = count_batch(marked, self.tables)
            self._check_source(batch_id, counts, offsets)
            stored = marked.where(~F.col(DUPLICATE))
            outputs = [
                Output(d.name, d.frame, d.partition_by, schema_hash=self.schema_hashes.get(d.name))
                for d in destinations(stored, self.tables, batch_id=lake_batch)
            ]
            if index is not None:
                outputs.append(Output(KEYS_OUTPUT, new_keys(marked)))
            source = {"query_id": self.run().query_id, "spark_batch_id": batch_id, **(offsets or {})}
            commit = self.writer.write_batch(
                lake_batch,
                outputs,
                source=source,
                verify=lambda staged: self._check_staged(batch_id, counts, staged),
                fence=self.fence,
            )
            if index is not None:
                index.add(lake_batch, stored_keys)
            self.results.put(self._result(batch_id, lake_batch, commit, counts, started))
        finally:
            marked.unpersist()
            ranked.unpersist()

    def _mark(self, ranked: DataFrame, index: KeyIndex | None) -> tuple[DataFrame, list[str]]:
        """Mark duplicates (later copies in this batch, first copies of keys the lake holds) and
        return the keys the batch will store: its first copies less those already held."""
        if index is None:  # de-duplication off: nothing is a duplicate
            return ranked.withColumn(DUPLICATE, F.lit(False)), []
        firsts = [r[0] for r in ranked.where(accepted() & (F.col(COPY) == 1)).select(DEDUP_KEY).collect()]
        seen = index.seen(firsts)
        seen_df = ranked.sparkSession.createDataFrame([(k,) for k in seen], f"{DEDUP_KEY} string") if seen else None
        held = set(seen)
        return mark_duplicates(ranked, seen_df), [k for k in firsts if k not in held]

    def _check_source(self, batch_id: int, counts: BatchCounts, offsets: dict[str, Any] | None) -> None:
        if self.source_records is None or not offsets or not offsets.get("sources"):
            return
        end = offsets["sources"][0]
        expected = self.source_records(end if isinstance(end, str) else json.dumps(end))
        if expected is not None and expected != counts.read:
            raise ConservationError(
                f"batch {batch_id}: the source emitted {expected} rows but the batch holds {counts.read}; "
                "nothing was committed"
            )

    def _check_staged(self, batch_id: int, counts: BatchCounts, staged: dict[str, int]) -> None:
        """Called by the writer after staging, before anything is published (the commit point is later)."""
        valid = {t.name: staged.get(t.name, 0) for t in self.tables}
        quarantined = staged.get(QUARANTINE, 0)
        if (
            valid != counts.valid_by_table
            or quarantined != counts.quarantined
            or sum(valid.values()) + quarantined + counts.duplicates != counts.read
        ):
            raise ConservationError(
                f"batch {batch_id} does not add up: read {counts.read} != valid {sum(valid.values())} "
                f"{valid} + quarantined {quarantined} + duplicates {counts.duplicates} "
                f"(expected valid {counts.valid_by_table}, quarantined {counts.quarantined}); nothing was committed"
            )

    def _result(
        self, batch_id: int, lake_batch: int, commit: Any, counts: BatchCounts | None, started: float
    ) -> BatchResult:
        rows = {name: stats.rows for name, stats in commit.outputs.items() if name != KEYS_OUTPUT}
        quarantined = rows.pop(QUARANTINE, 0)
        reason_counts = quarantine_reasons(self.writer.lake, lake_batch) if quarantined else {}
        return BatchResult(
            batch_id=batch_id,
            rows_by_table=rows,
            quarantined=quarantined,
            reasons=reason_counts,
            files=sum(s.files for n, s in commit.outputs.items() if n != KEYS_OUTPUT),
            partitions=sum(s.partitions for s in commit.outputs.values()),
            bytes=sum(s.bytes for n, s in commit.outputs.items() if n != KEYS_OUTPUT),
            seconds=time.monotonic() - started,
            replayed=commit.replayed,
            read=counts.read if counts else None,
            duplicates=counts.duplicates if counts else None,
        )
