"""Schema evolution rules: may a new version of a table declaration replace the old one?

The lake keeps every file ever written, so a new declaration must still read the old files, and
the catalog, Athena and Redshift must keep working. The rules:

- adding a nullable column at the end of the declared columns is compatible (old rows read null);
- adding a required column, dropping a column, renaming one (a drop plus an add) or reordering
  the existing columns is refused: old rows have no value, or positional readers (Redshift
  ``COPY ... FORMAT AS PARQUET``) and the Glue partitions' column lists would disagree;
- a type change is refused except safe widening, which Parquet readers (Spark 4, Athena,
  Spectrum) apply to old files: ``int`` -> ``long``, ``decimal(p,s)`` -> ``decimal(p2,s)`` with
  ``p2 > p`` and the same scale, and the same inside arrays, map values and structs (whose new
  fields may only be appended);
- a required column may become nullable; a nullable column may not become required;
- partitions, the key, the event time column, the event type and the table name are fixed;
- any change other than descriptions needs a higher ``version``; descriptions are documentation.

Run ``python -m schemas.compat --help`` for the command line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from schemas.loader import TABLES_DIR, parse_table
from schemas.model import Column, Table
from schemas.types import DataType
from streamlake.errors import IncompatibleSchemaError, SchemaError

ChangeKind = Literal[
    "column_added",
    "column_dropped",
    "column_moved",
    "type_widened",
    "type_changed",
    "nullability_relaxed",
    "nullability_tightened",
    "rules_changed",
    "partitions_changed",
    "key_changed",
    "event_time_changed",
    "event_type_changed",
    "table_renamed",
    "version_not_increased",
]


@dataclass(frozen=True)
class Change:
    """One difference between two declarations, judged compatible or not, in plain English."""

    kind: ChangeKind
    column: str | None
    compatible: bool
    message: str


@dataclass(frozen=True)
class CompatReport:
    """Every change from ``old`` to ``new``; compatible when none of them is refused."""

    old: Table
    new: Table
    changes: tuple[Change, ...]

    @property
    def compatible(self) -> bool:
        return all(c.compatible for c in self.changes)

    @property
    def refused(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.compatible)

    def explain(self) -> str:
        """A readable summary: one line per change, refused ones first."""
        head = f"{self.old.name} v{self.old.version} -> {self.new.name} v{self.new.version}"
        if not self.changes:
            return f"{head}: no schema changes"
        verdict = "compatible" if self.compatible else f"INCOMPATIBLE ({len(self.refused)} refused)"
        ordered = sorted(self.changes, key=lambda c: c.compatible)
        lines = [f"{head}: {verdict}"]
        lines += [f"  {'ok     ' if c.compatible else 'REFUSED'}  {c.message}" for c in ordered]
        return "\n".join(lines)


def _widens(old: DataType, new: DataType) -> bool:
    """Whether values of ``old`` read safely as ``new`` (equal types count)."""
    if old == new:
        return True
    if old.kind == "int" and new.kind == "long":
        return True
    if old.kind == new.kind == "decimal":
        assert old.precision is not None and new.precision is not None
        return old.scale == new.scale and new.precision > old.precision
    if old.kind == new.kind == "array":
        assert old.element is not None and new.element is not None
        return _widens(old.element, new.element)
    if old.kind == new.kind == "map":
        assert old.value is not None and new.value is not None
        return old.key == new.key and _widens(old.value, new.value)
    if old.kind == new.kind == "struct":
        kept = new.fields[: len(old.fields)]
        return (
            len(new.fields) >= len(old.fields)
            and all(
                o.name == n.name and o.nullable == n.nullable and _widens(o.type, n.type)
                for o, n in zip(old.fields, kept, strict=True)
            )
            and all(f.nullable for f in new.fields[len(old.fields) :])
        )
    return False


def _ok(kind: ChangeKind, column: str | None, message: str) -> Change:
    return Change(kind, column, True, message)


def _refuse(kind: ChangeKind, column: str | None, message: str) -> Change:
    return Change(kind, column, False, message)


def _column_changes(old: Column, new: Column) -> list[Change]:
    name, out = old.name, []
    if old.type != new.type and _widens(old.type, new.type):
        msg = f"column {name!r} widened from {old.type} to {new.type}; old files read as {new.type}"
        out.append(_ok("type_widened", name, msg))
    elif old.type != new.type:
        msg = (
            f"column {name!r} changed type from {old.type} to {new.type}; stored files hold {old.type} "
            "and readers would fail (Athena: HIVE_PARTITION_SCHEMA_MISMATCH). Add a new column instead"
        )
        out.append(_refuse("type_changed", name, msg))
    if old.nullable and not new.nullable:
        msg = f"column {name!r} became required, but stored rows may hold nulls; keep it nullable"
        out.append(_refuse("nullability_tightened", name, msg))
    elif not old.nullable and new.nullable:
        msg = f"column {name!r} may now be null; drop its NOT NULL in Redshift before loading such rows"
        out.append(_ok("nullability_relaxed", name, msg))
    if old.rules != new.rules:
        names = {*old.rules.names(), *new.rules.names()}
        which = sorted(k for k in names if getattr(old.rules, k) != getattr(new.rules, k))
        msg = (
            f"column {name!r} rules changed ({', '.join(which)}); new events are judged by the new "
            "rules, stored rows are not re-checked"
        )
        out.append(_ok("rules_changed", name, msg))
    return out


def _added_dropped(old: Table, new: Table) -> list[Change]:
    dropped = [c for c in old.columns if c.name not in new.column_names]
    added = [c for c in new.columns if c.name not in old.column_names]
    out: list[Change] = []
    for col in dropped:
        twins = [a.name for a in added if a.type == col.type]
        hint = f" If it was renamed to {twins[0]!r}: a rename is a drop plus an add." if twins else ""
        msg = (
            f"column {col.name!r} ({col.type}) was dropped; stored files and downstream queries still "
            f"have it. Make it nullable and stop sending it instead.{hint}"
        )
        out.append(_refuse("column_dropped", col.name, msg))
    for col in added:
        if col.nullable:
            msg = f"column {col.name!r} ({col.type}) added as nullable; rows stored before read it as null"
            out.append(_ok("column_added", col.name, msg))
        else:
            msg = (
                f"column {col.name!r} ({col.type}) added as required, but rows stored before have no "
                "value; add it as nullable"
            )
            out.append(_refuse("column_added", col.name, msg))
    return out


def _order(old: Table, new: Table) -> list[Change]:
    kept = [n for n in old.column_names if n in new.column_names]
    if [n for n in new.column_names if n in old.column_names] != kept:
        msg = (
            f"existing columns were reordered (was {kept}); keep their order, positional readers such "
            "as Redshift COPY from Parquet depend on it"
        )
        return [_refuse("column_moved", None, msg)]
    early = [n for n in new.column_names[: len(kept)] if n not in old.column_names]
    if early:
        msg = f"new column(s) {early} were inserted between existing columns; append them after {kept[-1]!r}"
        return [_refuse("column_moved", early[0], msg)]
    return []


def _columns(old: Table, new: Table) -> list[Change]:
    out = _added_dropped(old, new) + _order(old, new)
    for col in old.columns:
        if col.name in new.column_names:
            out += _column_changes(col, new.column(col.name))
    return out


def _show_partitions(t: Table) -> list[str]:
    return [f"{p.name}={p.transform}({p.source})" for p in t.partitions]


def _table(old: Table, new: Table) -> list[Change]:
    out: list[Change] = []
    if old.name != new.name:
        msg = f"table renamed from {old.name!r} to {new.name!r}; declare a new table instead"
        out.append(_refuse("table_renamed", None, msg))
    if old.event_type != new.event_type:
        msg = (
            f"event_type changed from {old.event_type!r} to {new.event_type!r}; events producers send "
            "today would no longer reach this table"
        )
        out.append(_refuse("event_type_changed", None, msg))
    if old.key != new.key:
        msg = (
            f"key changed from {list(old.key)} to {list(new.key)}; rows already deduplicated and "
            "upserted on the old key would disagree with new ones"
        )
        out.append(_refuse("key_changed", None, msg))
    if old.event_time != new.event_time:
        msg = (
            f"event_time changed from {old.event_time!r} to {new.event_time!r}; watermarks and "
            "partitions of stored data follow the old one"
        )
        out.append(_refuse("event_time_changed", None, msg))
    if old.partitions != new.partitions:
        msg = (
            f"partitions changed from {_show_partitions(old)} to {_show_partitions(new)}; stored files "
            "are laid out by the old ones and would need a rewrite"
        )
        out.append(_refuse("partitions_changed", None, msg))
    return out


def check(old: Table, new: Table) -> CompatReport:
    """Compare two declarations of one table; see the module docstring for the rules."""
    changes = _table(old, new) + _columns(old, new)
    if changes and new.version <= old.version:
        msg = (
            f"the declaration changed but version went from {old.version} to {new.version}; "
            f"set version: {old.version + 1}"
        )
        changes.append(_refuse("version_not_increased", None, msg))
    elif new.version < old.version:
        msg = f"version went down from {old.version} to {new.version}"
        changes.append(_refuse("version_not_increased", None, msg))
    return CompatReport(old=old, new=new, changes=tuple(changes))


def ensure_compatible(old: Table, new: Table) -> CompatReport:
    """The report of :func:`check`; raise :class:`IncompatibleSchemaError` explaining it if refused."""
    report = check(old, new)
    if not report.compatible:
        raise IncompatibleSchemaError(report.explain())
    return report


# ---------------------------------------------------------------- command line


def _load(text: str, source: str) -> Table:
    try:
        return parse_table(yaml.safe_load(text), source=source)
    except yaml.YAMLError as exc:
        raise SchemaError(f"{source}: not valid YAML: {exc}") from exc


def _git(args: Sequence[str], cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise SchemaError("git is not installed; compare two files instead") from exc
    if done.returncode != 0:
        raise SchemaError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class RefComparison:
    """The tables of a directory against a git ref: one report per kept table, plus new and removed."""

    reports: tuple[CompatReport, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def compatible(self) -> bool:
        return not self.removed and all(r.compatible for r in self.reports)

    def explain(self) -> str:
        lines = [r.explain() for r in self.reports]
        lines += [f"{name}: new table" for name in self.added]
        lines += [f"{name}: REFUSED, the table was removed but its files stay in the lake" for name in self.removed]
        return "\n".join(lines)


def compare_with_ref(ref: str, tables_dir: Path = TABLES_DIR) -> RefComparison:
    """Check each table in ``tables_dir`` against its declaration at git ``ref``."""
    tables_dir = tables_dir.resolve()
    root = Path(_git(["rev-parse", "--show-toplevel"], tables_dir).strip())
    rel = tables_dir.relative_to(root).as_posix()
    listed = _git(["ls-tree", "--name-only", f"{ref}:{rel}"], root).split()
    before = {Path(n).stem for n in listed if n.endswith(".yaml")}
    now = {p.stem: p for p in sorted(tables_dir.glob("*.yaml"))}
    reports = []
    for name in sorted(before & now.keys()):
        at_ref = f"{ref}:{rel}/{name}.yaml"
        old = _load(_git(["show", at_ref], root), at_ref)
        reports.append(check(old, _load(now[name].read_text(), str(now[name]))))
    return RefComparison(tuple(reports), tuple(sorted(now.keys() - before)), tuple(sorted(before - now.keys())))


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every change is compatible, 1 when one is refused, 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m schemas.compat",
        description="Check that a new table declaration can replace the old one (schemas/compat.py).",
        epilog="examples:\n  python -m schemas.compat old/page_view.yaml schemas/tables/page_view.yaml\n"
        "  python -m schemas.compat --git-ref origin/main\n\n"
        "exit status: 0 compatible, 1 a change is refused, 2 bad input",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("old", nargs="?", type=Path, help="the previous declaration (YAML)")
    parser.add_argument("new", nargs="?", type=Path, help="the new declaration (YAML)")
    parser.add_argument("--git-ref", metavar="REF", help="compare every table with its version at this git ref")
    parser.add_argument("--tables-dir", type=Path, default=TABLES_DIR, help="with --git-ref (default: %(default)s)")
    args = parser.parse_args(argv)
    if bool(args.git_ref) == bool(args.old or args.new) or (args.old is None) != (args.new is None):
        parser.error("give either OLD.yaml NEW.yaml or --git-ref REF")
    try:
        if args.git_ref:
            result: RefComparison | CompatReport = compare_with_ref(args.git_ref, args.tables_dir)
        else:
            old = _load(args.old.read_text(), str(args.old))
            result = check(old, _load(args.new.read_text(), str(args.new)))
    except (OSError, SchemaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.explain())
    return 0 if result.compatible else 1


if __name__ == "__main__":
    sys.exit(main())
