"""Watch a running ingest query: one structured log line per batch, optional progress output, and
the stop conditions. The conservation check itself runs in the sink, before each commit."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobs.ingest.sink import BatchResult, BatchResults

log = logging.getLogger("streamlake.ingest")

EpochStatsFn = Callable[[str], Any]  # end offset JSON -> EpochStats (records, bytes, lag, caught_up)


@dataclass
class RunSummary:
    batches: int = 0
    read: int = 0
    valid: int = 0
    quarantined: int = 0
    duplicates: int = 0
    bytes_written: int = 0
    files: int = 0
    max_lag_ms: int = 0
    seconds: float = 0.0
    rows_by_table: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    mismatches: list[int] = field(default_factory=list)
    caught_up: bool = False

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


def _as_dict(progress: Any) -> dict[str, Any]:
    if isinstance(progress, dict):
        return progress
    return json.loads(progress.json)


class Monitor:
    def __init__(
        self,
        *,
        results: BatchResults,
        epoch_stats: EpochStatsFn | None,
        log_json: bool = False,
        show_progress: bool = True,
        not_before_ms: int | None = None,
    ) -> None:
        """``not_before_ms``: "caught up" counts only when every shard saw its tip at or after this
        wall time (the run's start), never on a replayed epoch's stale view from a run before."""
        self.results = results
        self.epoch_stats = epoch_stats
        self.log_json = log_json
        self.show_progress = show_progress and sys.stderr.isatty()
        self.not_before_ms = not_before_ms
        self.summary = RunSummary()
        self._last_batch = -1

    def handle(self, raw_progress: Any) -> bool:
        """Account for one progress report; returns whether every shard is caught up."""
        p = _as_dict(raw_progress)
        batch_id = int(p["batchId"])
        if batch_id <= self._last_batch:
            return False
        self._last_batch = batch_id
        result: BatchResult | None = self.results.pop(batch_id)
        read = int(p.get("numInputRows", 0))
        # The sink counted the batch itself (and refused to commit one that did not add up); a
        # replayed batch was already in the lake, so its duplicates are what the lake did not store.
        valid_q = (result.valid + result.quarantined) if result else 0
        dups = result.duplicates if result and result.duplicates is not None else max(0, read - valid_q)
        stats = None
        sources = p.get("sources") or []
        if self.epoch_stats and sources and sources[0].get("endOffset"):
            end = sources[0]["endOffset"]
            stats = self.epoch_stats(end if isinstance(end, str) else json.dumps(end))
        valid = result.valid if result else 0
        quarantined = result.quarantined if result else 0
        lag = int(getattr(stats, "max_millis_behind_latest", 0) or 0)
        line = {
            "batch": batch_id,
            "read": read,
            "valid": valid,
            "quarantined": quarantined,
            "duplicates": dups,
            "bytes_in": int(getattr(stats, "bytes", 0) or 0),
            "bytes_written": result.bytes if result else 0,
            "max_lag_ms": lag,
            "files": result.files if result else 0,
            "partitions": result.partitions if result else 0,
            "duration_ms": int(p.get("batchDuration", 0)),
            "replayed": bool(result and result.replayed),
        }
        s = self.summary
        s.batches += 1
        s.read += read
        s.valid += valid
        s.quarantined += quarantined
        s.duplicates += dups
        s.bytes_written += line["bytes_written"]
        s.files += line["files"]
        s.max_lag_ms = max(s.max_lag_ms, lag) if read else s.max_lag_ms
        if result:
            s.rows_by_table.update(result.rows_by_table)
            s.reasons.update(result.reasons)
        if result is not None and result.read is not None and read != result.read:
            s.mismatches.append(batch_id)
            log.error("batch %d: Spark reports %d input rows but the sink counted %d", batch_id, read, result.read)
        if self.log_json:
            log.info(json.dumps(line, sort_keys=True))
        else:
            log.info("batch " + " ".join(f"{k}={v}" for k, v in line.items()))
        if self.show_progress:
            print(
                f"\r  ingested {s.read:,} records in {s.batches} batches, lag {lag} ms   ",
                end="",
                file=sys.stderr,
                flush=True,
            )
        caught_up = bool(getattr(stats, "caught_up", False))
        if caught_up and self.not_before_ms is not None:
            seen_at = getattr(stats, "caught_up_at_ms", None)
            caught_up = seen_at is not None and seen_at >= self.not_before_ms
        s.caught_up = caught_up
        return caught_up

    def watch(
        self,
        query: Any,
        *,
        until_caught_up: bool,
        timeout_seconds: float | None,
        max_batches: int | None,
        on_batch: Callable[[int], None] | None = None,
    ) -> RunSummary:
        """Poll ``query`` until it ends, is caught up, times out or reaches ``max_batches``."""
        started = time.monotonic()
        try:
            while query.isActive:
                query.awaitTermination(0.25)
                for progress in list(query.recentProgress):
                    caught_up = self.handle(progress)
                    if on_batch:
                        on_batch(self.summary.batches)
                    if (until_caught_up and caught_up) or (max_batches and self.summary.batches >= max_batches):
                        query.stop()
                        break
                if timeout_seconds and time.monotonic() - started > timeout_seconds:
                    log.warning("stopping after --timeout-seconds=%s", timeout_seconds)
                    query.stop()
            # Progress of the final batch may arrive as the query stops.
            for progress in list(query.recentProgress):
                self.handle(progress)
            query.awaitTermination()
        finally:
            self.summary.seconds = time.monotonic() - started
            if self.show_progress:
                print(file=sys.stderr)
        return self.summary
