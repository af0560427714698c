"""schemas.arrow: the Arrow schema of the lake's Parquet files, compared with a hand-written one."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import load_tables, parse_table
from schemas.arrow import arrow_schema, arrow_type
from schemas.types import parse_type

TINY = parse_table(
    {
        "name": "tiny",
        "version": 1,
        "event_type": "tiny",
        "key": ["id"],
        "event_time": "ts",
        "partitions": [{"name": "day", "from": "ts"}],
        "columns": [
            {"name": "id", "type": "string", "nullable": False},
            {"name": "ts", "type": "timestamp", "nullable": False},
            {"name": "n", "type": "int"},
            {"name": "big", "type": "long"},
            {"name": "price", "type": "decimal(12,2)", "nullable": False},
            {"name": "x", "type": "double"},
            {"name": "ok", "type": "boolean"},
            {"name": "d", "type": "date"},
            {"name": "lines", "type": "array<struct<sku:string,qty:int>>"},
            {"name": "attrs", "type": "map<string,string>"},
        ],
    }
)

DECLARED = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("n", pa.int32()),
    pa.field("big", pa.int64()),
    pa.field("price", pa.decimal128(12, 2), nullable=False),
    pa.field("x", pa.float64()),
    pa.field("ok", pa.bool_()),
    pa.field("d", pa.date32()),
    pa.field("lines", pa.list_(pa.field("element", pa.struct([("sku", pa.string()), ("qty", pa.int32())])))),
    pa.field("attrs", pa.map_(pa.string(), pa.string())),
]
LINEAGE = [
    pa.field("_shard_id", pa.string(), nullable=False),
    pa.field("_sequence_number", pa.string(), nullable=False),
    pa.field("_sub_sequence_number", pa.int64(), nullable=False),
    pa.field("_arrival_time", pa.timestamp("us", tz="UTC")),
    pa.field("_batch_id", pa.int64(), nullable=False),
]


def test_files_hold_declared_then_lineage_columns_by_default() -> None:
    assert arrow_schema(TINY).equals(pa.schema(DECLARED + LINEAGE), check_metadata=True)


def test_without_lineage() -> None:
    assert arrow_schema(TINY, include_lineage=False) == pa.schema(DECLARED)


def test_partitions_appended_when_asked() -> None:
    got = arrow_schema(TINY, include_lineage=False, include_partitions=True)
    assert got == pa.schema([*DECLARED, pa.field("day", pa.date32(), nullable=False)])


def test_timestamp_unit_and_zone_are_compared() -> None:
    # Guards the tests above: a naive or millisecond timestamp must not compare equal.
    assert arrow_type(parse_type("timestamp")) != pa.timestamp("ms", tz="UTC")
    assert arrow_type(parse_type("timestamp")) != pa.timestamp("us")


def test_shop_schemas_survive_a_parquet_round_trip(tmp_path) -> None:
    # What the writer produces must read back with the same schema (list naming, map, decimal, tz).
    for table in load_tables().values():
        schema = arrow_schema(table)
        path = tmp_path / f"{table.name}.parquet"
        pq.write_table(schema.empty_table(), path)
        assert pq.read_schema(path).remove_metadata().equals(schema), table.name
