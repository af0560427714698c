"""A tiny end-to-end run of the benchmark's processing path on real Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.data import generate_dataset


def test_processing_path_smoke(tmp_path: Path, spark: Any) -> None:
    """~2k events through all three engines: streamlake's lake matches what the producer made."""
    from bench import processing as bp

    ds = generate_dataset(tmp_path, seed=11, events=2000, files=4, progress=lambda _: None)
    config = bp.ingest_defaults()
    full = bp.time_streamlake(spark, ds.raw_dir, ds.events, tmp_path / "sl", config=config, files_per_trigger=2)
    assert (full.valid_rows, full.quarantined_rows) == (ds.valid, ds.bad)
    assert full.batches == 2 and full.files > 0 and full.rate > 0
    noop = bp.time_streamlake(spark, ds.raw_dir, ds.events, tmp_path / "prep", config=config, mode="prepare")
    assert noop.valid_rows is None and noop.seconds > 0
    bare = bp.time_bare_spark(spark, ds.raw_dir, ds.events, tmp_path / "bare")
    duck = bp.time_duckdb(ds.ndjson, ds.events, tmp_path / "duck")
    assert bare.files > 0 and duck.files > 0
