"""schemas.json_schema: hand-built events per shop table, accepted and rejected for the right reason."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from schemas import load_table, load_tables, parse_table
from schemas.json_schema import json_schema, validator

VALID: dict[str, list[dict[str, Any]]] = {
    "page_view": [
        {
            "event_id": "0b5c8a9e-1f2d-4c3b-9a8e-7d6c5b4a3f21",
            "event_type": "page_view",
            "event_time": "2026-11-23T17:04:05.123Z",
            "session_id": "S0123456789",
            "user_id": "U1234567",
            "page_url": "/products/P000123",
            "referrer": "https://example.com/",
            "device": "mobile",
            "country": "SE",
            "duration_ms": 4200,
        },
        {  # anonymous visitor: nullable columns absent or null, an offset instead of Z
            "event_id": "0b5c8a9e-1f2d-4c3b-9a8e-7d6c5b4a3f22",
            "event_type": "page_view",
            "event_time": "2026-11-23T18:04:05+01:00",
            "session_id": "S0123456789",
            "user_id": None,
            "page_url": "/",
            "device": "desktop",
        },
    ],
    "add_to_cart": [
        {
            "event_id": "5a1f0c3e-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
            "event_type": "add_to_cart",
            "event_time": "2026-11-23T17:05:00Z",
            "session_id": "SABCDEFGHIJ",
            "product_id": "P000123",
            "quantity": 2,
            "unit_price": 199.5,
            "currency": "SEK",
            "device": None,
        }
    ],
    "order_placed": [
        {
            "event_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
            "event_type": "order_placed",
            "event_time": "2026-11-23T17:10:00.5Z",
            "session_id": "SABCDEFGHIJ",
            "user_id": "U7654321",
            "order_id": "O000000042",
            "items": [
                {"product_id": "P000123", "quantity": 2, "unit_price": 199.5},
                {"product_id": "P000124", "quantity": 1, "unit_price": 12},
            ],
            "total_amount": 411,
            "currency": "EUR",
            "country": "DE",
            "shipping_method": "express",
            "coupon_code": None,
            "attributes": {"gift_wrap": "yes", "campaign": "black-friday"},
        }
    ],
    "payment": [
        {
            "event_id": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
            "event_type": "payment",
            "event_time": "2026-11-23T17:11:00Z",
            "order_id": "O000000042",
            "payment_id": "PAY000000042",
            "user_id": "U7654321",
            "amount": 411.0,
            "currency": "EUR",
            "payment_method": "card",
            "status": "captured",
            "card_last4": "4242",
            "is_retry": False,
        }
    ],
}


def _errors(table: str, event: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, failing keyword) of every error, so a test can say why an event was refused."""
    v = validator(load_table(table))
    return sorted(("/".join(map(str, e.absolute_path)), str(e.validator)) for e in v.iter_errors(event))


def test_every_shop_table_has_valid_examples() -> None:
    assert sorted(VALID) == sorted(load_tables())


@pytest.mark.parametrize("name", sorted(VALID))
def test_generated_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = json_schema(load_table(name))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["required"] == [c.name for c in load_table(name).columns if not c.nullable]


@pytest.mark.parametrize(("name", "i"), [(n, i) for n, events in VALID.items() for i in range(len(events))])
def test_hand_built_events_are_valid(name: str, i: int) -> None:
    assert _errors(name, VALID[name][i]) == []


def _with(name: str, **changes: Any) -> dict[str, Any]:
    event = dict(VALID[name][0])
    for key, value in changes.items():
        if value is _DROP:
            event.pop(key)
        else:
            event[key] = value
    return event


_DROP = object()


@pytest.mark.parametrize(
    ("name", "event", "want"),
    [
        ("add_to_cart", _with("add_to_cart", quantity="2"), [("quantity", "type")]),
        ("add_to_cart", _with("add_to_cart", quantity=2.0), [("quantity", "type")]),
        ("add_to_cart", _with("add_to_cart", quantity=True), [("quantity", "type")]),
        ("add_to_cart", _with("add_to_cart", unit_price="199.50"), [("unit_price", "type")]),
        ("add_to_cart", _with("add_to_cart", session_id=_DROP), [("", "required")]),
        ("add_to_cart", _with("add_to_cart", product_id=None), [("product_id", "type")]),
        ("add_to_cart", _with("add_to_cart", currency="GBP"), [("currency", "enum")]),
        ("add_to_cart", _with("add_to_cart", device="watch"), [("device", "enum")]),
        ("add_to_cart", _with("add_to_cart", product_id="X000123"), [("product_id", "pattern")]),
        ("add_to_cart", _with("add_to_cart", quantity=0), [("quantity", "minimum")]),
        ("add_to_cart", _with("add_to_cart", quantity=101), [("quantity", "maximum")]),
        ("add_to_cart", _with("add_to_cart", unit_price=100000.01), [("unit_price", "maximum")]),
        ("add_to_cart", _with("add_to_cart", event_type="page_view"), [("event_type", "const")]),
        ("add_to_cart", _with("add_to_cart", colour="red"), [("", "additionalProperties")]),
        (
            "add_to_cart",
            _with("add_to_cart", event_time="2026-11-23T17:05:00"),
            [("event_time", "format"), ("event_time", "pattern")],
        ),
        ("add_to_cart", _with("add_to_cart", event_time="2026-13-23T17:05:00Z"), [("event_time", "format")]),
        ("page_view", _with("page_view", duration_ms=-1), [("duration_ms", "minimum")]),
        (
            "page_view",
            _with("page_view", page_url="x" * 2049),
            [("page_url", "maxLength"), ("page_url", "pattern")],
        ),
        ("page_view", _with("page_view", event_type="unknown"), [("event_type", "const")]),
        ("order_placed", _with("order_placed", coupon_code="C" * 33), [("coupon_code", "maxLength")]),
        (
            "order_placed",
            _with("order_placed", items=[{"product_id": "P1", "qty": 1}]),
            [("items/0", "additionalProperties")],
        ),
        (
            "order_placed",
            _with("order_placed", items=[{"quantity": 2**31}]),
            [("items/0/quantity", "maximum")],
        ),
        (
            "order_placed",
            _with("order_placed", items=[{"unit_price": 1e10}]),
            [("items/0/unit_price", "exclusiveMaximum")],
        ),
        ("order_placed", _with("order_placed", attributes={"a": 1}), [("attributes/a", "type")]),
        ("payment", _with("payment", is_retry="false"), [("is_retry", "type")]),
        ("payment", _with("payment", amount=0), [("amount", "minimum")]),
        ("payment", _with("payment", card_last4="424"), [("card_last4", "pattern")]),
    ],
)
def test_rejections_name_the_broken_rule(name: str, event: dict[str, Any], want: list[tuple[str, str]]) -> None:
    assert _errors(name, event) == want


def test_clock_rules_are_notes_not_assertions() -> None:
    prop = json_schema(load_table("page_view"))["properties"]["event_time"]
    assert prop["x-streamlake-not-before"] == "2020-01-01"
    assert prop["x-streamlake-not-in-future-seconds"] == 300
    assert "stream" in prop["$comment"]
    # An event before not_before is still valid on the wire; the stream quarantines it.
    assert _errors("page_view", _with("page_view", event_time="2019-12-31T23:59:59Z")) == []


def test_integer_rules_become_integer_bounds() -> None:
    table = parse_table(
        {
            "name": "t",
            "version": 1,
            "event_type": "t",
            "key": ["id"],
            "event_time": "ts",
            "columns": [
                {"name": "id", "type": "long", "nullable": False, "rules": {"min": 0.5, "max": 9.5}},
                {"name": "ts", "type": "timestamp", "nullable": False},
                {"name": "d", "type": "date"},
                {"name": "m", "type": "map<int,string>"},
            ],
        }
    )
    schema = json_schema(table)
    assert schema["properties"]["id"] == {"type": "integer", "minimum": 1, "maximum": 9}
    assert schema["properties"]["d"]["format"] == "date"
    v = validator(table)
    assert v.is_valid({"id": 1, "ts": "2026-01-01T00:00:00Z", "d": "2026-01-31", "m": {"7": "x"}})
    assert not v.is_valid({"id": 1, "ts": "2026-01-01T00:00:00Z", "d": "2026-02-30"})
    assert not v.is_valid({"id": 1, "ts": "2026-01-01T00:00:00Z", "m": {"seven": "x"}})
