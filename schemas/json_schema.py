"""JSON Schema (draft 2020-12) for producers: one table's event as it is sent on the wire.

Wire encoding, and why:

- timestamps are RFC 3339 strings with an explicit offset (``format: date-time`` plus a pattern,
  because draft 2020-12 makes format an annotation many validators skip); a time without an
  offset would be read in the session's time zone;
- decimals are JSON numbers only, no numeric strings (Spark would take "1.5", but one encoding
  keeps min/max checkable here). Spark parses JSON numbers into decimals exactly, rounding extra
  fraction digits half-up to the scale and nulling values with too many integer digits, so only
  the integer digits are bounded here;
- integers are JSON integers within the 32/64-bit range; :func:`validator` also refuses ``1.0``
  (JSON Schema counts it as an integer, Spark's JSON reader does not);
- nullable columns may be absent or null; ``required`` lists the non-nullable ones;
- unknown properties are refused (``additionalProperties: false``) so a misspelt field fails in
  the producer's tests instead of arriving as a silent null;
- the routing field must equal the table's event type (``const``).

Time rules are judged in the stream, not here: ``not_in_future`` needs a clock (the record's
Kinesis arrival time) and ``not_before`` compares instants across offsets, which a pattern cannot.
Both are carried as notes (``$comment`` and ``x-streamlake-*`` annotations), never asserted.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from schemas.model import Column, Table
from schemas.types import DataType

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# RFC 3339 date-time with a mandatory offset; 'T' may be lower case, and a space is tolerated as
# RFC 3339 section 5.6 allows and Spark's timestamp parser accepts.
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _value_schema(dt: DataType) -> dict[str, Any]:
    """The wire form of one type, without nullability (see :func:`_or_null`)."""
    kind = dt.kind
    if kind == "string":
        return {"type": "string"}
    if kind in _INT_RANGE:
        low, high = _INT_RANGE[kind]
        return {"type": "integer", "minimum": low, "maximum": high}
    if kind == "double":
        return {"type": "number"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "timestamp":
        return {"type": "string", "format": "date-time", "pattern": RFC3339}
    if kind == "date":
        return {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
    if kind == "decimal":
        assert dt.precision is not None and dt.scale is not None
        bound = 10 ** (dt.precision - dt.scale)  # more integer digits than this overflow the column
        return {"type": "number", "exclusiveMinimum": -bound, "exclusiveMaximum": bound}
    if kind == "array":
        assert dt.element is not None
        return {"type": "array", "items": _or_null(_value_schema(dt.element))}
    if kind == "map":
        assert dt.key is not None and dt.value is not None
        out: dict[str, Any] = {"type": "object", "additionalProperties": _or_null(_value_schema(dt.value))}
        if dt.key.kind in _INT_RANGE:
            out["propertyNames"] = {"pattern": r"^-?[0-9]+$"}
        return out
    if kind == "struct":
        props = {f.name: _nullable_if(f.nullable, _value_schema(f.type)) for f in dt.fields}
        return {
            "type": "object",
            "properties": props,
            "required": [f.name for f in dt.fields if not f.nullable],
            "additionalProperties": False,
        }
    raise AssertionError(f"unhandled type kind {kind!r}")  # parse_type admits no other kind


def _nullable_if(nullable: bool, schema: dict[str, Any]) -> dict[str, Any]:
    return _or_null(schema) if nullable else schema


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value  # 0 rather than 0.0 in the published schema


def _with_rules(col: Column, schema: dict[str, Any]) -> dict[str, Any]:
    """Add the column's row rules that JSON Schema can state; note the clock-bound ones."""
    r, kind, out = col.rules, col.type.kind, dict(schema)
    if r.enum is not None:
        out["enum"] = list(r.enum)
    if kind in _INT_RANGE:
        if r.min is not None:
            out["minimum"] = max(out["minimum"], math.ceil(r.min))
        if r.max is not None:
            out["maximum"] = min(out["maximum"], math.floor(r.max))
    elif kind in ("double", "decimal"):
        if r.min is not None:
            out["minimum"] = _number(r.min)
        if r.max is not None:
            out["maximum"] = _number(r.max)
    if r.regex is not None and kind == "string":
        out["pattern"] = r.regex
    if r.max_length is not None:
        key = {"string": "maxLength", "array": "maxItems", "map": "maxProperties"}.get(kind)
        if key:
            out[key] = r.max_length
    notes = []
    if r.not_before is not None:
        out["x-streamlake-not-before"] = r.not_before
        notes.append(f"not before {r.not_before}")
    if r.not_in_future is not None:
        out["x-streamlake-not-in-future-seconds"] = r.not_in_future
        notes.append(f"at most {r.not_in_future:g}s after the Kinesis arrival time")
    if notes:
        out["$comment"] = "checked in the stream, not by this schema: " + "; ".join(notes)
    return out


def json_schema(table: Table, *, route_field: str = "event_type") -> dict[str, Any]:
    """The draft 2020-12 JSON Schema of one ``table`` event as producers send it.

    Lineage and partition columns are absent: the job adds them. ``route_field`` (the stream's
    routing field) must equal ``table.event_type``.
    """
    props: dict[str, Any] = {}
    for col in table.columns:
        schema = _with_rules(col, _value_schema(col.type))
        if col.name == route_field:
            schema["const"] = table.event_type
        props[col.name] = _nullable_if(col.nullable, schema)
        if col.description:
            props[col.name]["description"] = col.description
    return {
        "$schema": DIALECT,
        "$id": f"urn:streamlake:schema:{table.name}:v{table.version}",
        "title": table.name,
        "description": table.description,
        "type": "object",
        "properties": props,
        "required": [c.name for c in table.columns if not c.nullable],
        "additionalProperties": False,
    }


def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time check that needs no optional package (jsonschema's needs one)."""
    if not isinstance(value, str) or not re.match(RFC3339, value):
        return False
    # fromisoformat wants upper-case T/Z and at most microseconds; Spark keeps microseconds too.
    datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.upper().replace(" ", "T")))
    return True


def validator(table: Table, *, route_field: str = "event_type") -> Any:
    """A ``jsonschema`` validator for the table's events (``.is_valid(e)``, ``.iter_errors(e)``).

    Formats are asserted (``date``, ``date-time``: impossible dates such as 2026-02-30 fail), and
    integers must be JSON integers, not ``1.0``.
    """
    from jsonschema import Draft202012Validator, FormatChecker, validators

    def is_integer(_checker: Any, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    strict = validators.extend(
        Draft202012Validator,
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", is_integer),
    )
    formats = FormatChecker(["date"])
    formats.checks("date-time", raises=ValueError)(_is_date_time)
    schema = json_schema(table, route_field=route_field)
    strict.check_schema(schema)
    return strict(schema, format_checker=formats)
