"""Hive partition path spelling shared by the lake writer and the Glue catalog: pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas import partitions


def test_partition_dirs_round_trip_with_spark_escaping() -> None:
    values = {"event_date": dt.date(2026, 11, 23), "k": "b/c=d"}
    pdir = partitions.partition_dir(values, ["event_date", "k"])
    assert pdir == "event_date=2026-11-23/k=b%2Fc%3Dd"
    assert partitions.partition_values(pdir) == {"event_date": "2026-11-23", "k": "b/c=d"}
    assert partitions.partition_values("") == {}
    with pytest.raises(ValueError, match="not a Hive partition"):
        partitions.partition_values("event_date")


def test_partition_values_are_formatted_like_hive() -> None:
    assert partitions.format_value(dt.date(2026, 1, 2)) == "2026-01-02"
    assert partitions.format_value("2026-01-02-17") == "2026-01-02-17"
    assert partitions.format_value(5) == "5"
