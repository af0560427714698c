"""The pure path (decode -> parse -> rules -> dedup -> split) on tiny inline batches."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal

import pytest
from pyspark.testing import assertDataFrameEqual

from jobs.transforms.dedup import drop_retries, find_duplicates, new_keys
from jobs.transforms.pipeline import prepare
from jobs.transforms.split import QUARANTINE, destinations
from schemas import load_stream, load_table

ARRIVAL = dt.datetime(2026, 11, 23, 12, 0, 0)
SOURCE_DDL = (
    "stream string, shard_id string, sequence_number string, sub_sequence_number long, "
    "partition_key string, approximate_arrival_timestamp timestamp, data binary"
)


def _cart(**overrides: object) -> bytes:
    event = {
        "event_id": "00000000-0000-4000-8000-000000000001",
        "event_type": "add_to_cart",
        "event_time": "2026-11-23T11:59:00Z",
        "session_id": "S0123456789",
        "user_id": "U1234567",
        "product_id": "P000042",
        "quantity": 2,
        "unit_price": 19.9,
        "currency": "SEK",
        "device": "mobile",
        "country": "SE",
    }
    event.update(overrides)
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def _raw(spark, payloads: list[bytes]):  # type: ignore[no-untyped-def]
    rows = [("s", "shardId-000000000000", f"{i:05d}", 0, "k", ARRIVAL, p) for i, p in enumerate(payloads)]
    return spark.createDataFrame(rows, SOURCE_DDL)


@pytest.fixture(scope="module")
def shop():  # type: ignore[no-untyped-def]
    stream = load_stream("shop_events")
    return stream, [load_table(t) for t in stream.tables]


def _run(spark, shop, payloads, dedup=True):  # type: ignore[no-untyped-def]
    stream, tables = shop
    prepared = prepare(_raw(spark, payloads), tables=tables, stream=stream, max_record_bytes=4096)
    if dedup:
        prepared = drop_retries(prepared, tables=tables)
    return {d.name: d.frame for d in destinations(prepared, tables, batch_id=7)}


def test_valid_event_lands_typed_with_lineage_and_partition(spark, shop) -> None:  # type: ignore[no-untyped-def]
    out = _run(spark, shop, [_cart()])
    expected = spark.createDataFrame(
        [
            (
                "00000000-0000-4000-8000-000000000001",
                "add_to_cart",
                dt.datetime(2026, 11, 23, 11, 59),
                "S0123456789",
                "U1234567",
                "P000042",
                2,
                Decimal("19.90"),
                "SEK",
                "mobile",
                "SE",
                "shardId-000000000000",
                "00000",
                0,
                ARRIVAL,
                7,
                dt.date(2026, 11, 23),
            )
        ],
        out["add_to_cart"].schema,
    )
    assertDataFrameEqual(out["add_to_cart"], expected)
    assert out[QUARANTINE].count() == 0
    assert out["add_to_cart"].columns[-1] == "event_date"


BAD_CASES: list[tuple[bytes, list[str]]] = [
    (b'{"event_type": "add_to_cart", ', ["invalid_json"]),
    (b"[1, 2, 3]", ["invalid_json"]),
    (b"\xff\xfe\x00garbage", ["invalid_utf8"]),
    (bytes([0xF3, 0x89, 0x9A, 0xC2]) + b"\x00\x01", ["corrupt_aggregate"]),
    (_cart(event_type="refund"), ["unknown_event_type"]),
    (_cart(event_type=...), ["unknown_event_type"]),
    (_cart(quantity="two"), ["type_mismatch:quantity"]),
    (_cart(quantity=0), ["rule:quantity:min"]),
    (_cart(currency="BTC"), ["rule:currency:enum"]),
    (_cart(product_id="X1"), ["rule:product_id:regex"]),
    (_cart(product_id=...), ["missing_required:product_id"]),
    (_cart(event_time="2026-12-30T00:00:00Z"), ["rule:event_time:not_in_future"]),
    (_cart(event_time="2001-01-01T00:00:00Z"), ["rule:event_time:not_before"]),
    (_cart(country="Sweden", quantity=1000), ["rule:quantity:max", "rule:country:regex"]),
    (_cart(device="x" * 5000), ["oversized", "rule:device:enum"]),
]


def test_bad_records_are_quarantined_with_their_reasons(spark, shop) -> None:  # type: ignore[no-untyped-def]
    # One batch holding every case (one Spark plan); each case is identified by its position.
    payloads = [p for p, _ in BAD_CASES]
    out = _run(spark, shop, payloads, dedup=False)
    got = {r["_sequence_number"]: r for r in out[QUARANTINE].collect()}
    assert sorted(got) == [f"{i:05d}" for i in range(len(BAD_CASES))]
    for i, (payload, reasons) in enumerate(BAD_CASES):
        row = got[f"{i:05d}"]
        assert sorted(row["reasons"]) == sorted(reasons), f"case {i}: {payload[:60]!r}"
        assert bytes(row["data"]) == payload  # the original bytes, untouched
    assert sum(out[t].count() for t in out if t != QUARANTINE) == 0


def test_unrouted_rows_are_filed_under_unrouted(spark, shop) -> None:  # type: ignore[no-untyped-def]
    out = _run(spark, shop, [b"not json", _cart(quantity=0)])
    tables = sorted(r["table"] for r in out[QUARANTINE].select("table").collect())
    assert tables == ["_unrouted", "add_to_cart"]


def test_producer_retries_are_dropped_but_distinct_bad_rows_are_kept(spark, shop) -> None:  # type: ignore[no-untyped-def]
    dup = _cart()
    out = _run(spark, shop, [dup, dup, dup, b"bad", b"bad"])
    assert out["add_to_cart"].count() == 1
    assert out[QUARANTINE].count() == 2  # bad rows are keyed by position, never merged


def test_without_dedup_every_copy_is_kept(spark, shop) -> None:  # type: ignore[no-untyped-def]
    out = _run(spark, shop, [_cart(), _cart()], dedup=False)
    assert out["add_to_cart"].count() == 2


def test_nested_columns_parse(spark, shop) -> None:  # type: ignore[no-untyped-def]
    order = {
        "event_id": "00000000-0000-4000-8000-000000000009",
        "event_type": "order_placed",
        "event_time": "2026-11-23T11:00:00Z",
        "session_id": "S0123456789",
        "user_id": "U1234567",
        "order_id": "O000000001",
        "items": [{"product_id": "P000001", "quantity": 1, "unit_price": 5.5}],
        "total_amount": 5.5,
        "currency": "EUR",
        "country": "DE",
        "attributes": {"gift": "yes"},
    }
    out = _run(
        spark,
        shop,
        [
            json.dumps(order).encode(),
            json.dumps({**order, "items": "nope", "event_id": "00000000-0000-4000-8000-000000000010"}).encode(),
        ],
    )
    row = out["order_placed"].collect()[0]
    assert row["items"][0]["unit_price"] == Decimal("5.50")
    assert row["attributes"] == {"gift": "yes"}
    assert [r["reasons"] for r in out[QUARANTINE].collect()] == [["type_mismatch:items"]]


def test_a_corrected_resend_of_a_quarantined_record_is_stored(spark, shop) -> None:  # type: ignore[no-untyped-def]
    bad, fixed = _cart(quantity=0), _cart(quantity=3)  # same event_id: the producer fixed and re-sent it
    out = _run(spark, shop, [bad, fixed])
    assert [r["quantity"] for r in out["add_to_cart"].collect()] == [3]
    assert [r["reasons"] for r in out[QUARANTINE].collect()] == [["rule:quantity:min"]]


def test_dedup_uses_each_tables_declared_key(spark, shop) -> None:  # type: ignore[no-untyped-def]
    stream, tables = shop
    by_line = [replace(t, key=("session_id", "product_id")) if t.name == "add_to_cart" else t for t in tables]
    payloads = [
        _cart(event_id="00000000-0000-4000-8000-0000000000a1"),
        _cart(event_id="00000000-0000-4000-8000-0000000000a2"),  # same session and product: a retry
        _cart(event_id="00000000-0000-4000-8000-0000000000a1", product_id="P000043"),  # another line
    ]
    prepared = drop_retries(
        prepare(_raw(spark, payloads), tables=by_line, stream=stream, max_record_bytes=4096), tables=by_line
    )
    out = {d.name: d.frame for d in destinations(prepared, by_line, batch_id=7)}
    got = sorted((r["product_id"], r["_sequence_number"]) for r in out["add_to_cart"].collect())
    assert got == [("P000042", "00000"), ("P000043", "00002")]


def test_a_key_the_lake_already_holds_is_a_duplicate_and_only_the_first_copy_is_kept(spark, shop) -> None:  # type: ignore[no-untyped-def]
    stream, tables = shop
    held, fresh = _uuid(1), _uuid(2)
    payloads = [_cart(event_id=held), _cart(event_id=fresh), _cart(event_id=fresh), _cart(event_id=held, quantity=0)]
    prepared = prepare(_raw(spark, payloads), tables=tables, stream=stream, max_record_bytes=4096)
    seen = spark.createDataFrame([(f'add_to_cart|{{"event_id":"{held}"}}',)], "_dedup_key string")
    marked = find_duplicates(prepared, tables=tables, seen=seen)
    got = sorted((r["sequence_number"], r["_duplicate"]) for r in marked.collect())
    # held: a duplicate of the lake; fresh: first copy kept, second dropped; the bad copy is never one.
    assert got == [("00000", True), ("00001", False), ("00002", True), ("00003", False)]
    assert sorted(r["key"] for r in new_keys(marked).collect()) == [f'add_to_cart|{{"event_id":"{fresh}"}}']


def _uuid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"
