"""schemas.glue: TableInput / PartitionInput dicts and the schema hash."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas import load_tables, parse_table
from schemas.glue import hive_type, partition_input, partition_path, schema_hash, table_input
from schemas.partitions import partition_dir
from schemas.types import parse_type
from streamlake.errors import ConfigError, SchemaError

RAW: dict[str, Any] = {
    "name": "tiny",
    "description": "A tiny table.",
    "version": 3,
    "event_type": "tiny",
    "key": ["id"],
    "event_time": "ts",
    "partitions": [{"name": "event_date", "from": "ts"}],
    "columns": [
        {
            "name": "id",
            "type": "string",
            "nullable": False,
            "description": "The id.",
            "rules": {"max_length": 8},
        },
        {"name": "ts", "type": "timestamp", "nullable": False},
        {"name": "amount", "type": "decimal(12,2)"},
        {"name": "lines", "type": "array<struct<sku:string,qty:int>>", "description": "Two\nlines."},
        {"name": "attrs", "type": "map<string,long>"},
    ],
}
TINY = parse_table(RAW)
# Pinned on purpose: commit records store this hash, so it must not drift between releases.
TINY_HASH = "b987740beac912d180348ffb47d199f6e968ab9f4c5af99eb930ce6a5f60b78c"

SD: dict[str, Any] = {
    "Columns": [
        {"Name": "id", "Type": "string", "Comment": "The id."},
        {"Name": "ts", "Type": "timestamp"},
        {"Name": "amount", "Type": "decimal(12,2)"},
        {"Name": "lines", "Type": "array<struct<sku:string,qty:int>>", "Comment": "Two lines."},
        {"Name": "attrs", "Type": "map<string,bigint>"},
        {"Name": "_shard_id", "Type": "string", "Comment": "Kinesis shard the record was read from."},
        {"Name": "_sequence_number", "Type": "string", "Comment": "Kinesis sequence number of the record."},
        {
            "Name": "_sub_sequence_number",
            "Type": "bigint",
            "Comment": "Position inside a KPL aggregate (0 if none).",
        },
        {"Name": "_arrival_time", "Type": "timestamp", "Comment": "Approximate arrival time at Kinesis."},
        {"Name": "_batch_id", "Type": "bigint", "Comment": "Micro-batch that wrote the row."},
    ],
    "Location": "s3://lake/tiny/",
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "Compressed": False,
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
    "StoredAsSubDirectories": False,
}


def variant(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    raw.update(changes)
    return raw


def test_table_input_equals_hand_written_dict() -> None:
    assert table_input(TINY, location="s3://lake/tiny") == {
        "Name": "tiny",
        "Description": "A tiny table.",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "EXTERNAL": "TRUE",
            "classification": "parquet",
            "streamlake.schema_hash": TINY_HASH,
            "streamlake.schema_version": "3",
        },
        "PartitionKeys": [
            {
                "Name": "event_date",
                "Type": "date",
                "Comment": "date(ts), stored as the path segment event_date=<value>",
            }
        ],
        "StorageDescriptor": SD,
    }


def test_description_and_extra_parameters_override() -> None:
    got = table_input(TINY, location="s3://lake/tiny/", description="Other.", parameters={"a": "b"})
    assert got["Description"] == "Other."
    assert got["Parameters"]["a"] == "b"


def test_partition_input_copies_the_table_storage_descriptor() -> None:
    got = partition_input(TINY, values=["2026-11-23"], location="s3://lake/tiny/event_date=2026-11-23")
    assert got == {
        "Values": ["2026-11-23"],
        "StorageDescriptor": {**SD, "Location": "s3://lake/tiny/event_date=2026-11-23/"},
        "Parameters": {"streamlake.schema_hash": TINY_HASH},
    }


@pytest.mark.parametrize("values", [["2026-11-31"], ["2026/11/23"], ["2026-11-23", "x"], []])
def test_partition_values_are_checked(values: list[str]) -> None:
    with pytest.raises(SchemaError, match="partition"):
        partition_input(TINY, values=values, location="s3://lake/tiny/x/")


def test_partition_path() -> None:
    assert partition_path(TINY, ["2026-11-23"]) == "event_date=2026-11-23"
    hourly = parse_table(variant(partitions=[{"name": "h", "from": "ts", "transform": "hour"}]))
    assert partition_path(hourly, ["2026-11-23-07"]) == "h=2026-11-23-07"
    with pytest.raises(SchemaError, match="YYYY-MM-DD-HH"):
        partition_path(hourly, ["2026-11-23-24"])


def test_partition_paths_are_escaped_like_the_writers_directories() -> None:
    by_id = parse_table(
        variant(partitions=[{"name": "event_date", "from": "ts"}, {"name": "k", "from": "id", "transform": "identity"}])
    )
    values = ["2026-11-23", "a:b%c"]
    assert partition_path(by_id, values) == "event_date=2026-11-23/k=a%3Ab%25c"
    assert partition_path(by_id, values) == partition_dir(
        {"event_date": "2026-11-23", "k": "a:b%c"}, ["event_date", "k"]
    )


@pytest.mark.parametrize("location", ["lake/tiny", "s3://lake/ti ny/", "s3://lake/it's/", ""])
def test_bad_locations_are_refused(location: str) -> None:
    with pytest.raises(ConfigError, match="location"):
        table_input(TINY, location=location)


def test_hive_types() -> None:
    assert hive_type(parse_type("long")) == "bigint"
    assert hive_type(parse_type("map<string,array<int>>")) == "map<string,array<int>>"
    assert hive_type(parse_type("struct<a:long,b:decimal(5,0)>")) == "struct<a:bigint,b:decimal(5,0)>"
    assert hive_type(parse_type("struct<order:int>"), quote_fields=True) == "struct<`order`:int>"


def test_schema_hash_is_stable() -> None:
    assert schema_hash(TINY) == TINY_HASH
    assert schema_hash(parse_table(copy.deepcopy(RAW))) == TINY_HASH


def test_schema_hash_ignores_what_is_not_stored() -> None:
    cols = copy.deepcopy(RAW["columns"])
    cols[0] = {**cols[0], "description": "changed", "rules": {"max_length": 9}}
    same = parse_table(variant(version=4, description="changed", columns=cols))
    assert schema_hash(same) == TINY_HASH


@pytest.mark.parametrize(
    "change",
    [
        lambda cols: cols.append({"name": "extra", "type": "string"}),
        lambda cols: cols[2].update(type="decimal(14,2)"),
        lambda cols: cols[2].update(nullable=False),
        lambda cols: cols[4].update(type="map<string,int>"),
        lambda cols: cols.insert(3, cols.pop(4)),
    ],
    ids=["add", "type", "nullability", "nested type", "order"],
)
def test_schema_hash_changes_with_the_stored_shape(change: Any) -> None:
    cols = copy.deepcopy(RAW["columns"])
    change(cols)
    assert schema_hash(parse_table(variant(columns=cols))) != TINY_HASH


def test_schema_hash_changes_with_partitions() -> None:
    hourly = variant(partitions=[{"name": "event_date", "from": "ts", "transform": "hour"}])
    assert schema_hash(parse_table(hourly)) != TINY_HASH


def test_every_shop_table_input_lists_storage_columns_and_partitions() -> None:
    for table in load_tables().values():
        got = table_input(table, location=f"s3://lake/{table.name}/")
        assert [c["Name"] for c in got["StorageDescriptor"]["Columns"]] == [c.name for c in table.storage_columns]
        assert [k["Name"] for k in got["PartitionKeys"]] == ["event_date"]
        assert all(len(c.get("Comment", "")) <= 255 for c in got["StorageDescriptor"]["Columns"])
