"""Athena and Redshift DDL generated from a table declaration.

Every identifier is quoted (backticks for Athena's Hive DDL, double quotes for Redshift), so no
per-engine reserved-word list has to be kept current; names come from the validated model, and
caller-supplied names and literals are checked before they reach the SQL text.

Redshift strings are ``VARCHAR(n)`` with ``n`` in bytes, the tightest bound the column's rules
give (enum, ``max_length``, an anchored regex; a UTF-8 character takes up to 4 bytes), else the
maximum 65535, so a COPY never fails on a long value that the stream accepted.
"""

from __future__ import annotations

import re

from schemas.glue import folder_uri, hive_type, one_line, partition_comment, table_parameters
from schemas.model import Column, Partition, Table
from schemas.types import DataType
from streamlake.errors import ConfigError, SchemaError

REDSHIFT_VARCHAR_MAX = 65535
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IAM_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_REDSHIFT_PRIMITIVES = {
    "int": "INTEGER",
    "long": "BIGINT",
    "double": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    # Plain TIMESTAMP holds the UTC wall time that Parquet's UTC-adjusted timestamps carry.
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}
# Athena date projection per transform: value format, interval unit, and how far past "now" the
# range reaches, since not_in_future tolerates clock skew across a day or hour boundary.
_PROJECTION = {
    "date": ("yyyy-MM-dd", "DAYS", "NOW+1DAYS"),
    "hour": ("yyyy-MM-dd-HH", "HOURS", "NOW+1HOURS"),
}


def _name(key: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(key, value, "letters, digits and underscores, not starting with a digit")
    return value


def _bq(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"  # the loader admits no backticks; doubling is defence


def _dq(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hive_literal(text: str) -> str:
    # Hive DDL string literals escape with backslashes, not by doubling quotes.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------- Athena


def _athena_column(name: str, dt: DataType, comment: str) -> str:
    line = f"  {_bq(name)} {hive_type(dt, quote_fields=True)}"
    return line + (f" COMMENT {_hive_literal(one_line(comment, 255))}" if comment else "")


def projection_properties(table: Table, *, location: str, start: str | None = None) -> dict[str, str]:
    """Athena partition-projection table properties for the table's date and hour partitions.

    The range starts at ``start`` (``YYYY-MM-DD``) or else at the source column's ``not_before``
    rule, since earlier events are quarantined and those partitions cannot exist. Projection is
    Athena-only: Redshift Spectrum and EMR still need partitions registered in Glue.
    """
    props = {"projection.enabled": "true"}
    template = folder_uri(location)
    for part in table.partitions:
        if part.transform not in _PROJECTION:
            raise SchemaError(
                f"{table.name}: partition {part.name} uses transform {part.transform!r}; projection "
                f"supports {sorted(_PROJECTION)} partitions only"
            )
        first = start or table.column(part.source).rules.not_before
        if not first or not re.match(r"^\d{4}-\d{2}-\d{2}", first):
            raise SchemaError(
                f"{table.name}: projection of {part.name} needs a first date: declare not_before on "
                f"{part.source} or pass start='YYYY-MM-DD' (got {first!r})"
            )
        fmt, unit, end = _PROJECTION[part.transform]
        first = first[:10] + ("-00" if part.transform == "hour" else "")
        props |= {
            f"projection.{part.name}.type": "date",
            f"projection.{part.name}.format": fmt,
            f"projection.{part.name}.range": f"{first},{end}",
            f"projection.{part.name}.interval": "1",
            f"projection.{part.name}.interval.unit": unit,
        }
        template += f"{part.name}=${{{part.name}}}/"
    props["storage.location.template"] = template
    return props


def athena_create_table(
    table: Table,
    *,
    database: str,
    location: str,
    projection: bool = False,
    projection_start: str | None = None,
) -> str:
    """``CREATE EXTERNAL TABLE IF NOT EXISTS`` for the table's Parquet files at ``location``.

    Columns are the storage columns (declared, then lineage); partition columns go in
    ``PARTITIONED BY``. Table properties match :func:`schemas.glue.table_input`, plus projection
    properties when ``projection`` is true (see :func:`projection_properties` for the range).
    """
    uri = folder_uri(location)
    cols = [_athena_column(c.name, c.type, c.description) for c in table.storage_columns]
    lines = [f"CREATE EXTERNAL TABLE IF NOT EXISTS {_bq(_name('database', database))}.{_bq(table.name)} ("]
    lines.append(",\n".join(cols))
    lines.append(")")
    if table.description:
        lines.append(f"COMMENT {_hive_literal(one_line(table.description, 2048))}")
    if table.partitions:
        parts = [_athena_column(p.name, p.type, partition_comment(p)) for p in table.partitions]
        lines += ["PARTITIONED BY (", ",\n".join(parts), ")"]
    lines += ["STORED AS PARQUET", f"LOCATION {_hive_literal(uri)}"]
    props = table_parameters(table)
    if projection:
        props |= projection_properties(table, location=uri, start=projection_start)
    lines.append("TBLPROPERTIES (")
    lines.append(",\n".join(f"  {_hive_literal(k)}={_hive_literal(v)}" for k, v in props.items()))
    lines.append(")")
    return "\n".join(lines)


# ---------------------------------------------------------------- Redshift


def _regex_max_chars(regex: str) -> int | None:
    """The longest string an anchored ``^...$`` regex admits, or None when unbounded or unknown.

    Uses CPython's regex parser (private, so any surprise means "unknown"). ``$`` also matches
    before a final line break (``\\r\\n`` in Java's rlike), hence two extra characters.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(regex)
        ops = list(parsed)
        anchored = (
            bool(ops)
            and ops[0] == (_parser.AT, _parser.AT_BEGINNING)
            and ops[-1] in ((_parser.AT, _parser.AT_END), (_parser.AT, _parser.AT_END_STRING))
        )
        widest = int(parsed.getwidth()[1])
        if not anchored or widest >= _parser.MAXREPEAT:
            return None
        return widest + 2
    except Exception:  # a future Python may change the private parser: fall back to the default
        return None


def varchar_bytes(col: Column) -> int:
    """The VARCHAR length (bytes) for a string column: the tightest bound its rules give.

    Stored rows passed every rule (others are quarantined), so any rule bounds the value: the
    longest enum value in UTF-8 bytes, 4 bytes per character of ``max_length`` or of the longest
    match of an anchored regex; with no bound, the maximum 65535.
    """
    rules = col.rules
    bounds: list[int] = []
    if rules.enum:
        bounds.append(max(len(str(v).encode()) for v in rules.enum))
    if rules.max_length:
        bounds.append(4 * rules.max_length)
    if rules.regex and (chars := _regex_max_chars(rules.regex)) is not None:
        bounds.append(4 * chars)
    return max(1, min([*bounds, REDSHIFT_VARCHAR_MAX]))


def redshift_type(col: Column) -> str:
    """The Redshift type of a column: nested types become SUPER, strings VARCHAR(bytes)."""
    dt = col.type
    if dt.nested:
        return "SUPER"
    if dt.kind == "decimal":
        return f"DECIMAL({dt.precision},{dt.scale})"
    if dt.kind == "string":
        return f"VARCHAR({varchar_bytes(col)})"
    return _REDSHIFT_PRIMITIVES[dt.kind]


def _partition_type(table: Table, part: Partition) -> str:
    source = table.column(part.source)
    if part.transform == "date":
        return "DATE"
    if part.transform == "hour":
        return "VARCHAR(13)"  # values look like 2026-11-23-17
    # identity: the path holds the source value as text; keep a string source's width.
    return redshift_type(source) if source.type.kind == "string" else f"VARCHAR({REDSHIFT_VARCHAR_MAX})"


def redshift_columns(table: Table) -> list[tuple[str, str, bool]]:
    """``(name, Redshift type, nullable)`` of the warehouse table: storage columns, then partitions.

    Storage columns come first, in file order, so ``COPY ... FORMAT AS PARQUET`` can name them as
    one prefix; the partition columns (not in the files) are filled by the upsert's INSERT. A
    partition column is nullable exactly when its source column is.
    """
    cols = [(c.name, redshift_type(c), c.nullable) for c in table.storage_columns]
    cols += [(p.name, _partition_type(table, p), table.column(p.source).nullable) for p in table.partitions]
    return cols


def redshift_create_table(table: Table, *, schema: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the warehouse copy of the table.

    Distributed on the key when it is a single non-SUPER column (upserts join on it), otherwise
    ``DISTSTYLE AUTO``; sorted on the event time, which every incremental query filters on.
    """
    body = ",\n".join(
        f"    {_dq(name)} {rtype}{'' if nullable else ' NOT NULL'}" for name, rtype, nullable in redshift_columns(table)
    )
    lines = [f"CREATE TABLE IF NOT EXISTS {_dq(_name('schema', schema))}.{_dq(table.name)} (", body, ")"]
    if len(table.key) == 1 and not table.column(table.key[0]).type.nested:
        lines += ["DISTSTYLE KEY", f"DISTKEY ({_dq(table.key[0])})"]
    else:
        lines.append("DISTSTYLE AUTO")
    lines.append(f"SORTKEY ({_dq(table.event_time)})")
    return "\n".join(lines)


def redshift_external_schema(
    *,
    schema: str,
    database: str,
    iam_role: str = "default",
    region: str | None = None,
    create_database: bool = False,
) -> str:
    """``CREATE EXTERNAL SCHEMA`` exposing a Glue database to Redshift Spectrum.

    The Glue tables made from :func:`schemas.glue.table_input` appear in it as they are; no
    separate Spectrum ``CREATE EXTERNAL TABLE`` is generated, so there is one definition only.
    """
    if iam_role != "default" and not _IAM_ROLE.match(iam_role):
        raise ConfigError("iam_role", iam_role, "'default' or arn:aws:iam::<12 digits>:role/<name>")
    if region is not None and not _REGION.match(region):
        raise ConfigError("region", region, "an AWS region such as eu-north-1")
    role = "default" if iam_role == "default" else _sql_literal(iam_role)
    lines = [
        f"CREATE EXTERNAL SCHEMA IF NOT EXISTS {_dq(_name('schema', schema))}",
        f"FROM DATA CATALOG DATABASE {_sql_literal(_name('database', database))}",
    ]
    if region:
        lines.append(f"REGION {_sql_literal(region)}")
    lines.append(f"IAM_ROLE {role}")
    if create_database:
        lines.append("CREATE EXTERNAL DATABASE IF NOT EXISTS")
    return "\n".join(lines)
