"""The foreachBatch sink: split a prepared micro-batch and hand it to the lake writer.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import DataFrame

from jobs.ingest.runs import Run, checkpoint_query_id, claim_run
from jobs.lake import layout
from jobs.lake.commit import OutputCommit
from jobs.lake.fs import LakeFS
from jobs.lake.writer import LakeWriter, Output
from jobs.transforms.split import QUARANTINE, destinations
from schemas.glue import schema_hash
from schemas.model import Table

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


class LakeSink:
    """``foreachBatch`` callable: persist once, write every destination, record the counts."""

    def __init__(
        self,
        *,
        writer: LakeWriter,
        tables: list[Table],
        checkpoint: str,
        results: BatchResults,
        s3_client: Any | None = None,
    ) -> None:
        self.writer = writer
        self.s3_client = s3_client
        self._run: Run | None = None
        self.tables = tables
        self.checkpoint = checkpoint
        self.results = results
        self.schema_hashes = {t.name: schema_hash(t) for t in tables}

    def run(self) -> Run:
        """This checkpoint's run in the lake (read once, on the first batch: Spark has written
        ``<checkpoint>/metadata`` by then)."""
        if self._run is None:
            query_id = checkpoint_query_id(self.checkpoint, s3_client=self.s3_client)
            self._run = claim_run(self.writer.lake, query_id)
        return self._run

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        lake_batch = self.run().lake_batch_id(batch_id)
        # Every destination and the reason counts read the same rows: compute them once.
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            outputs = [
                Output(d.name, d.frame, d.partition_by, schema_hash=self.schema_hashes.get(d.name))
                for d in destinations(df, self.tables, batch_id=lake_batch)
            ]
            source = {
                "query_id": self.run().query_id,
                "spark_batch_id": batch_id,
                **(source_offsets(self.checkpoint, batch_id) or {}),
            }
            if self.writer.committed(lake_batch) is not None:
                # The lake already has this batch (a replay after a crash), so the writer will write
                # nothing; the batch must still run through, or stateful operators (de-duplication)
                # never commit their state for it and Spark fails the query.
                df.write.format("noop").mode("overwrite").save()
            commit = self.writer.write_batch(lake_batch, outputs, source=source)
            rows = {name: stats.rows for name, stats in commit.outputs.items()}
            quarantined = rows.pop(QUARANTINE, 0)
            reason_counts = quarantine_reasons(self.writer.lake, lake_batch) if quarantined else {}
            result = BatchResult(
                batch_id=batch_id,
                rows_by_table=rows,
                quarantined=quarantined,
                reasons=reason_counts,
                files=sum(s.files for s in commit.outputs.values()),
                partitions=sum(s.partitions for s in commit.outputs.values()),
                bytes=sum(s.bytes for s in commit.outputs.values()),
                seconds=time.monotonic() - started,
                replayed=commit.replayed,
            )
            self.results.put(result)
        finally:
            df.unpersist()
