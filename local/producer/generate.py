"""Seeded, deterministic event generation: valid events, bad events and producer-retry duplicates.

Pure: no clock, no I/O. The same ``seed`` and ``now`` give the same records byte for byte, so a
run can be replayed and its manifest re-derived.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from random import Random
from typing import Any

from local.producer.bad import DefectMaker
from local.producer.record import BAD_KINDS, BadKind, ProducedRecord
from local.producer.shop import SHOP_TABLES, ShopDomain
from local.producer.values import ValueFactory, column_factory, encode_json, format_ms
from schemas.loader import load_stream, load_tables
from schemas.model import Table
from streamlake.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_BAD_FRACTION = 0.02
DEFAULT_DUPLICATE_FRACTION = 0.01
DEFAULT_OVERSIZED_BYTES = 600_000
DEFAULT_WINDOW = timedelta(minutes=15)

# Relative weights of the bad kinds. Oversized records are ~1000x the size of the others, so they
# are rarer: enough to exercise the path without turning a 1M-event benchmark into gigabytes.
DEFAULT_BAD_WEIGHTS: Mapping[BadKind, float] = {
    **{kind: 1.0 for kind in BAD_KINDS if kind not in ("oversized", "corrupt_aggregate")},
    "oversized": 0.02,
}
# Producer retries happen seconds apart, so a duplicate repeats one of the last few records.
_RECENT = 32
# Up to this much earlier than its slot, so event times arrive slightly out of order.
_JITTER_MS = 2000

_ROUTE, _TIME, _ID, _VALUE = range(4)


class _EventBuilder:
    """Assembles one table's event in declared column order from domain and generic values."""

    def __init__(self, table: Table, route_field: str, now: datetime) -> None:
        self.table = table
        shop = table.name in SHOP_TABLES
        self.steps: list[tuple[str, int, ValueFactory | None, bool]] = []
        for col in table.columns:
            if col.name == route_field:
                self.steps.append((col.name, _ROUTE, None, False))
            elif col.name == table.event_time:
                self.steps.append((col.name, _TIME, None, False))
            elif col.name == "event_id" and col.type.kind == "string":
                self.steps.append((col.name, _ID, None, False))
            else:
                # The shop domain leaves optional columns out on purpose; only columns it does not
                # know (or required ones it missed) come from the generic generator.
                generic = None if (shop and col.nullable) else column_factory(col, now=now)
                self.steps.append((col.name, _VALUE, generic, col.nullable and not shop))

    def build(self, rng: Random, values: Mapping[str, Any], event_id: str, event_time: str) -> dict[str, Any]:
        event: dict[str, Any] = {}
        for name, how, generic, optional in self.steps:
            if how == _VALUE:
                value = values.get(name)
                if value is None:
                    if generic is None or (optional and rng.random() < 0.2):
                        continue
                    value = generic(rng)
                event[name] = value
            elif how == _ROUTE:
                event[name] = self.table.event_type
            elif how == _TIME:
                event[name] = event_time
            else:
                event[name] = event_id
        return event


def iter_events(
    n: int,
    *,
    seed: int,
    now: datetime,
    bad_fraction: float = DEFAULT_BAD_FRACTION,
    duplicate_fraction: float = DEFAULT_DUPLICATE_FRACTION,
    stream: str = "shop_events",
    oversized_bytes: int = DEFAULT_OVERSIZED_BYTES,
    bad_kinds: Mapping[BadKind, float] | None = None,
    aggregated: bool = False,
    window: timedelta = DEFAULT_WINDOW,
) -> Iterator[ProducedRecord]:
    """``n`` records, lazily (constant memory; see :func:`generate_events` for the contract).

    Arguments are checked at once, not at the first ``next()``.
    """
    _check_fractions(n, bad_fraction, duplicate_fraction)
    if now.tzinfo is None:
        raise ConfigError("now", now, "a timezone-aware datetime (e.g. datetime.now(UTC))")
    decl = load_stream(stream)
    tables = load_tables()
    _check_window(now, window, [tables[t] for t in decl.tables])
    weights = _bad_weights(bad_kinds, aggregated)
    defects = DefectMaker(tables, decl, oversized_bytes=oversized_bytes, now=now)
    kind_tables = {k: [t for t in decl.tables if defects.applies_to(k, t)] for k in weights}
    for kind, candidates in list(kind_tables.items()):
        if not candidates:
            log.warning("no table of stream %s can carry bad kind %s; it is skipped", stream, kind)
            del weights[kind], kind_tables[kind]
    if bad_fraction > 0 and not weights:
        raise ConfigError("bad_kinds", bad_kinds, "at least one applicable kind with a weight > 0")
    rng = Random(seed)
    domain = ShopDomain(rng, decl.tables)
    builders = {name: _EventBuilder(tables[name], decl.route_field, now) for name in decl.tables}
    plan = _Plan(rng, domain, builders, defects, tables, weights, kind_tables)
    records = plan.run(n, now=now, window=window, bad_fraction=bad_fraction, duplicate_fraction=duplicate_fraction)
    return _Sized(records, n)


class _Sized(Iterator[ProducedRecord]):
    """A lazy iterator that knows its length, so a progress bar can show the total."""

    def __init__(self, records: Iterator[ProducedRecord], n: int) -> None:
        self._records = records
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __next__(self) -> ProducedRecord:
        return next(self._records)


class _Plan:
    """Everything one generation run needs, prepared once; :meth:`run` yields the records."""

    def __init__(
        self,
        rng: Random,
        domain: ShopDomain,
        builders: dict[str, _EventBuilder],
        defects: DefectMaker,
        tables: Mapping[str, Table],
        weights: dict[BadKind, float],
        kind_tables: dict[BadKind, list[str]],
    ) -> None:
        self.rng = rng
        self.domain = domain
        self.builders = builders
        self.defects = defects
        self.tables = tables
        self.kinds, self.kind_weights = list(weights), list(weights.values())
        self.kind_tables = kind_tables
        self.table_weight = dict(zip(domain.tables, domain.weights, strict=True))

    def run(
        self, n: int, *, now: datetime, window: timedelta, bad_fraction: float, duplicate_fraction: float
    ) -> Iterator[ProducedRecord]:
        rng, domain, builders = self.rng, self.domain, self.builders
        now_ms = int(now.timestamp() * 1000)
        window_ms = int(window.total_seconds() * 1000)
        recent: deque[ProducedRecord] = deque(maxlen=_RECENT)
        dup_edge = bad_fraction + duplicate_fraction
        for i in range(n):
            # Times advance through the window so event time roughly follows send order.
            slot_ms = now_ms - window_ms + (i + 1) * window_ms // n
            event_time = format_ms(max(min(slot_ms - rng.randrange(_JITTER_MS), now_ms), now_ms - window_ms))
            r = rng.random()
            if bad_fraction <= r < dup_edge and recent:
                orig = rng.choice(recent)
                yield ProducedRecord(i, orig.data, orig.partition_key, "duplicate", orig.table, orig.event_id)
                continue
            if r < bad_fraction:
                yield self._bad(i, event_time)
                continue
            table, values, pk = domain.next_event()
            event_id = domain.event_id()
            event = builders[table].build(rng, values, event_id, event_time)
            record = ProducedRecord(i, encode_json(event), pk, "valid", table, event_id)
            recent.append(record)
            yield record

    def _bad(self, i: int, event_time: str) -> ProducedRecord:
        rng = self.rng
        kind = rng.choices(self.kinds, self.kind_weights)[0]
        candidates = self.kind_tables[kind]
        forced = rng.choices(candidates, [self.table_weight[t] for t in candidates])[0]
        table, values, pk = self.domain.next_event(forced)
        event = self.builders[table].build(rng, values, self.domain.event_id(), event_time)
        d = self.defects.make(kind, rng, self.tables[table], event, pk)
        return ProducedRecord(i, d.data, pk, kind, d.table, d.event_id, d.reasons)


def generate_events(
    n: int,
    *,
    seed: int,
    now: datetime,
    bad_fraction: float = DEFAULT_BAD_FRACTION,
    duplicate_fraction: float = DEFAULT_DUPLICATE_FRACTION,
    stream: str = "shop_events",
    oversized_bytes: int = DEFAULT_OVERSIZED_BYTES,
    bad_kinds: Mapping[BadKind, float] | None = None,
    aggregated: bool = False,
    window: timedelta = DEFAULT_WINDOW,
) -> list[ProducedRecord]:
    """``n`` records for the tables of ``stream`` (a declaration in ``schemas/streams``).

    Each record is valid with probability ``1 - bad_fraction - duplicate_fraction``, bad with
    probability ``bad_fraction`` (kinds drawn by ``bad_kinds`` weights, default
    :data:`DEFAULT_BAD_WEIGHTS`, plus ``corrupt_aggregate`` when ``aggregated``), or a byte-exact
    repeat of a recent valid record with probability ``duplicate_fraction``.

    Notes
    -----
    Pure and deterministic: the same arguments give the same bytes. Valid event times fall in
    ``[now - window, now]``. The job judges time rules against the Kinesis arrival time, so the
    predictions hold when records arrive no earlier than ``now - 5 min`` (else valid events look
    "in the future") and within a year after ``now`` (else ``future_time`` events no longer are).
    """
    return list(
        iter_events(
            n,
            seed=seed,
            now=now,
            bad_fraction=bad_fraction,
            duplicate_fraction=duplicate_fraction,
            stream=stream,
            oversized_bytes=oversized_bytes,
            bad_kinds=bad_kinds,
            aggregated=aggregated,
            window=window,
        )
    )


def _check_fractions(n: int, bad: float, dup: float) -> None:
    if not isinstance(n, int) or n < 0:
        raise ConfigError("n", n, "a non-negative integer")
    for key, value in (("bad_fraction", bad), ("duplicate_fraction", dup)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(key, value, "a number within [0, 1]")
    if bad + dup > 1.0:
        raise ConfigError("bad_fraction + duplicate_fraction", bad + dup, "at most 1")


def _check_window(now: datetime, window: timedelta, tables: list[Table]) -> None:
    if window <= timedelta(0):
        raise ConfigError("window", window, "a positive duration")
    for table in tables:
        not_before = table.column(table.event_time).rules.not_before
        if not_before is None:
            continue
        floor = datetime.fromisoformat(not_before)
        floor = floor if floor.tzinfo else floor.replace(tzinfo=now.tzinfo)
        if now - window < floor:
            raise ConfigError("now", now.isoformat(), f"after {not_before} + {window} ({table.name}'s not_before)")


def _bad_weights(bad_kinds: Mapping[BadKind, float] | None, aggregated: bool) -> dict[BadKind, float]:
    if bad_kinds is None:
        weights: dict[BadKind, float] = dict(DEFAULT_BAD_WEIGHTS)
        if aggregated:
            weights["corrupt_aggregate"] = 1.0
        return weights
    unknown = sorted(set(bad_kinds) - set(BAD_KINDS))
    if unknown:
        raise ConfigError("bad_kinds", unknown, f"kinds among {list(BAD_KINDS)}")
    negative = {k: w for k, w in bad_kinds.items() if w < 0}
    if negative:
        raise ConfigError("bad_kinds", negative, "non-negative weights")
    return {k: float(w) for k, w in bad_kinds.items() if w > 0}
