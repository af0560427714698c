"""Every generated record gets exactly the verdict its manifest predicts, judged independently.

The judge below reads the YAML declarations itself (no schemas.loader, no producer code) and
applies the quarantine vocabulary literally: bytes, then UTF-8, then JSON object, then route, then
per column presence, type and rules.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.producer import BAD_KINDS, BadKind, generate_events

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MAX_RECORD_BYTES = 512 * 1024  # the job's default; the producer pads oversized records past 600 kB
KPL_MAGIC = bytes.fromhex("f3899ac2")
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def _load_yaml() -> tuple[str, dict[str, dict[str, Any]]]:
    stream = yaml.safe_load((ROOT / "schemas/streams/shop_events.yaml").read_text())
    tables = {}
    for name in stream["tables"]:
        tables[name] = yaml.safe_load((ROOT / f"schemas/tables/{name}.yaml").read_text())
    return stream["route_field"], tables


ROUTE_FIELD, TABLES = _load_yaml()
BY_EVENT_TYPE = {t["event_type"]: t for t in TABLES.values()}


# --- an independent type checker for the type strings the YAML uses --------------------------


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "<("
        depth -= ch in ">)"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def type_ok(value: Any, type_text: str) -> bool:
    t = type_text.strip()
    if t == "string":
        return isinstance(value, str)
    if t in ("int", "long"):
        bits = 31 if t == "int" else 63
        return isinstance(value, int) and not isinstance(value, bool) and -(2**bits) <= value < 2**bits
    if t == "double":
        return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "timestamp":
        if not isinstance(value, str) or not RFC3339_Z.match(value):
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    m = re.fullmatch(r"decimal\((\d+),(\d+)\)", t)
    if m:
        precision, scale = int(m.group(1)), int(m.group(2))
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            return False
        d = Decimal(value)
        places = max(0, -d.as_tuple().exponent)  # type: ignore[operator]
        return places <= scale and abs(d) < Decimal(10) ** (precision - scale)
    if t.startswith("array<"):
        return isinstance(value, list) and all(type_ok(v, t[6:-1]) for v in value)
    if t.startswith("map<"):
        key_t, value_t = _split_top(t[4:-1])
        return isinstance(value, dict) and all(type_ok(k, key_t) and type_ok(v, value_t) for k, v in value.items())
    if t.startswith("struct<"):
        if not isinstance(value, dict):
            return False
        fields = dict(f.split(":", 1) for f in _split_top(t[7:-1]))
        return set(value) <= set(fields) and all(v is None or type_ok(v, fields[k]) for k, v in value.items())
    raise AssertionError(f"test judge does not know type {t}")


def _seconds(duration: Any) -> float:
    if isinstance(duration, int | float):
        return float(duration)
    number, unit = re.fullmatch(r"(\d+)([smhd]?)", str(duration)).groups()  # type: ignore[union-attr]
    return float(number) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def rule_failures(name: str, value: Any, rules: dict[str, Any], now: datetime) -> list[str]:
    out = []
    if "enum" in rules and value not in rules["enum"]:
        out.append(f"rule:{name}:enum")
    if "min" in rules and value < Decimal(str(rules["min"])):
        out.append(f"rule:{name}:min")
    if "max" in rules and value > Decimal(str(rules["max"])):
        out.append(f"rule:{name}:max")
    if "regex" in rules and not re.search(rules["regex"], value):
        out.append(f"rule:{name}:regex")
    if "max_length" in rules and len(value) > rules["max_length"]:
        out.append(f"rule:{name}:max_length")
    if "not_in_future" in rules or "not_before" in rules:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if "not_in_future" in rules and ts > now + timedelta(seconds=_seconds(rules["not_in_future"])):
            out.append(f"rule:{name}:not_in_future")
        if "not_before" in rules and ts < datetime.fromisoformat(str(rules["not_before"])).replace(tzinfo=UTC):
            out.append(f"rule:{name}:not_before")
    return out


def judge(data: bytes, *, now: datetime = NOW) -> list[str]:
    """The reasons a record should be quarantined for; [] for a valid record."""
    reasons: list[str] = []
    if len(data) > MAX_RECORD_BYTES:
        reasons.append("oversized")
    if data[:4] == KPL_MAGIC:
        return [*reasons, "corrupt_aggregate"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [*reasons, "invalid_utf8"]
    try:
        event = json.loads(text, parse_float=Decimal)
    except ValueError:
        return [*reasons, "invalid_json"]
    if not isinstance(event, dict):
        return [*reasons, "invalid_json"]
    table = BY_EVENT_TYPE.get(event.get(ROUTE_FIELD))
    if table is None:
        return [*reasons, "unknown_event_type"]
    declared = {c["name"] for c in table["columns"]}
    assert set(event) <= declared, f"undeclared fields {set(event) - declared}"
    for col in table["columns"]:
        name, value = col["name"], event.get(col["name"])
        if value is None:
            if not col.get("nullable", True):
                reasons.append(f"missing_required:{name}")
            continue
        if not type_ok(value, col["type"]):
            reasons.append(f"type_mismatch:{name}")
            continue
        reasons.extend(rule_failures(name, value, col.get("rules") or {}, now))
    return reasons


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed() -> list:
    return generate_events(10_000, seed=11, now=NOW, bad_fraction=0.2, duplicate_fraction=0.05, aggregated=True)


def test_every_valid_event_passes_every_declared_rule(mixed: list) -> None:
    valid = [r for r in mixed if r.kind == "valid"]
    assert len(valid) > 7000
    for r in valid:
        assert judge(r.data) == [], r.data
        event = json.loads(r.data)
        assert event[ROUTE_FIELD] == TABLES[r.table]["event_type"]
        assert event["event_id"] == r.event_id
        # Near 'now' in UTC, never after it.
        ts = datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))
        assert NOW - timedelta(minutes=16) <= ts <= NOW


def test_every_record_gets_exactly_its_predicted_reasons(mixed: list) -> None:
    kinds = {r.kind for r in mixed}
    assert kinds == {"valid", "duplicate", *BAD_KINDS}, "every kind should occur in 10k records at 20% bad"
    for r in mixed:
        assert sorted(judge(r.data)) == sorted(r.expected_reasons), (r.kind, r.data[:400])
        assert (r.kind in ("valid", "duplicate")) == (not r.expected_reasons)


def test_each_bad_record_has_exactly_one_defect(mixed: list) -> None:
    for r in mixed:
        if r.kind not in ("valid", "duplicate"):
            assert len(r.expected_reasons) == 1


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_each_kind_alone(kind: BadKind) -> None:
    records = generate_events(60, seed=3, now=NOW, bad_fraction=1.0, duplicate_fraction=0.0, bad_kinds={kind: 1})
    assert {r.kind for r in records} == {kind}
    for r in records:
        assert sorted(judge(r.data)) == sorted(r.expected_reasons), r.data[:300]
        assert len(r.data) + len(r.partition_key.encode()) <= 1024 * 1024
        if kind == "invalid_utf8":
            with pytest.raises(UnicodeDecodeError):
                r.data.decode("utf-8")
            assert r.expected_reasons == ("invalid_utf8",)
        elif kind in ("malformed_json", "truncated_json"):
            with pytest.raises(ValueError):
                json.loads(r.data)
            assert r.expected_reasons == ("invalid_json",)
        elif kind == "oversized":
            assert 600_000 < len(r.data) < 1024 * 1024 - 256
            assert judge(r.data[:1] + r.data[1:].lstrip()) == []  # only the size is wrong
            assert r.expected_reasons == ("oversized",)
        elif kind == "corrupt_aggregate":
            body, trailer = r.data[4:-16], r.data[-16:]
            assert r.data[:4] == KPL_MAGIC and hashlib.md5(body).digest() != trailer
            assert (r.table, r.event_id) == (None, None)
        elif kind == "type_mismatch":
            (reason,) = r.expected_reasons
            value = json.loads(r.data)[reason.split(":")[1]]
            assert isinstance(value, str) and not value.isdigit()
        elif kind == "missing_required":
            column = r.expected_reasons[0].split(":")[1]
            assert json.loads(r.data).get(column) is None


def test_unparseable_kinds_have_no_table_or_id() -> None:
    for kind in ("malformed_json", "truncated_json", "invalid_utf8"):
        for r in generate_events(20, seed=5, now=NOW, bad_fraction=1.0, duplicate_fraction=0.0, bad_kinds={kind: 1}):
            assert (r.table, r.event_id) == (None, None)


def test_duplicates_repeat_an_earlier_valid_record_byte_for_byte(mixed: list) -> None:
    earlier: dict[bytes, Any] = {}
    dups = 0
    for r in mixed:
        if r.kind == "duplicate":
            dups += 1
            orig = earlier[r.data]
            assert orig.kind == "valid" and orig.index < r.index
            assert (r.event_id, r.partition_key, r.table) == (orig.event_id, orig.partition_key, orig.table)
        elif r.kind == "valid":
            earlier[r.data] = r
    assert dups > 300
