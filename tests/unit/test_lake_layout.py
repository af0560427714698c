"""Key conventions of the lake: pure functions, no I/O."""

from __future__ import annotations

import pytest

from jobs.lake import layout


def test_keys_are_zero_padded_and_sort_in_batch_order() -> None:
    assert layout.marker_key(7) == "_commits/_batches/000000000007.json"
    assert layout.intent_key(7) == "_commits/_pending/000000000007.json"
    assert layout.commit_key("_quarantine/page_view", 7) == "_commits/_quarantine/page_view/000000000007.json"
    assert layout.staging_key(7, "page_view") == "000000000007/page_view"
    assert sorted([layout.marker_key(10), layout.marker_key(9)]) == [
        layout.marker_key(9),
        layout.marker_key(10),
    ]
    with pytest.raises(ValueError, match="batch id"):
        layout.batch_name(-1)


def test_data_file_keys() -> None:
    assert (
        layout.data_file_key("page_view", "event_date=2026-11-23", 12, 3)
        == "page_view/event_date=2026-11-23/part-000000000012-00003.parquet"
    )
    assert layout.data_file_key("flat", "", 1, 0) == "flat/part-000000000001-00000.parquet"


def test_hidden_files_are_never_published() -> None:
    assert layout.is_hidden("_SUCCESS")
    assert layout.is_hidden("event_date=2026-11-23/.part-0.parquet.crc")
    assert not layout.is_hidden("event_date=2026-11-23/part-0.parquet")
    assert not layout.is_hidden("k=__HIVE_DEFAULT_PARTITION__/part-0.parquet")
