"""Generation: determinism, mix of kinds, partition keys, argument checks, generic values."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from random import Random

import pytest

from local.producer import generate_events, iter_events
from local.producer.values import column_factory, regex_sampler
from schemas.loader import parse_table
from streamlake.errors import ConfigError, SchemaError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _fingerprint(records: list) -> list[tuple]:
    return [(r.data, r.partition_key, r.kind, r.table, r.event_id, r.expected_reasons) for r in records]


def test_same_seed_same_bytes() -> None:
    a = generate_events(3000, seed=42, now=NOW, bad_fraction=0.1, duplicate_fraction=0.05)
    b = generate_events(3000, seed=42, now=NOW, bad_fraction=0.1, duplicate_fraction=0.05)
    assert _fingerprint(a) == _fingerprint(b)


def test_different_seed_or_clock_different_bytes() -> None:
    a = generate_events(500, seed=1, now=NOW)
    b = generate_events(500, seed=2, now=NOW)
    c = generate_events(500, seed=1, now=NOW + timedelta(hours=1))
    assert not {r.data for r in a} & {r.data for r in b}
    assert [r.data for r in a] != [r.data for r in c]


def test_lazy_and_eager_agree() -> None:
    eager = generate_events(1000, seed=9, now=NOW)
    lazy_iter = iter_events(1000, seed=9, now=NOW)
    assert len(lazy_iter) == 1000  # type: ignore[arg-type]  # sized, so a progress bar knows the total
    lazy = list(lazy_iter)
    assert _fingerprint(eager) == _fingerprint(lazy)


def test_fractions_over_10k_events() -> None:
    records = generate_events(10_000, seed=123, now=NOW, bad_fraction=0.02, duplicate_fraction=0.01)
    kinds = Counter(r.kind for r in records)
    bad = sum(n for k, n in kinds.items() if k not in ("valid", "duplicate"))
    # Binomial(10k, 0.02) has sd 14: 0.005 is more than 3 sd.
    assert abs(bad / 10_000 - 0.02) < 0.005, kinds
    assert abs(kinds["duplicate"] / 10_000 - 0.01) < 0.004, kinds
    # Bad kinds are spread: every default kind shows up.
    assert {
        "malformed_json",
        "truncated_json",
        "invalid_utf8",
        "type_mismatch",
        "missing_required",
        "unknown_event_type",
        "out_of_range",
        "bad_enum",
        "future_time",
        "past_time",
    } <= set(kinds)
    assert "corrupt_aggregate" not in kinds  # only when aggregation is on
    assert [r.index for r in records] == list(range(10_000))


def test_zero_fractions_give_only_valid_records() -> None:
    records = generate_events(2000, seed=5, now=NOW, bad_fraction=0.0, duplicate_fraction=0.0)
    assert {r.kind for r in records} == {"valid"}
    assert len({r.event_id for r in records}) == 2000


def test_event_ids_are_uuid4_and_unique() -> None:
    records = generate_events(5000, seed=8, now=NOW, duplicate_fraction=0.0)
    ids = [r.event_id for r in records if r.kind == "valid"]
    assert len(set(ids)) == len(ids)
    for eid in ids[:200]:
        assert uuid.UUID(eid).version == 4 and str(uuid.UUID(eid)) == eid


def test_all_four_tables_and_realistic_values() -> None:
    records = [r for r in generate_events(5000, seed=4, now=NOW) if r.kind == "valid"]
    tables = Counter(r.table for r in records)
    assert set(tables) == {"page_view", "add_to_cart", "order_placed", "payment"}
    assert tables["page_view"] > tables["add_to_cart"] > tables["payment"]
    events = [json.loads(r.data) for r in records]
    orders = [e for e in events if e["event_type"] == "order_placed"]
    for o in orders:
        total = sum(round(i["unit_price"] * 100) * i["quantity"] for i in o["items"])
        assert round(o["total_amount"] * 100) == total
    paid = {e["order_id"] for e in events if e["event_type"] == "payment"}
    placed = {o["order_id"] for o in orders}
    assert len(paid & placed) > 0.8 * len(paid)  # payments refer to orders placed earlier
    for e in events:
        assert e["event_time"].endswith("Z")
        if "currency" in e and "country" in e:
            assert (e["country"], e["currency"]) in {
                ("SE", "SEK"),
                ("NO", "NOK"),
                ("DK", "DKK"),
                ("FI", "EUR"),
                ("DE", "EUR"),
                ("NL", "EUR"),
                ("US", "USD"),
            }


def test_partition_key_is_the_shoppers_user_or_session_id() -> None:
    records = generate_events(5000, seed=6, now=NOW, bad_fraction=0.0)
    keys_per_session: dict[str, set[str]] = defaultdict(set)
    for r in records:
        assert re.fullmatch(r"U\d{7}|S[0-9A-Z]{10}", r.partition_key)
        event = json.loads(r.data)
        assert r.partition_key in (event.get("user_id"), event.get("session_id")) or "session_id" not in event
        if "session_id" in event and event.get("user_id") is None:  # anonymous: keyed by the session
            assert r.partition_key == event["session_id"]
        if "session_id" in event:
            keys_per_session[event["session_id"]].add(r.partition_key)
    # One key per session: a shopper's events stay on one shard, in order.
    assert all(len(keys) == 1 for keys in keys_per_session.values())


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"bad_fraction": 1.5}, "bad_fraction"),
        ({"duplicate_fraction": -0.1}, "duplicate_fraction"),
        ({"bad_fraction": 0.6, "duplicate_fraction": 0.6}, "bad_fraction + duplicate_fraction"),
        ({"now": datetime(2026, 1, 1)}, "now"),  # naive
        ({"now": datetime(2019, 1, 1, tzinfo=UTC)}, "now"),  # before the tables' not_before
        ({"oversized_bytes": 2_000_000}, "oversized_bytes"),
        ({"bad_kinds": {"nonsense": 1.0}}, "bad_kinds"),
    ],
)
def test_bad_arguments_name_the_key(kwargs: dict, key: str) -> None:
    args = {"seed": 1, "now": NOW, **kwargs}
    with pytest.raises(ConfigError) as info:
        iter_events(10, **args)  # checked at once, before the first record
    assert info.value.key == key


def test_unknown_stream_declaration() -> None:
    with pytest.raises(SchemaError, match="declared streams"):
        generate_events(1, seed=1, now=NOW, stream="nope")


# --- generic values from a column's type and rules -------------------------------------------

GENERIC = parse_table(
    {
        "name": "gadget",
        "version": 1,
        "event_type": "gadget",
        "key": ["code"],
        "event_time": "seen_at",
        "columns": [
            {
                "name": "code",
                "type": "string",
                "nullable": False,
                "rules": {"regex": r"^[A-F]{3}-\d{2,4}x?$"},
            },
            {"name": "level", "type": "int", "rules": {"min": -5, "max": 5}},
            {"name": "price", "type": "decimal(8,3)", "rules": {"min": 0.001, "max": 99.5}},
            {"name": "colour", "type": "string", "rules": {"enum": ["red", "blue"]}},
            {"name": "note", "type": "string", "rules": {"max_length": 4}},
            {"name": "seen_at", "type": "timestamp", "rules": {"not_before": "2020-01-01"}},
            {"name": "tags", "type": "array<string>"},
            {"name": "dims", "type": "map<string,double>"},
            {"name": "spec", "type": "struct<a:int,b:boolean>"},
        ],
    }
)


def test_generic_values_follow_type_and_rules() -> None:
    rng = Random(0)
    makers = {c.name: column_factory(c, now=NOW) for c in GENERIC.columns}
    for _ in range(500):
        v = {name: make(rng) for name, make in makers.items()}
        assert re.search(r"^[A-F]{3}-\d{2,4}x?$", v["code"])
        assert isinstance(v["level"], int) and -5 <= v["level"] <= 5
        assert 0.001 <= v["price"] <= 99.5 and round(v["price"], 3) == v["price"]
        assert v["colour"] in ("red", "blue")
        assert 1 <= len(v["note"]) <= 4
        ts = datetime.fromisoformat(v["seen_at"].replace("Z", "+00:00"))
        assert NOW - timedelta(hours=1) < ts <= NOW
        assert isinstance(v["tags"], list) and all(isinstance(t, str) for t in v["tags"])
        assert all(isinstance(k, str) and isinstance(x, float) for k, x in v["dims"].items())
        assert isinstance(v["spec"]["a"], int) and isinstance(v["spec"]["b"], bool)


@pytest.mark.parametrize("regex", ["^(a|b)$", "^.+$", "^[^a]$"])
def test_unsupported_regex_is_refused_with_the_column_named(regex: str) -> None:
    with pytest.raises(SchemaError, match="colx"):
        regex_sampler(regex, where="colx")
