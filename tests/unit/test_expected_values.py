"""The oracle's model of a declared cast, and its normal form of what DuckDB returns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from local.expected import expected_partition, expected_value, stored_value
from schemas import parse_type
from schemas.model import Partition


def test_values_are_cast_as_declared() -> None:
    assert expected_value(19.9, parse_type("decimal(12,2)")) == Decimal("19.90")
    assert expected_value(0.125, parse_type("decimal(12,2)")) == Decimal("0.13")  # half up, as Spark
    when = expected_value("2026-11-23T11:59:00.1234567Z", parse_type("timestamp"))
    assert when == dt.datetime(2026, 11, 23, 11, 59, 0, 123456, tzinfo=dt.UTC)
    items = parse_type("array<struct<product_id:string,quantity:int,unit_price:decimal(12,2)>>")
    assert expected_value([{"product_id": "P1", "quantity": 2, "unit_price": 5.5}], items) == [
        {"product_id": "P1", "quantity": 2, "unit_price": Decimal("5.50")}
    ]
    assert expected_value(None, parse_type("string")) is None


def test_duckdb_forms_are_normalised() -> None:
    naive = dt.datetime(2026, 11, 23, 11, 59)
    assert stored_value(naive, parse_type("timestamp")) == naive.replace(tzinfo=dt.UTC)
    pairs = {"key": ["gift"], "value": ["yes"]}
    assert stored_value(pairs, parse_type("map<string,string>")) == {"gift": "yes"}
    assert stored_value({"gift": "yes"}, parse_type("map<string,string>")) == {"gift": "yes"}


def test_the_partition_a_value_belongs_in() -> None:
    at = dt.datetime(2026, 11, 23, 23, 59, tzinfo=dt.UTC)
    assert expected_partition(Partition("event_date", "event_time", "date"), at) == "2026-11-23"
    assert expected_partition(Partition("h", "event_time", "hour"), at) == "2026-11-23-23"
