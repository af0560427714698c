"""``python -m schemas``: list the declared tables, or print what is generated from one of them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from schemas.loader import TABLES_DIR, load_table, load_tables
from schemas.model import Table
from streamlake.errors import StreamlakeError

FORMATS = ("spark", "arrow", "glue", "athena", "redshift", "jsonschema")
_NEEDS_LOCATION = ("glue", "athena")


def _lineage(args: argparse.Namespace, default: bool) -> dict[str, bool]:
    return {
        "include_lineage": default if args.lineage is None else args.lineage,
        "include_partitions": bool(args.partitions),
    }


def generate(table: Table, fmt: str, args: argparse.Namespace) -> str:
    """The text printed for ``--format fmt``; imports lazily so ``list`` needs neither Spark nor Arrow."""
    if fmt == "spark":
        from schemas.spark import spark_schema

        return json.dumps(spark_schema(table, **_lineage(args, False)).jsonValue(), indent=2)
    if fmt == "arrow":
        from schemas.arrow import arrow_schema

        return arrow_schema(table, **_lineage(args, True)).to_string(show_schema_metadata=False)
    if fmt == "glue":
        from schemas.glue import table_input

        return json.dumps(table_input(table, location=args.location), indent=2)
    if fmt == "athena":
        from schemas.ddl import athena_create_table

        return athena_create_table(table, database=args.database, location=args.location, projection=args.projection)
    if fmt == "redshift":
        from schemas.ddl import redshift_create_table

        return redshift_create_table(table, schema=args.schema)
    from schemas.json_schema import json_schema

    return json.dumps(json_schema(table), indent=2)


def _list(tables_dir: Path) -> str:
    rows: list[Any] = [("table", "version", "event_type", "columns", "partitions")]
    for t in load_tables(tables_dir).values():
        parts = ",".join(f"{p.name}={p.transform}({p.source})" for p in t.partitions) or "-"
        rows.append((t.name, f"v{t.version}", t.event_type, str(len(t.columns)), parts))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m schemas",
        description="The table declarations in schemas/tables and everything generated from them.",
    )
    parser.add_argument("--tables-dir", type=Path, default=TABLES_DIR, help="default: %(default)s")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,generate}")
    sub.add_parser("list", help="list the declared tables")
    gen = sub.add_parser(
        "generate",
        help="print a schema or DDL generated from one table",
        description="Print a schema or DDL generated from one table declaration.",
        epilog="example: python -m schemas generate --table page_view --format athena "
        "--location s3://lake/page_view/ --projection",
    )
    gen.add_argument("--table", required=True, help="table name (see `python -m schemas list`)")
    gen.add_argument("--format", required=True, choices=FORMATS, help="what to generate")
    gen.add_argument("--location", help="table location URI; required for glue and athena")
    gen.add_argument("--database", default="streamlake", help="athena: Glue database (default: %(default)s)")
    gen.add_argument("--schema", default="public", help="redshift: schema (default: %(default)s)")
    gen.add_argument("--projection", action="store_true", help="athena: add partition projection properties")
    gen.add_argument(
        "--lineage",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="spark/arrow: include lineage columns (default: spark no, arrow yes)",
    )
    gen.add_argument("--partitions", action="store_true", help="spark/arrow: append partition columns")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 on success, 2 on a usage error or an invalid declaration (message on stderr)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print(_list(args.tables_dir))
            return 0
        if args.format in _NEEDS_LOCATION and not args.location:
            parser.error(f"--format {args.format} needs --location URI (e.g. s3://bucket/lake/{args.table}/)")
        print(generate(load_table(args.table, args.tables_dir), args.format, args))
    except StreamlakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
