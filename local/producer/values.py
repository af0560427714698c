"""Generic value generation from a column's declared type and rules.

Used for every column the shop domain (:mod:`local.producer.shop`) does not know, so a new
table in ``schemas/tables`` produces valid events without producer changes. Each factory is built
once per column and then called per event with the seeded RNG, which keeps generation fast.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from random import Random
from typing import Any

from schemas.model import Column, Rules
from schemas.types import DataType
from streamlake.errors import SchemaError

ValueFactory = Callable[[Random], Any]

_WORD = string.ascii_lowercase
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# Generic numbers stay small and positive unless the rules say otherwise: readable samples.
_DEFAULT_RANGE = (0, 1000)


def column_factory(column: Column, *, now: datetime) -> ValueFactory:
    """A function ``rng -> value`` whose values pass ``column``'s type and every rule."""
    return _factory(column.type, column.rules, now=now, where=column.name)


def _factory(dtype: DataType, rules: Rules, *, now: datetime, where: str) -> ValueFactory:
    if rules.enum is not None:
        choices = tuple(rules.enum)
        return lambda rng: rng.choice(choices)
    kind = dtype.kind
    if kind == "string":
        return _string_factory(rules, where)
    if kind in ("int", "long"):
        lo, hi = _int_bounds(rules, _INT32 if kind == "int" else _INT64)
        return lambda rng: rng.randint(lo, hi)
    if kind == "double":
        flo, fhi = _bounds(rules)
        return lambda rng: rng.uniform(flo, fhi)
    if kind == "decimal":
        return _decimal_factory(dtype, rules)
    if kind == "boolean":
        return lambda rng: rng.random() < 0.5
    if kind == "timestamp":
        return _timestamp_factory(rules, now)
    if kind == "date":
        return lambda rng: (now - timedelta(days=rng.randint(0, 30))).date().isoformat()
    if kind == "array":
        assert dtype.element is not None
        element = _factory(dtype.element, Rules(), now=now, where=f"{where}[]")
        return lambda rng: [element(rng) for _ in range(rng.randint(1, 3))]
    if kind == "map":
        assert dtype.key is not None and dtype.value is not None
        key = _factory(dtype.key, Rules(), now=now, where=f"{where}.key")
        value = _factory(dtype.value, Rules(), now=now, where=f"{where}.value")
        return lambda rng: {str(key(rng)): value(rng) for _ in range(rng.randint(0, 3))}
    if kind == "struct":
        fields = [(f.name, _factory(f.type, Rules(), now=now, where=f"{where}.{f.name}")) for f in dtype.fields]
        return lambda rng: {name: make(rng) for name, make in fields}
    raise SchemaError(f"column {where!r}: no value generator for type {dtype}")


def _bounds(rules: Rules) -> tuple[float, float]:
    lo = rules.min if rules.min is not None else _DEFAULT_RANGE[0]
    hi = rules.max if rules.max is not None else max(lo, 0) + _DEFAULT_RANGE[1]
    return float(lo), float(hi)


def _int_bounds(rules: Rules, limits: tuple[int, int]) -> tuple[int, int]:
    lo, hi = _bounds(rules)
    ilo, ihi = max(math.ceil(lo), limits[0]), min(math.floor(hi), limits[1])
    if ilo > ihi:
        raise SchemaError(f"rules {rules} leave no integer value")
    return ilo, ihi


def _decimal_factory(dtype: DataType, rules: Rules) -> ValueFactory:
    scale = dtype.scale or 0
    precision = dtype.precision or 10
    if precision > 15:
        # Values travel as JSON numbers built from floats; beyond 15 digits floats cannot
        # carry every decimal exactly, so refuse rather than emit values off by one ulp.
        raise SchemaError(f"decimal({precision},{scale}): the generator supports precision <= 15")
    unit = 10**scale
    limit = (10 ** (precision - scale)) - 1
    lo, hi = _bounds(rules)
    ulo, uhi = math.ceil(max(lo, -limit) * unit), math.floor(min(hi, limit) * unit)
    # A float built as units/10**scale prints with at most ``scale`` decimals (shortest repr).
    return lambda rng: rng.randint(ulo, uhi) / unit


def _timestamp_factory(rules: Rules, now: datetime) -> ValueFactory:
    now_ms = int(now.timestamp() * 1000)
    earliest = now_ms - 15 * 60 * 1000
    if rules.not_before is not None:
        nb = datetime.fromisoformat(rules.not_before)
        nb = nb if nb.tzinfo else nb.replace(tzinfo=UTC)
        earliest = max(earliest, int(nb.timestamp() * 1000))
    return lambda rng: format_ms(rng.randint(earliest, now_ms))


# Compact separators and ASCII-only output: the bytes are stable for a given event, and any
# truncation of them is still valid UTF-8 (only the invalid_utf8 kind breaks the encoding).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def encode_json(event: Any) -> bytes:
    """The wire form of an event: compact, ASCII-only JSON."""
    return _ENCODE(event).encode("ascii")


def format_ms(ms: int) -> str:
    """Epoch milliseconds -> RFC 3339 UTC with millisecond precision and a ``Z`` suffix."""
    return f"{_second(ms // 1000)}.{ms % 1000:03d}Z"


@lru_cache(maxsize=8192)
def _second(epoch_s: int) -> str:
    # Event times cluster within minutes, so caching the formatted second saves most strftime calls.
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _string_factory(rules: Rules, where: str) -> ValueFactory:
    max_len = rules.max_length if rules.max_length is not None else 16
    if rules.regex is not None:
        sampler = regex_sampler(rules.regex, where=where)
        pattern = re.compile(rules.regex)
        probe = Random(0)
        for _ in range(20):
            sample = sampler(probe)
            if not pattern.search(sample) or len(sample) > max_len:
                raise SchemaError(
                    f"column {where!r}: cannot generate values for regex {rules.regex!r} within "
                    f"max_length {max_len}; give it a generator in local/producer/shop.py"
                )
        return sampler
    return lambda rng: "".join(rng.choices(_WORD, k=rng.randint(1, max(1, min(max_len, 12)))))


# --- a sampler for the simple regexes schemas use: literals, [classes], \d \w, {m,n} ? + * ---

_CLASS_ESCAPES = {"d": string.digits, "w": string.ascii_letters + string.digits + "_"}


def regex_sampler(regex: str, *, where: str = "?") -> ValueFactory:
    """``rng -> str`` matching ``regex``; only the subset above, else SchemaError (name the column)."""
    atoms: list[tuple[str, int, int]] = []  # (alphabet, min repeat, max repeat)
    i = 0
    text = regex[1:] if regex.startswith("^") else regex
    anchored_end = text.endswith("$") and not text.endswith("\\$")
    text = text[:-1] if anchored_end else text
    while i < len(text):
        ch = text[i]
        if ch == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise SchemaError(f"column {where!r}: unterminated class in regex {regex!r}")
            alphabet, i = _class(text[i + 1 : end], regex, where), end + 1
        elif ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            alphabet, i = _CLASS_ESCAPES.get(nxt, nxt), i + 2
        elif ch in "()|.^$":
            raise SchemaError(
                f"column {where!r}: regex {regex!r} uses {ch!r}, which the sample generator does not "
                "support; give the column a generator in local/producer/shop.py"
            )
        else:
            alphabet, i = ch, i + 1
        lo, hi, i = _quantifier(text, i, regex, where)
        atoms.append((alphabet, lo, hi))

    def sample(rng: Random) -> str:
        return "".join(
            "".join(rng.choices(alphabet, k=lo if lo == hi else rng.randint(lo, hi))) for alphabet, lo, hi in atoms
        )

    return sample


def _class(body: str, regex: str, where: str) -> str:
    if body.startswith("^"):
        raise SchemaError(f"column {where!r}: negated class in regex {regex!r} is not supported")
    out: list[str] = []
    j = 0
    while j < len(body):
        if j + 2 < len(body) and body[j + 1] == "-":
            out.extend(chr(c) for c in range(ord(body[j]), ord(body[j + 2]) + 1))
            j += 3
        elif body[j] == "\\" and j + 1 < len(body):
            out.append(_CLASS_ESCAPES.get(body[j + 1], body[j + 1]))
            j += 2
        else:
            out.append(body[j])
            j += 1
    return "".join(dict.fromkeys("".join(out)))


def _quantifier(text: str, i: int, regex: str, where: str) -> tuple[int, int, int]:
    if i >= len(text):
        return 1, 1, i
    ch = text[i]
    if ch == "{":
        end = text.find("}", i)
        if end < 0:
            raise SchemaError(f"column {where!r}: unterminated quantifier in regex {regex!r}")
        parts = text[i + 1 : end].split(",")
        lo = int(parts[0])
        hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else lo + 8)
        return lo, hi, end + 1
    # Unbounded repeats are capped: samples should look like data, not stress tests.
    bounds = {"?": (0, 1), "+": (1, 8), "*": (0, 8)}
    if ch in bounds:
        return bounds[ch][0], bounds[ch][1], i + 1
    return 1, 1, i
