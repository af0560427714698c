"""``python -m schemas``: list and generate, with clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from pyspark.sql import types as T

from schemas import load_table
from schemas.__main__ import main
from schemas.glue import table_input
from schemas.json_schema import json_schema
from schemas.spark import spark_schema


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse errors and --help
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["table", "version", "event_type", "columns", "partitions"]
    assert [line.split()[0] for line in lines[1:]] == ["add_to_cart", "order_placed", "page_view", "payment"]
    assert lines[3].split() == ["page_view", "v1", "page_view", "10", "event_date=date(event_time)"]


def test_generate_spark_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "generate", "--table", "payment", "--format", "spark", "--lineage")
    assert code == 0
    assert T.StructType.fromJson(json.loads(out)) == spark_schema(load_table("payment"), include_lineage=True)


def test_generate_glue_and_jsonschema_are_the_library_output(capsys: pytest.CaptureFixture[str]) -> None:
    table = load_table("order_placed")
    code, out, _ = run(capsys, "generate", "--table", "order_placed", "--format", "glue", "--location", "s3://l/o")
    assert code == 0 and json.loads(out) == table_input(table, location="s3://l/o")
    code, out, _ = run(capsys, "generate", "--table", "order_placed", "--format", "jsonschema")
    assert code == 0 and json.loads(out) == json_schema(table)


def test_generate_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "generate",
        "--table",
        "page_view",
        "--format",
        "athena",
        "--location",
        "s3://l/pv/",
        "--projection",
    ]
    code, out, _ = run(capsys, *args)
    assert code == 0 and "'projection.enabled'='true'" in out
    sqlglot.parse_one(out, read="athena")
    code, out, _ = run(capsys, "generate", "--table", "page_view", "--format", "redshift", "--schema", "dw")
    assert code == 0 and out.startswith('CREATE TABLE IF NOT EXISTS "dw"."page_view" (')


def test_generate_arrow(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "generate", "--table", "payment", "--format", "arrow", "--no-lineage")
    assert code == 0
    assert out.splitlines()[0] == "event_id: string not null"
    assert "_batch_id" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--table", "nope", "--format", "spark"], "unknown table 'nope'; declared tables:"),
        (["generate", "--table", "payment", "--format", "glue"], "--format glue needs --location"),
        (["generate", "--table", "payment", "--format", "xml"], "invalid choice: 'xml'"),
        (["generate", "--table", "payment", "--format", "athena", "--location", "bucket/x"], "location"),
        (["generate", "--table", "payment", "--format", "redshift", "--schema", "a;b"], "schema='a;b'"),
        ([], "required"),
    ],
)
def test_errors_exit_2_with_a_message(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err


def test_help_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "schemas", "generate", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "--format {spark,arrow,glue,athena,redshift,jsonschema}" in done.stdout
