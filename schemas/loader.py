"""Load and validate the YAML declarations in ``schemas/tables`` and ``schemas/streams``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from schemas.model import Column, Partition, Rules, Stream, Table
from schemas.types import parse_type
from streamlake.errors import SchemaError

SCHEMAS_DIR = Path(__file__).resolve().parent
TABLES_DIR = SCHEMAS_DIR / "tables"
STREAMS_DIR = SCHEMAS_DIR / "streams"

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_TABLE_KEYS = {"name", "description", "version", "event_type", "key", "event_time", "partitions", "columns"}
_COLUMN_KEYS = {"name", "type", "nullable", "description", "rules"}
_RULE_KEYS = {"enum", "min", "max", "regex", "max_length", "not_in_future", "not_before"}
_TRANSFORMS = ("date", "hour", "identity")


def _fail(where: str, msg: str) -> SchemaError:
    return SchemaError(f"{where}: {msg}")


def _unknown_keys(where: str, got: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(got) - allowed)
    if extra:
        raise _fail(where, f"unknown key(s) {extra}; valid keys: {sorted(allowed)}")


def _parse_duration(where: str, value: Any) -> float:
    """``300``, ``"90s"``, ``"5m"``, ``"1h"`` -> seconds."""
    if isinstance(value, bool):
        return 0.0 if value else -1.0
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
    if not m:
        raise _fail(where, f"not_in_future={value!r}: expected seconds or a duration like '5m'")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def parse_rules(where: str, raw: Mapping[str, Any] | None) -> Rules:
    if not raw:
        return Rules()
    _unknown_keys(where, raw, _RULE_KEYS)
    if "regex" in raw:
        try:
            re.compile(raw["regex"])
        except re.error as exc:
            raise _fail(where, f"regex {raw['regex']!r} does not compile: {exc}") from exc
    return Rules(
        enum=tuple(raw["enum"]) if "enum" in raw else None,
        min=float(raw["min"]) if "min" in raw else None,
        max=float(raw["max"]) if "max" in raw else None,
        regex=raw.get("regex"),
        max_length=int(raw["max_length"]) if "max_length" in raw else None,
        not_in_future=_parse_duration(where, raw["not_in_future"]) if "not_in_future" in raw else None,
        not_before=str(raw["not_before"]) if "not_before" in raw else None,
    )


def parse_table(raw: Mapping[str, Any], *, source: str = "<dict>") -> Table:
    """Build a :class:`Table` from a parsed YAML mapping, checking every key."""
    if not isinstance(raw, Mapping):
        raise _fail(source, "expected a mapping at the top level")
    _unknown_keys(source, raw, _TABLE_KEYS)
    for required in ("name", "version", "event_type", "key", "event_time", "columns"):
        if required not in raw:
            raise _fail(source, f"missing required key {required!r}")
    name = str(raw["name"])
    if not _NAME.match(name):
        raise _fail(source, f"name {name!r} must be lower_snake_case")
    columns: list[Column] = []
    for i, col in enumerate(raw["columns"]):
        where = f"{source}: columns[{i}]"
        if not isinstance(col, Mapping) or "name" not in col or "type" not in col:
            raise _fail(where, "each column needs at least 'name' and 'type'")
        _unknown_keys(where, col, _COLUMN_KEYS)
        cname = str(col["name"])
        if not _NAME.match(cname) or cname.startswith("_"):
            raise _fail(where, f"column name {cname!r} must be lower_snake_case and not start with '_'")
        try:
            ctype = parse_type(str(col["type"]))
        except SchemaError as exc:
            raise _fail(f"{where} ({cname})", str(exc)) from exc
        columns.append(
            Column(
                name=cname,
                type=ctype,
                nullable=bool(col.get("nullable", True)),
                description=str(col.get("description", "")),
                rules=parse_rules(f"{where} ({cname}).rules", col.get("rules")),
            )
        )
    names = [c.name for c in columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(source, f"duplicate column(s) {dupes}")
    key = tuple([raw["key"]] if isinstance(raw["key"], str) else raw["key"])
    for k in key:
        if k not in names:
            raise _fail(source, f"key column {k!r} is not declared; columns: {names}")
    event_time = str(raw["event_time"])
    if event_time not in names or next(c for c in columns if c.name == event_time).type.kind != "timestamp":
        raise _fail(source, f"event_time {event_time!r} must name a timestamp column")
    partitions: list[Partition] = []
    for i, part in enumerate(raw.get("partitions") or []):
        where = f"{source}: partitions[{i}]"
        _unknown_keys(where, part, {"name", "from", "transform"})
        transform = part.get("transform", "date")
        if transform not in _TRANSFORMS:
            raise _fail(where, f"transform {transform!r}; valid: {list(_TRANSFORMS)}")
        if part.get("from") not in names:
            raise _fail(where, f"'from' must name a declared column, got {part.get('from')!r}")
        if part["name"] in names:
            raise _fail(where, f"partition {part['name']!r} clashes with a column of the same name")
        partitions.append(Partition(name=str(part["name"]), source=str(part["from"]), transform=transform))
    return Table(
        name=name,
        description=str(raw.get("description", "")),
        version=int(raw["version"]),
        event_type=str(raw["event_type"]),
        key=key,
        event_time=event_time,
        partitions=tuple(partitions),
        columns=tuple(columns),
    )


def load_table_file(path: Path) -> Table:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SchemaError(f"{path}: not valid YAML: {exc}") from exc
    table = parse_table(raw, source=str(path))
    if table.name != path.stem:
        raise SchemaError(f"{path}: table name {table.name!r} must match the file name {path.stem!r}")
    return table


@cache
def load_tables(directory: Path = TABLES_DIR) -> dict[str, Table]:
    """Every table declared in ``directory``, by name."""
    return {p.stem: load_table_file(p) for p in sorted(directory.glob("*.yaml"))}


def load_table(name: str, directory: Path = TABLES_DIR) -> Table:
    tables = load_tables(directory)
    if name not in tables:
        raise SchemaError(f"unknown table {name!r}; declared tables: {sorted(tables)}")
    return tables[name]


@cache
def load_stream(name: str, directory: Path = STREAMS_DIR, tables_dir: Path = TABLES_DIR) -> Stream:
    path = directory / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise SchemaError(f"unknown stream declaration {name!r}; declared streams: {known}")
    raw = yaml.safe_load(path.read_text())
    _unknown_keys(str(path), raw, {"name", "description", "route_field", "tables"})
    tables = load_tables(tables_dir)
    for t in raw["tables"]:
        if t not in tables:
            raise SchemaError(f"{path}: table {t!r} is not declared in {tables_dir}")
    event_types = [tables[t].event_type for t in raw["tables"]]
    if len(set(event_types)) != len(event_types):
        raise SchemaError(f"{path}: two tables share an event_type: {event_types}")
    return Stream(
        name=str(raw["name"]),
        description=str(raw.get("description", "")),
        route_field=str(raw["route_field"]),
        tables=tuple(raw["tables"]),
    )
