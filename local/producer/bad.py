"""Bad events: each kind takes a valid event and gives it exactly one defect.

One defect per record means the quarantine reasons are known exactly (strings from
:mod:`quality.reasons`), which is what makes the manifest an oracle. The defects are chosen so that
every reasonable reader agrees on the verdict: type mismatches use words where numbers or booleans
belong (a JSON string ``"12"`` or ``"yes"`` would be cast successfully by Spark), malformed JSON is
rejected by Python's json and by Jackson alike, and oversized records are padded with JSON
whitespace so that size is their only fault.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from random import Random
from typing import Any

from jobs.kinesis import kpl
from local.producer.record import BadKind
from local.producer.values import encode_json, format_ms
from quality import reasons
from schemas.model import Column, Stream, Table
from streamlake.errors import ConfigError

log = logging.getLogger(__name__)

# Kinesis caps a record (data + partition key, at most 256 bytes) at 1 MiB.
KINESIS_MAX_RECORD = 1024 * 1024
_MAX_PARTITION_KEY = 256
_OVERSIZE_SPREAD = 4096

_DAY_MS = 86_400_000
# Far enough ahead that a manifest made with a pinned `now` stays right for a year of test runs
# (the job judges not_in_future against the arrival time, i.e. the real clock).
_FUTURE_DAYS = (365, 3650)
_PAST_DAYS = (365, 20 * 365)

_TYPE_MISMATCH_WORDS = ("two", "lots", "unknown", "sometimes", "none", "many")
_UNKNOWN_EVENT_TYPES = ("refund_requested", "wishlist_add", "coupon_viewed", "chat_opened")
_BAD_ENUM = {
    "currency": ("GBP", "BTC", "XXX"),
    "device": ("smartwatch", "tv", "console"),
    "payment_method": ("bitcoin", "cash", "giftcard"),
    "status": ("pending", "chargeback"),
    "shipping_method": ("drone", "teleport"),
}
_INVALID_UTF8 = (b"\xff", b"\xfe\xfe", b"\x80", b"\xc3\x28", b"\xf0\x28\x8c\x28", b"\xe2\x82")
# Kinds that break the bytes before any table is known: no table, no event id.
_UNPARSEABLE: frozenset[BadKind] = frozenset({"malformed_json", "truncated_json", "invalid_utf8", "corrupt_aggregate"})


@dataclass(frozen=True, slots=True)
class Defect:
    """A bad record's bytes and what the pipeline will say about it."""

    data: bytes
    table: str | None
    event_id: str | None
    reasons: tuple[str, ...]


class DefectMaker:
    """Applies one defect of a given kind to a valid event of a given table."""

    def __init__(self, tables: Mapping[str, Table], stream: Stream, *, oversized_bytes: int, now: datetime) -> None:
        limit = KINESIS_MAX_RECORD - _MAX_PARTITION_KEY - _OVERSIZE_SPREAD
        if not 1024 <= oversized_bytes <= limit:
            raise ConfigError("oversized_bytes", oversized_bytes, f"an integer within [1024, {limit}]")
        self.tables = tables
        self.route_field = stream.route_field
        self.oversized_bytes = oversized_bytes
        self.now_ms = int(now.timestamp() * 1000)
        known = {tables[t].event_type for t in stream.tables}
        self._unknown_types = tuple(t for t in _UNKNOWN_EVENT_TYPES if t not in known)
        # Columns each kind may damage, per table; computed once because this runs per bad event.
        self._columns: dict[tuple[str, str], tuple[Column, ...]] = {}
        for name in stream.tables:
            t = tables[name]
            self._columns[(name, "type_mismatch")] = tuple(
                c for c in t.columns if c.type.kind not in ("string", "timestamp", "date")
            )
            self._columns[(name, "missing_required")] = tuple(
                c for c in t.columns if not c.nullable and c.name != self.route_field
            )
            self._columns[(name, "out_of_range")] = tuple(
                c
                for c in t.columns
                if (c.rules.min is not None or c.rules.max is not None)
                and c.type.kind in ("int", "long", "double", "decimal")
            )
            self._columns[(name, "bad_enum")] = tuple(
                c for c in t.columns if c.rules.enum is not None and c.type.kind == "string"
            )
            ev = t.column(t.event_time)
            self._columns[(name, "future_time")] = (ev,) if ev.rules.not_in_future is not None else ()
            self._columns[(name, "past_time")] = (ev,) if ev.rules.not_before is not None else ()

    def applies_to(self, kind: BadKind, table: str) -> bool:
        """Whether ``table`` has something this kind can damage."""
        cols = self._columns.get((table, kind))
        return True if cols is None else bool(cols)

    def make(self, kind: BadKind, rng: Random, table: Table, event: dict[str, Any], partition_key: str) -> Defect:
        event_id = event.get("event_id")
        data = encode_json(event)
        if kind in _UNPARSEABLE:
            return Defect(_BYTES_DEFECTS[kind](self, rng, data, partition_key), None, None, _REASON[kind])
        if kind == "oversized":
            return Defect(self._oversized(rng, data), table.name, event_id, (reasons.OVERSIZED,))
        if kind == "unknown_event_type":
            bad = dict(event)
            if rng.random() < 0.25:
                del bad[self.route_field]  # a missing route field is just as unroutable
            else:
                bad[self.route_field] = rng.choice(self._unknown_types)
            return Defect(encode_json(bad), None, event_id, (reasons.UNKNOWN_EVENT_TYPE,))
        col = rng.choice(self._columns[(table.name, kind)])
        bad = dict(event)
        reason = _COLUMN_DEFECTS[kind](self, rng, col, bad)
        eid = bad.get("event_id")
        return Defect(encode_json(bad), table.name, eid if isinstance(eid, str) else None, (reason,))

    # --- column defects: mutate the copy, return the reason --------------------------------

    def _type_mismatch(self, rng: Random, col: Column, event: dict[str, Any]) -> str:
        event[col.name] = rng.choice(_TYPE_MISMATCH_WORDS)
        return reasons.type_mismatch(col.name)

    def _missing_required(self, rng: Random, col: Column, event: dict[str, Any]) -> str:
        if rng.random() < 0.3:
            event[col.name] = None  # null counts as missing, same as an absent key
        else:
            event.pop(col.name, None)
        return reasons.missing_required(col.name)

    def _out_of_range(self, rng: Random, col: Column, event: dict[str, Any]) -> str:
        r = col.rules
        side = rng.choice([s for s, v in (("min", r.min), ("max", r.max)) if v is not None])
        scale = (col.type.scale or 0) if col.type.kind == "decimal" else 0
        unit = 10**scale
        step = rng.randint(1, 100_000)  # in units of the column's last digit
        # Exact arithmetic in units of the last digit: 0.07 * 100 is 7.000000000000001 in floats,
        # and a value meant to break the rule must not land on the bound.
        bound = Decimal(repr(r.min if side == "min" else r.max)) * unit
        if side == "min":
            units = int(bound.to_integral_value(ROUND_CEILING)) - step
        else:
            units = int(bound.to_integral_value(ROUND_FLOOR)) + step
        if col.type.kind == "decimal":
            digits = (col.type.precision or 10) - scale
            units = max(min(units, 10 ** (digits + scale) - 1), -(10 ** (digits + scale) - 1))
        event[col.name] = units / unit if col.type.kind in ("decimal", "double") else units
        return reasons.rule(col.name, side)

    def _bad_enum(self, rng: Random, col: Column, event: dict[str, Any]) -> str:
        allowed = {str(v).lower() for v in col.rules.enum or ()}
        candidates = [v for v in _BAD_ENUM.get(col.name, ()) if v.lower() not in allowed]
        event[col.name] = rng.choice(candidates) if candidates else f"not_{col.name}_{rng.randint(1, 99)}"
        return reasons.rule(col.name, "enum")

    def _future_time(self, rng: Random, col: Column, event: dict[str, Any]) -> str:
        event[col.name] = format_ms(self.now_ms + rng.randint(*_FUTURE_DAYS) * _DAY_MS + rng.randrange(_DAY_MS))
        return reasons.rule(col.name, "not_in_future")

    def _past_time(self, rng: Random, col: Column, event: dict[str, Any]) -> str:
        assert col.rules.not_before is not None
        floor = datetime.fromisoformat(col.rules.not_before)
        floor_ms = int((floor if floor.tzinfo else floor.replace(tzinfo=UTC)).timestamp() * 1000)
        event[col.name] = format_ms(floor_ms - rng.randint(*_PAST_DAYS) * _DAY_MS - rng.randrange(_DAY_MS))
        return reasons.rule(col.name, "not_before")

    # --- byte defects ----------------------------------------------------------------------

    def _oversized(self, rng: Random, data: bytes) -> bytes:
        # Whitespace after '{' is insignificant JSON, so the event stays valid in every other way.
        target = self.oversized_bytes + rng.randint(1, _OVERSIZE_SPREAD)
        return b"{" + b" " * (target - len(data)) + data[1:]

    def _malformed(self, rng: Random, data: bytes, pk: str) -> bytes:
        for _ in range(4):
            variant = rng.randrange(4)
            if variant == 0:  # a key without its colon: "device""mobile"
                bad = _at_random(rng, data, b'":', lambda i: data[: i + 1] + data[i + 2 :])
            elif variant == 1:  # a semicolon where a comma belongs
                bad = _at_random(rng, data, b',"', lambda i: data[:i] + b";" + data[i + 1 :])
            elif variant == 2:  # an empty member: ,,
                bad = _at_random(rng, data, b',"', lambda i: data[:i] + b"," + data[i:])
            else:  # no opening brace
                bad = data[1:]
            if bad is not None and not _parses(bad):
                return bad
        return data[1:]

    def _truncated(self, rng: Random, data: bytes, pk: str) -> bytes:
        # Any proper prefix of a compact JSON object lacks its closing brace, so none parses.
        return data[: rng.randint(1, len(data) - 1)]

    def _invalid_utf8(self, rng: Random, data: bytes, pk: str) -> bytes:
        junk = rng.choice(_INVALID_UTF8)
        # Inside a string value, where a mis-encoded character would really turn up.
        bad = _at_random(rng, data, b'":"', lambda i: data[: i + 3] + junk + data[i + 3 :])
        return bad if bad is not None else data[:1] + junk + data[1:]

    def _corrupt_aggregate(self, rng: Random, data: bytes, pk: str) -> bytes:
        agg = bytearray(kpl.encode_aggregate([(pk, data), (pk, data[::-1])]))
        where = rng.choice(("digest", "body", "cut"))
        if where == "digest":
            agg[-1 - rng.randrange(16)] ^= 0xFF
        elif where == "body":
            agg[4 + rng.randrange(len(agg) - 20)] ^= 0x55
        else:
            del agg[len(agg) - rng.randint(1, 8) :]
        return bytes(agg)


def _parses(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


def _at_random(rng: Random, data: bytes, needle: bytes, edit: Any) -> bytes | None:
    """Apply ``edit(i)`` at a random occurrence ``i`` of ``needle``; None when there is none."""
    hits: list[int] = []
    i = data.find(needle)
    while i >= 0:
        hits.append(i)
        i = data.find(needle, i + 1)
    return edit(rng.choice(hits)) if hits else None


_BYTES_DEFECTS = {
    "malformed_json": DefectMaker._malformed,
    "truncated_json": DefectMaker._truncated,
    "invalid_utf8": DefectMaker._invalid_utf8,
    "corrupt_aggregate": DefectMaker._corrupt_aggregate,
}
_COLUMN_DEFECTS = {
    "type_mismatch": DefectMaker._type_mismatch,
    "missing_required": DefectMaker._missing_required,
    "out_of_range": DefectMaker._out_of_range,
    "bad_enum": DefectMaker._bad_enum,
    "future_time": DefectMaker._future_time,
    "past_time": DefectMaker._past_time,
}
_REASON: dict[str, tuple[str, ...]] = {
    "malformed_json": (reasons.INVALID_JSON,),
    "truncated_json": (reasons.INVALID_JSON,),
    "invalid_utf8": (reasons.INVALID_UTF8,),
    "corrupt_aggregate": (reasons.CORRUPT_AGGREGATE,),
}
