"""schemas.ddl: Athena and Redshift DDL, parsed back with sqlglot and compared column by column."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from schemas import load_table, load_tables, parse_table
from schemas.ddl import (
    athena_create_table,
    projection_properties,
    redshift_create_table,
    redshift_external_schema,
    varchar_bytes,
)
from schemas.glue import schema_hash
from schemas.model import Column, Rules
from schemas.types import parse_type
from streamlake.errors import ConfigError, SchemaError

# Declared columns of each shop table as Athena (Hive) and Redshift see them:
# (name, Athena type, Redshift type, NOT NULL).
DECLARED: dict[str, list[tuple[str, str, str, bool]]] = {
    "page_view": [
        ("event_id", "STRING", "VARCHAR(144)", True),
        ("event_type", "STRING", "VARCHAR(65535)", True),
        ("event_time", "TIMESTAMP", "TIMESTAMP", True),
        ("session_id", "STRING", "VARCHAR(52)", True),
        ("user_id", "STRING", "VARCHAR(40)", False),
        ("page_url", "STRING", "VARCHAR(8192)", True),
        ("referrer", "STRING", "VARCHAR(8192)", False),
        ("device", "STRING", "VARCHAR(7)", True),
        ("country", "STRING", "VARCHAR(16)", False),
        ("duration_ms", "BIGINT", "BIGINT", False),
    ],
    "add_to_cart": [
        ("event_id", "STRING", "VARCHAR(144)", True),
        ("event_type", "STRING", "VARCHAR(65535)", True),
        ("event_time", "TIMESTAMP", "TIMESTAMP", True),
        ("session_id", "STRING", "VARCHAR(52)", True),
        ("user_id", "STRING", "VARCHAR(40)", False),
        ("product_id", "STRING", "VARCHAR(36)", True),
        ("quantity", "INT", "INTEGER", True),
        ("unit_price", "DECIMAL(12, 2)", "DECIMAL(12, 2)", True),
        ("currency", "STRING", "VARCHAR(3)", True),
        ("device", "STRING", "VARCHAR(7)", False),
        ("country", "STRING", "VARCHAR(16)", False),
    ],
    "order_placed": [
        ("event_id", "STRING", "VARCHAR(144)", True),
        ("event_type", "STRING", "VARCHAR(65535)", True),
        ("event_time", "TIMESTAMP", "TIMESTAMP", True),
        ("session_id", "STRING", "VARCHAR(52)", True),
        ("user_id", "STRING", "VARCHAR(40)", True),
        ("order_id", "STRING", "VARCHAR(48)", True),
        (
            "items",
            "ARRAY<STRUCT<`product_id`: STRING, `quantity`: INT, `unit_price`: DECIMAL(12, 2)>>",
            "SUPER",
            True,
        ),
        ("total_amount", "DECIMAL(14, 2)", "DECIMAL(14, 2)", True),
        ("currency", "STRING", "VARCHAR(3)", True),
        ("country", "STRING", "VARCHAR(16)", True),
        ("shipping_method", "STRING", "VARCHAR(8)", False),
        ("coupon_code", "STRING", "VARCHAR(128)", False),
        ("attributes", "MAP<STRING, STRING>", "SUPER", False),
    ],
    "payment": [
        ("event_id", "STRING", "VARCHAR(144)", True),
        ("event_type", "STRING", "VARCHAR(65535)", True),
        ("event_time", "TIMESTAMP", "TIMESTAMP", True),
        ("order_id", "STRING", "VARCHAR(48)", True),
        ("payment_id", "STRING", "VARCHAR(56)", True),
        ("user_id", "STRING", "VARCHAR(40)", True),
        ("amount", "DECIMAL(14, 2)", "DECIMAL(14, 2)", True),
        ("currency", "STRING", "VARCHAR(3)", True),
        ("payment_method", "STRING", "VARCHAR(7)", True),
        ("status", "STRING", "VARCHAR(10)", True),
        ("card_last4", "STRING", "VARCHAR(24)", False),
        ("is_retry", "BOOLEAN", "BOOLEAN", False),
    ],
}
LINEAGE = [
    ("_shard_id", "STRING", "VARCHAR(65535)", True),
    ("_sequence_number", "STRING", "VARCHAR(65535)", True),
    ("_sub_sequence_number", "BIGINT", "BIGINT", True),
    ("_arrival_time", "TIMESTAMP", "TIMESTAMP", False),
    ("_batch_id", "BIGINT", "BIGINT", True),
]


def _columns(schema: exp.Expression, dialect: str) -> list[tuple[str, str, bool]]:
    return [
        (
            c.name,
            c.args["kind"].sql(dialect),
            any(isinstance(k.kind, exp.NotNullColumnConstraint) for k in c.constraints),
        )
        for c in schema.expressions
    ]


def _properties(create: exp.Expression) -> dict[str, str]:
    return {p.this.name: p.args["value"].name for p in create.args["properties"].expressions if type(p) is exp.Property}


def test_shop_tables_are_all_covered() -> None:
    assert sorted(DECLARED) == sorted(load_tables())


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_athena_ddl_parses_with_the_declared_columns(name: str) -> None:
    table = load_table(name)
    sql = athena_create_table(table, database="shop", location=f"s3://lake/{name}")
    create = sqlglot.parse_one(sql, read="athena")
    assert isinstance(create, exp.Create) and create.args["exists"]
    assert create.this.this.sql("hive") == f"`shop`.`{name}`"
    assert create.find(exp.ExternalProperty) is not None
    assert [(n, t) for n, t, _ in _columns(create.this, "hive")] == [(n, a) for n, a, _, _ in DECLARED[name] + LINEAGE]
    partitioned = create.find(exp.PartitionedByProperty)
    assert [(n, t) for n, t, _ in _columns(partitioned.this, "hive")] == [("event_date", "DATE")]
    assert create.find(exp.FileFormatProperty).this.name == "PARQUET"
    assert create.find(exp.LocationProperty).this.name == f"s3://lake/{name}/"
    assert _properties(create) == {
        "classification": "parquet",
        "streamlake.schema_hash": schema_hash(table),
        "streamlake.schema_version": "1",
    }


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_redshift_ddl_parses_with_the_declared_columns(name: str) -> None:
    sql = redshift_create_table(load_table(name), schema="analytics")
    create = sqlglot.parse_one(sql, read="redshift")
    assert isinstance(create, exp.Create) and create.args["exists"]
    assert create.this.this.sql("redshift") == f'"analytics"."{name}"'
    want = [(n, r, nn) for n, _, r, nn in DECLARED[name] + LINEAGE] + [("event_date", "DATE", True)]
    assert _columns(create.this, "redshift") == want
    props = [p.sql("redshift") for p in create.args["properties"].expressions]
    assert props == ["DISTSTYLE KEY", 'DISTKEY("event_id")', 'SORTKEY("event_time")']


def test_athena_projection_properties() -> None:
    sql = athena_create_table(load_table("page_view"), database="shop", location="s3://lake/pv/", projection=True)
    props = _properties(sqlglot.parse_one(sql, read="athena"))
    assert {k: v for k, v in props.items() if not k.startswith(("classification", "streamlake."))} == {
        "projection.enabled": "true",
        "projection.event_date.type": "date",
        "projection.event_date.format": "yyyy-MM-dd",
        "projection.event_date.range": "2020-01-01,NOW+1DAYS",
        "projection.event_date.interval": "1",
        "projection.event_date.interval.unit": "DAYS",
        "storage.location.template": "s3://lake/pv/event_date=${event_date}/",
    }


RAW: dict[str, Any] = {
    "name": "odd",
    "description": "It's odd.",
    "version": 1,
    "event_type": "odd",
    "key": ["order", "user"],
    "event_time": "ts",
    "partitions": [{"name": "hour", "from": "ts", "transform": "hour"}],
    "columns": [
        {
            "name": "order",
            "type": "string",
            "nullable": False,
            "description": "A reserved word; it's quoted.",
        },
        {"name": "user", "type": "struct<select:int,from:string>", "nullable": False},
        {"name": "ts", "type": "timestamp", "nullable": False},
    ],
}


def test_reserved_words_and_quotes_survive_both_dialects() -> None:
    table = parse_table(RAW)
    athena = sqlglot.parse_one(
        athena_create_table(
            table, database="db", location="s3://l/odd/", projection=True, projection_start="2024-05-01"
        ),
        read="athena",
    )
    assert _columns(athena.this, "hive")[:2] == [
        ("order", "STRING", False),
        ("user", "STRUCT<`select`: INT, `from`: STRING>", False),
    ]
    comment = athena.this.expressions[0].find(exp.CommentColumnConstraint)
    assert comment.this.name == "A reserved word; it's quoted."
    assert athena.find(exp.SchemaCommentProperty).this.name == "It's odd."
    assert _properties(athena)["projection.hour.format"] == "yyyy-MM-dd-HH"
    assert _properties(athena)["projection.hour.range"] == "2024-05-01-00,NOW+1HOURS"
    redshift = sqlglot.parse_one(redshift_create_table(table, schema="s"), read="redshift")
    assert _columns(redshift.this, "redshift")[:2] == [
        ("order", "VARCHAR(65535)", True),
        ("user", "SUPER", True),
    ]
    assert _columns(redshift.this, "redshift")[-1] == ("hour", "VARCHAR(13)", True)
    # A composite key cannot be one DISTKEY.
    assert [p.sql("redshift") for p in redshift.args["properties"].expressions] == [
        "DISTSTYLE AUTO",
        'SORTKEY("ts")',
    ]


def test_projection_needs_a_first_date() -> None:
    with pytest.raises(SchemaError, match="not_before"):
        projection_properties(parse_table(RAW), location="s3://l/odd/")


def test_projection_refuses_identity_partitions() -> None:
    raw = {**RAW, "partitions": [{"name": "kind", "from": "order", "transform": "identity"}]}
    with pytest.raises(SchemaError, match="identity"):
        projection_properties(parse_table(raw), location="s3://l/odd/", start="2024-01-01")


def test_identity_partition_keeps_the_source_width_in_redshift() -> None:
    raw = {**RAW, "partitions": [{"name": "kind", "from": "order", "transform": "identity"}]}
    raw["columns"] = [{**RAW["columns"][0], "rules": {"enum": ["a", "bcd"]}}, *RAW["columns"][1:]]
    create = sqlglot.parse_one(redshift_create_table(parse_table(raw), schema="s"), read="redshift")
    assert _columns(create.this, "redshift")[-1] == ("kind", "VARCHAR(3)", True)


@pytest.mark.parametrize(
    ("rules", "width"),
    [
        (Rules(), 65535),
        (Rules(enum=("SEK", "EUR")), 3),
        (Rules(enum=("kr", "€uro")), 6),  # bytes, not characters
        (Rules(max_length=10), 40),
        (Rules(max_length=100_000), 65535),
        (Rules(regex="^[A-Z]{2}$"), 16),
        (Rules(regex="^[A-Z]{2}"), 65535),  # unanchored at the end: unbounded
        (Rules(regex="^a+$"), 65535),
        (Rules(regex="^(?P<x>[a-f]{4})$", max_length=2), 8),  # the tightest bound wins
    ],
)
def test_varchar_bytes(rules: Rules, width: int) -> None:
    assert varchar_bytes(Column("c", parse_type("string"), rules=rules)) == width


def test_redshift_external_schema() -> None:
    sql = redshift_external_schema(
        schema="lake",
        database="streamlake",
        iam_role="arn:aws:iam::123456789012:role/spectrum",
        region="eu-north-1",
        create_database=True,
    )
    assert sql == (
        'CREATE EXTERNAL SCHEMA IF NOT EXISTS "lake"\n'
        "FROM DATA CATALOG DATABASE 'streamlake'\n"
        "REGION 'eu-north-1'\n"
        "IAM_ROLE 'arn:aws:iam::123456789012:role/spectrum'\n"
        "CREATE EXTERNAL DATABASE IF NOT EXISTS"
    )
    assert redshift_external_schema(schema="lake", database="db").endswith("IAM_ROLE default")


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda: redshift_create_table(load_table("payment"), schema='x"; drop table y; --'), "schema"),
        (lambda: athena_create_table(load_table("payment"), database="a.b", location="s3://l/"), "database"),
        (lambda: athena_create_table(load_table("payment"), database="a", location="s3://l/'x"), "location"),
        (lambda: redshift_external_schema(schema="s", database="d", iam_role="x' or 1=1"), "iam_role"),
        (lambda: redshift_external_schema(schema="s", database="d", region="moon'"), "region"),
    ],
)
def test_caller_values_are_checked_before_reaching_sql(call: Any, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        call()
