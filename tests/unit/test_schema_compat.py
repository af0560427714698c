"""schemas.compat: each kind of change, judged and explained; the command line on files and git."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import load_tables, parse_table
from schemas.compat import check, ensure_compatible, main
from streamlake.errors import IncompatibleSchemaError

BASE: dict[str, Any] = {
    "name": "orders",
    "description": "Orders.",
    "version": 1,
    "event_type": "order",
    "key": ["id"],
    "event_time": "ts",
    "partitions": [{"name": "event_date", "from": "ts"}],
    "columns": [
        {"name": "id", "type": "string", "nullable": False},
        {"name": "ts", "type": "timestamp", "nullable": False},
        {"name": "qty", "type": "int", "nullable": False, "rules": {"min": 1}},
        {"name": "price", "type": "decimal(12,2)"},
        {"name": "lines", "type": "array<struct<sku:string,qty:int>>"},
        {"name": "note", "type": "string", "description": "Free text."},
    ],
}
OLD = parse_table(BASE)


def new(version: int = 2, **top: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    raw.update(version=version, **top)
    return raw


def col(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in raw["columns"] if c["name"] == name)


def kinds(raw: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    return [(c.kind, c.column, c.compatible) for c in check(OLD, parse_table(raw)).changes]


def test_identical_declarations_have_no_changes() -> None:
    report = check(OLD, OLD)
    assert report.changes == () and report.compatible
    assert report.explain() == "orders v1 -> orders v1: no schema changes"


def test_adding_a_nullable_column_at_the_end_is_compatible() -> None:
    raw = new()
    raw["columns"].append({"name": "coupon", "type": "string"})
    assert kinds(raw) == [("column_added", "coupon", True)]
    assert ensure_compatible(OLD, parse_table(raw)).compatible


def test_adding_a_required_column_is_refused() -> None:
    raw = new()
    raw["columns"].append({"name": "coupon", "type": "string", "nullable": False})
    assert kinds(raw) == [("column_added", "coupon", False)]


def test_inserting_a_column_between_existing_ones_is_refused() -> None:
    raw = new()
    raw["columns"].insert(2, {"name": "coupon", "type": "string"})
    assert kinds(raw) == [("column_added", "coupon", True), ("column_moved", "coupon", False)]


def test_reordering_existing_columns_is_refused() -> None:
    raw = new()
    raw["columns"][2], raw["columns"][3] = raw["columns"][3], raw["columns"][2]
    assert kinds(raw) == [("column_moved", None, False)]


def test_dropping_a_column_is_refused() -> None:
    raw = new()
    raw["columns"] = [c for c in raw["columns"] if c["name"] != "note"]
    assert kinds(raw) == [("column_dropped", "note", False)]


def test_a_rename_is_a_drop_plus_an_add_and_says_so() -> None:
    raw = new()
    col(raw, "note")["name"] = "comment"
    report = check(OLD, parse_table(raw))
    assert [(c.kind, c.column, c.compatible) for c in report.changes] == [
        ("column_dropped", "note", False),
        ("column_added", "comment", True),
    ]
    assert "renamed to 'comment'" in report.changes[0].message


@pytest.mark.parametrize(
    ("column", "old_type", "new_type"),
    [
        ("qty", "int", "long"),
        ("price", "decimal(12,2)", "decimal(14,2)"),
        ("lines", "array<struct<sku:string,qty:int>>", "array<struct<sku:string,qty:long>>"),
        ("lines", "array<struct<sku:string,qty:int>>", "array<struct<sku:string,qty:int,gift:boolean>>"),
    ],
)
def test_safe_widening_is_compatible(column: str, old_type: str, new_type: str) -> None:
    raw = new()
    col(raw, column)["type"] = new_type
    assert kinds(raw) == [("type_widened", column, True)]
    assert f"from {old_type} to {new_type}" in check(OLD, parse_table(raw)).changes[0].message


@pytest.mark.parametrize(
    ("column", "new_type"),
    [
        ("qty", "string"),
        ("qty", "double"),
        ("price", "decimal(14,3)"),  # scale changes are refused even when widening: not every reader rescales
        ("price", "decimal(10,2)"),  # narrowing
        ("note", "int"),
        ("lines", "array<struct<qty:int,sku:string>>"),  # struct fields reordered
        ("lines", "array<struct<sku:string>>"),  # struct field dropped
    ],
)
def test_other_type_changes_are_refused(column: str, new_type: str) -> None:
    raw = new()
    col(raw, column)["type"] = new_type
    assert kinds(raw) == [("type_changed", column, False)]


def test_nullable_to_required_is_refused_and_the_reverse_allowed() -> None:
    tighten = new()
    col(tighten, "note")["nullable"] = False
    assert kinds(tighten) == [("nullability_tightened", "note", False)]
    relax = new()
    col(relax, "qty")["nullable"] = True
    assert kinds(relax) == [("nullability_relaxed", "qty", True)]


def test_rule_changes_are_compatible_but_need_a_version_bump() -> None:
    raw = new()
    col(raw, "qty")["rules"] = {"min": 1, "max": 10}
    assert kinds(raw) == [("rules_changed", "qty", True)]
    assert "(max)" in check(OLD, parse_table(raw)).changes[0].message
    same_version = new(version=1)
    col(same_version, "qty")["rules"] = {"min": 1, "max": 10}
    assert kinds(same_version) == [("rules_changed", "qty", True), ("version_not_increased", None, False)]


def test_description_only_changes_need_no_version_bump() -> None:
    raw = new(version=1, description="All orders.")
    col(raw, "note")["description"] = "Anything the shopper wrote."
    assert kinds(raw) == []


def test_version_going_down_is_refused() -> None:
    assert kinds(new(version=0)) == [("version_not_increased", None, False)]


@pytest.mark.parametrize(
    ("top", "kind"),
    [
        ({"partitions": [{"name": "event_hour", "from": "ts", "transform": "hour"}]}, "partitions_changed"),
        ({"partitions": []}, "partitions_changed"),
        ({"key": ["id", "ts"]}, "key_changed"),
        ({"event_type": "order_v2"}, "event_type_changed"),
        ({"name": "orders2"}, "table_renamed"),
    ],
)
def test_table_level_changes_are_refused(top: dict[str, Any], kind: str) -> None:
    assert kinds(new(**top)) == [(kind, None, False)]


def test_event_time_change_is_refused() -> None:
    raw = new(event_time="ts2")
    raw["columns"].append({"name": "ts2", "type": "timestamp"})
    raw["partitions"] = [{"name": "event_date", "from": "ts"}]
    assert ("event_time_changed", None, False) in kinds(raw)


def test_ensure_compatible_raises_with_the_explanation() -> None:
    raw = new()
    col(raw, "qty")["type"] = "string"
    raw["columns"].append({"name": "coupon", "type": "string"})
    with pytest.raises(IncompatibleSchemaError) as err:
        ensure_compatible(OLD, parse_table(raw))
    lines = str(err.value).splitlines()
    assert lines[0] == "orders v1 -> orders v2: INCOMPATIBLE (1 refused)"
    assert lines[1].startswith("  REFUSED  column 'qty' changed type from int to string")
    assert lines[2].startswith("  ok       column 'coupon' (string) added as nullable")


def test_every_shop_table_is_compatible_with_itself() -> None:
    for table in load_tables().values():
        assert check(table, table).compatible


# ---------------------------------------------------------------- command line


def _write(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_cli_two_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _write(tmp_path / "old.yaml", BASE)
    ok = new()
    ok["columns"].append({"name": "coupon", "type": "string"})
    assert main([str(old), str(_write(tmp_path / "ok.yaml", ok))]) == 0
    assert "compatible" in capsys.readouterr().out
    bad = new()
    bad["columns"].pop()
    assert main([str(old), str(_write(tmp_path / "bad.yaml", bad))]) == 1
    assert "REFUSED  column 'note'" in capsys.readouterr().out


def test_cli_reports_bad_input_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed")
    assert main([str(broken), str(broken)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_cli_git_ref_compares_every_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tables = tmp_path / "schemas" / "tables"
    tables.mkdir(parents=True)
    _write(tables / "orders.yaml", BASE)
    gone = {**copy.deepcopy(BASE), "name": "gone", "event_type": "gone"}
    _write(tables / "gone.yaml", gone)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "v1")
    assert main(["--git-ref", "HEAD", "--tables-dir", str(tables)]) == 0
    capsys.readouterr()

    widened = new()
    col(widened, "qty")["type"] = "long"
    _write(tables / "orders.yaml", widened)
    _write(tables / "fresh.yaml", {**copy.deepcopy(BASE), "name": "fresh", "event_type": "fresh"})
    assert main(["--git-ref", "HEAD", "--tables-dir", str(tables)]) == 0
    out = capsys.readouterr().out
    assert "orders v1 -> orders v2: compatible" in out and "fresh: new table" in out

    (tables / "gone.yaml").unlink()
    assert main(["--git-ref", "HEAD", "--tables-dir", str(tables)]) == 1
    assert "gone: REFUSED" in capsys.readouterr().out
    assert main(["--git-ref", "no-such-ref", "--tables-dir", str(tables)]) == 2
