"""The monitor's stop rule: caught up only on tips seen by this run, never on a replayed epoch's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from jobs.ingest.monitor import Monitor
from jobs.ingest.sink import BatchResult, BatchResults


def _progress(batch: int) -> dict[str, Any]:
    return {"batchId": batch, "numInputRows": 3, "sources": [{"endOffset": {"epoch": batch}}]}


def _monitor(tip_ms: int, not_before_ms: int | None) -> Monitor:
    stats = SimpleNamespace(caught_up=True, caught_up_at_ms=tip_ms, max_millis_behind_latest=0, bytes=0)
    return Monitor(
        results=BatchResults(), epoch_stats=lambda end: stats, show_progress=False, not_before_ms=not_before_ms
    )


def test_a_tip_seen_before_this_run_started_is_not_caught_up() -> None:
    assert not _monitor(tip_ms=999, not_before_ms=1_000).handle(_progress(1))  # a replay of the last run
    assert _monitor(tip_ms=1_000, not_before_ms=1_000).handle(_progress(1))
    assert _monitor(tip_ms=5, not_before_ms=None).handle(_progress(1))


def test_the_sinks_counts_are_what_the_batch_line_reports() -> None:
    results = BatchResults()
    results.put(
        BatchResult(
            batch_id=1,
            rows_by_table={"t": 2},
            quarantined=0,
            reasons={},
            files=1,
            partitions=1,
            bytes=1,
            seconds=0.1,
            read=3,
            duplicates=1,
        )
    )
    monitor = Monitor(results=results, epoch_stats=None, show_progress=False)
    monitor.handle(_progress(1))
    s = monitor.summary
    assert (s.read, s.valid, s.quarantined, s.duplicates, s.mismatches) == (3, 2, 0, 1, [])
