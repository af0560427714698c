"""schemas.spark: the Spark schema generated from a declaration, compared with a hand-written one."""

from __future__ import annotations

from pyspark.sql import types as T

from schemas import load_tables, parse_table
from schemas.spark import spark_schema, spark_type
from schemas.types import parse_type

TINY = parse_table(
    {
        "name": "tiny",
        "version": 1,
        "event_type": "tiny",
        "key": ["id"],
        "event_time": "ts",
        "partitions": [{"name": "day", "from": "ts"}, {"name": "hour", "from": "ts", "transform": "hour"}],
        "columns": [
            {"name": "id", "type": "string", "nullable": False},
            {"name": "ts", "type": "timestamp", "nullable": False},
            {"name": "n", "type": "int"},
            {"name": "big", "type": "long", "nullable": False},
            {"name": "price", "type": "decimal(12,2)"},
            {"name": "x", "type": "double"},
            {"name": "ok", "type": "boolean"},
            {"name": "d", "type": "date"},
            {"name": "lines", "type": "array<struct<sku:string,qty:int>>", "nullable": False},
            {"name": "attrs", "type": "map<string,long>"},
        ],
    }
)

DECLARED = [
    T.StructField("id", T.StringType(), False),
    T.StructField("ts", T.TimestampType(), False),
    T.StructField("n", T.IntegerType(), True),
    T.StructField("big", T.LongType(), False),
    T.StructField("price", T.DecimalType(12, 2), True),
    T.StructField("x", T.DoubleType(), True),
    T.StructField("ok", T.BooleanType(), True),
    T.StructField("d", T.DateType(), True),
    T.StructField(
        "lines",
        T.ArrayType(
            T.StructType([T.StructField("sku", T.StringType(), True), T.StructField("qty", T.IntegerType(), True)]),
            containsNull=True,
        ),
        False,
    ),
    T.StructField("attrs", T.MapType(T.StringType(), T.LongType(), valueContainsNull=True), True),
]
LINEAGE = [
    T.StructField("_shard_id", T.StringType(), False),
    T.StructField("_sequence_number", T.StringType(), False),
    T.StructField("_sub_sequence_number", T.LongType(), False),
    T.StructField("_arrival_time", T.TimestampType(), True),
    T.StructField("_batch_id", T.LongType(), False),
]
PARTITIONS = [T.StructField("day", T.DateType(), False), T.StructField("hour", T.StringType(), False)]


def test_declared_columns_only_by_default() -> None:
    assert spark_schema(TINY) == T.StructType(DECLARED)


def test_lineage_then_partitions_appended_in_read_order() -> None:
    got = spark_schema(TINY, include_lineage=True, include_partitions=True)
    assert got == T.StructType(DECLARED + LINEAGE + PARTITIONS)


def test_partitions_without_lineage() -> None:
    assert spark_schema(TINY, include_partitions=True) == T.StructType(DECLARED + PARTITIONS)


def test_nullability_is_part_of_the_comparison() -> None:
    # Guards the tests above: StructType equality must see a nullability difference.
    flipped = [T.StructField("id", T.StringType(), True), *DECLARED[1:]]
    assert spark_schema(TINY) != T.StructType(flipped)


def test_spark_type_of_nested_map_in_struct() -> None:
    got = spark_type(parse_type("struct<a:map<string,array<decimal(5,1)>>>"))
    want = T.StructType(
        [T.StructField("a", T.MapType(T.StringType(), T.ArrayType(T.DecimalType(5, 1), True), True), True)]
    )
    assert got == want


def test_every_shop_table_has_its_declared_columns_in_order() -> None:
    for table in load_tables().values():
        schema = spark_schema(table, include_lineage=True)
        assert [f.name for f in schema.fields] == [c.name for c in table.storage_columns]
        assert [f.nullable for f in schema.fields] == [c.nullable for c in table.storage_columns]
