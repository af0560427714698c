"""Glue accepts the generated TableInput and PartitionInput (moto server behind the local stack)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schemas import load_tables
from schemas.glue import partition_input, partition_path, schema_hash, table_input

pytestmark = pytest.mark.integration


@pytest.fixture
def glue(stack: Any) -> Any:
    return stack.client("glue")


@pytest.fixture
def database(glue: Any) -> str:
    name = f"lake_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": name, "Description": "schema generator test"})
    return name


def test_every_shop_table_is_created_and_round_trips(glue: Any, database: str) -> None:
    for table in load_tables().values():
        location = f"s3://lake/{table.name}/"
        sent = table_input(table, location=location)
        glue.create_table(DatabaseName=database, TableInput=sent)

        got = glue.get_table(DatabaseName=database, Name=table.name)["Table"]
        assert got["StorageDescriptor"]["Columns"] == sent["StorageDescriptor"]["Columns"]
        assert got["PartitionKeys"] == sent["PartitionKeys"]
        assert got["StorageDescriptor"]["Location"] == location
        assert got["StorageDescriptor"]["SerdeInfo"] == sent["StorageDescriptor"]["SerdeInfo"]
        assert got["TableType"] == "EXTERNAL_TABLE"
        assert got["Parameters"]["streamlake.schema_hash"] == schema_hash(table)
        assert got["Parameters"]["classification"] == "parquet"
    listed = glue.get_tables(DatabaseName=database)["TableList"]
    assert sorted(t["Name"] for t in listed) == sorted(load_tables())


def test_partitions_are_registered_in_one_batch(glue: Any, database: str) -> None:
    table = load_tables()["page_view"]
    location = "s3://lake/page_view/"
    glue.create_table(DatabaseName=database, TableInput=table_input(table, location=location))
    days = ["2026-11-22", "2026-11-23"]
    inputs = [partition_input(table, values=[d], location=location + partition_path(table, [d])) for d in days]

    result = glue.batch_create_partition(DatabaseName=database, TableName="page_view", PartitionInputList=inputs)
    assert result.get("Errors", []) == []

    got = glue.get_partitions(DatabaseName=database, TableName="page_view")["Partitions"]
    assert sorted(p["Values"] for p in got) == [[d] for d in days]
    by_day = {p["Values"][0]: p for p in got}
    assert by_day["2026-11-23"]["StorageDescriptor"]["Location"] == f"{location}event_date=2026-11-23/"
    assert by_day["2026-11-23"]["StorageDescriptor"]["Columns"] == inputs[1]["StorageDescriptor"]["Columns"]
    assert by_day["2026-11-23"]["Parameters"] == {"streamlake.schema_hash": schema_hash(table)}

    # Registering the same partitions again reports AlreadyExists per entry: callers treat it as success.
    again = glue.batch_create_partition(DatabaseName=database, TableName="page_view", PartitionInputList=inputs)
    assert {e["ErrorDetail"]["ErrorCode"] for e in again["Errors"]} == {"AlreadyExistsException"}
