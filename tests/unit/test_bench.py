"""The benchmark's pure helpers and its dataset layout (tests/spark/test_bench.py runs its processing path)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.data import SHARDS, generate_dataset, load_dataset, sequence_number, shard_of
from bench.memory import descendants, sample_tree
from bench.stats import (
    Row,
    fmt_bytes,
    fmt_rate,
    fmt_seconds,
    markdown_table,
    median,
    meets,
    percentile,
    ratio,
    target_row,
)


def test_median_odd_even_and_empty() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert math.isnan(median([]))


def test_percentile_interpolates_like_numpy() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5.5
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="within"):
        percentile(values, 101)


def test_ratio_and_targets() -> None:
    assert ratio(3.0, 4.0) == 0.75
    assert math.isnan(ratio(1.0, 0.0))
    assert meets(0.75, 0.75, ">=") is True
    assert meets(1.02, 1.01, "<=") is False
    assert meets(math.nan, 1.0, ">=") is None
    row = target_row("Processing", "a / b", 0.5, target=0.75, comparison=">=")
    assert (row.result, row.target, row.status) == ("0.50", ">= 0.75", "MISSED")


def test_formatting() -> None:
    assert fmt_rate(12345.6) == "12,346/s"
    assert fmt_seconds(0.25) == "250 ms"
    assert fmt_seconds(12.34) == "12.3 s"
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(1536) == "1.50 KiB"
    assert fmt_bytes(3 * 1024**3) == "3.00 GiB"


def test_markdown_table_aligns_and_escapes() -> None:
    rows = [Row("S", "a|b", "1", ">= 2", "note", False), Row("S", "c", "22")]
    lines = markdown_table(rows).splitlines()
    assert lines[0].startswith("| Section")
    assert set(lines[1]) <= {"|", "-"}
    assert "a\\|b" in lines[2] and "MISSED" in lines[2]
    assert len({len(line) for line in lines}) == 1  # padded to equal width


def test_shard_routing_and_sequence_numbers() -> None:
    shards = {shard_of(f"key-{i}") for i in range(1000)}
    assert shards == set(range(SHARDS))
    assert len(sequence_number(3, 7)) == 56
    assert sequence_number(0, 9) < sequence_number(0, 10)


def test_descendants_walks_the_tree() -> None:
    parents = {1: 0, 2: 1, 3: 2, 4: 1, 9: 8}
    assert descendants(1, parents) == {1, 2, 3, 4}
    here = sample_tree()
    assert here.total > 0 and here.processes >= 1


def test_dataset_is_cached_by_seed_and_count(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    ds = generate_dataset(tmp_path, seed=5, events=400, files=2, progress=lambda _: None)
    assert ds.events == 400 and ds.files == 2
    assert ds.valid + ds.bad + ds.duplicates == 400
    table = pq.read_table(ds.raw_dir)
    assert table.num_rows == 400
    assert table.column_names == [
        "stream", "shard_id", "sequence_number", "sub_sequence_number",
        "partition_key", "approximate_arrival_timestamp", "data",
    ]  # fmt: skip
    assert sum(ds.per_shard.values()) == 400
    assert ds.ndjson_lines == sum(1 for _ in ds.ndjson.open("rb"))
    again = generate_dataset(tmp_path, seed=5, events=400, files=2, progress=lambda _: None)
    assert again == load_dataset(ds.root) == ds
