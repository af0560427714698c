"""The Glue catalog helpers against a real moto server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

import pytest
from botocore.exceptions import ClientError

from glue.catalog import MAX_PARTITIONS_PER_CALL, PartitionRegistrar, ensure_database, ensure_table
from schemas.glue import SCHEMA_HASH_KEY, schema_hash, table_input
from schemas.loader import load_table
from schemas.model import Column
from schemas.types import parse_type
from streamlake.errors import IncompatibleSchemaError, LakeError

pytestmark = pytest.mark.integration

_names = itertools.count()


@pytest.fixture
def glue(stack: Any) -> Any:
    return stack.client("glue")


@pytest.fixture
def database(glue: Any) -> str:
    name = f"lake_test_{next(_names)}"
    ensure_database(glue, name)
    return name


class CountingGlue:
    """Passes every call to the real client and counts ``batch_create_partition`` calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batch_calls: list[int] = []

    def batch_create_partition(self, **kwargs: Any) -> Any:
        self.batch_calls.append(len(kwargs["PartitionInputList"]))
        return self.inner.batch_create_partition(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ThrottlingGlue(CountingGlue):
    """Throttles the first ``whole`` calls outright, then fails ``entries`` partitions as an entry error."""

    def __init__(self, inner: Any, *, whole: int = 0, entries: int = 0, code: str = "ThrottlingException") -> None:
        super().__init__(inner)
        self.whole = whole
        self.entries = entries
        self.code = code

    def batch_create_partition(self, **kwargs: Any) -> Any:
        self.batch_calls.append(len(kwargs["PartitionInputList"]))
        if self.whole:
            self.whole -= 1
            raise ClientError({"Error": {"Code": self.code, "Message": "Rate exceeded"}}, "BatchCreatePartition")
        inputs = kwargs["PartitionInputList"]
        failed, passed = inputs[: self.entries], inputs[self.entries :]
        self.entries = 0
        resp = self.inner.batch_create_partition(**{**kwargs, "PartitionInputList": passed}) if passed else {}
        errors = list(resp.get("Errors", []))
        errors += [
            {"PartitionValues": p["Values"], "ErrorDetail": {"ErrorCode": self.code, "ErrorMessage": "x"}}
            for p in failed
        ]
        return {"Errors": errors}


def partitions_in_glue(glue: Any, database: str, table: str) -> dict[str, str]:
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
    return {"/".join(p["Values"]): p["StorageDescriptor"]["Location"] for page in pages for p in page["Partitions"]}


def registrar(glue: Any, database: str, **kwargs: Any) -> PartitionRegistrar:
    return PartitionRegistrar(
        glue,
        database=database,
        tables={"page_view": load_table("page_view")},
        location_for=lambda name: f"s3://lake-bucket/lake/{name}",
        sleep=lambda _s: None,
        **kwargs,
    )


def days(n: int, start: dt.date = dt.date(2026, 1, 1)) -> list[dict[str, object]]:
    return [{"event_date": start + dt.timedelta(days=i)} for i in range(n)]


def test_ensure_database_is_idempotent(glue: Any) -> None:
    ensure_database(glue, "lake_idem")
    ensure_database(glue, "lake_idem")
    assert glue.get_database(Name="lake_idem")["Database"]["Name"] == "lake_idem"


def test_ensure_table_creates_then_leaves_an_equal_table_alone(glue: Any, database: str) -> None:
    table = load_table("page_view")
    assert ensure_table(glue, database=database, table=table, location="s3://lake-bucket/lake/page_view") == "created"
    stored = glue.get_table(DatabaseName=database, Name="page_view")["Table"]
    assert stored["Parameters"][SCHEMA_HASH_KEY] == schema_hash(table)
    assert stored["StorageDescriptor"]["Location"] == "s3://lake-bucket/lake/page_view/"
    assert [k["Name"] for k in stored["PartitionKeys"]] == ["event_date"]

    assert ensure_table(glue, database=database, table=table, location="s3://lake-bucket/lake/page_view") == "unchanged"


def test_ensure_table_applies_a_compatible_change_to_table_and_partitions(glue: Any, database: str) -> None:
    table = load_table("page_view")
    location = "s3://lake-bucket/lake/page_view"
    ensure_table(glue, database=database, table=table, location=location)
    registrar(glue, database).register("page_view", days(2))
    v2 = dataclasses.replace(
        table, version=table.version + 1, columns=(*table.columns, Column("coupon", parse_type("string")))
    )

    assert ensure_table(glue, database=database, table=v2, location=location) == "updated"

    stored = glue.get_table(DatabaseName=database, Name="page_view")["Table"]
    assert stored["Parameters"][SCHEMA_HASH_KEY] == schema_hash(v2)
    assert "coupon" in [c["Name"] for c in stored["StorageDescriptor"]["Columns"]]
    parts = glue.get_partitions(DatabaseName=database, TableName="page_view")["Partitions"]
    assert len(parts) == 2
    for p in parts:
        assert "coupon" in [c["Name"] for c in p["StorageDescriptor"]["Columns"]]
        assert p["StorageDescriptor"]["Location"] == f"{location}/event_date={p['Values'][0]}/"
    assert ensure_table(glue, database=database, table=v2, location=location) == "unchanged"


def test_ensure_table_refuses_an_incompatible_change_and_changes_nothing(glue: Any, database: str) -> None:
    table = load_table("page_view")
    ensure_table(glue, database=database, table=table, location="s3://lake-bucket/lake/page_view")
    retyped = tuple(
        dataclasses.replace(c, type=parse_type("string")) if c.name == "duration_ms" else c for c in table.columns
    )
    changed = dataclasses.replace(table, version=table.version + 1, columns=retyped)

    with pytest.raises(IncompatibleSchemaError, match=r"duration_ms.*long to string"):
        ensure_table(glue, database=database, table=changed, location="s3://lake-bucket/lake/page_view")

    stored = glue.get_table(DatabaseName=database, Name="page_view")["Table"]
    assert stored["Parameters"][SCHEMA_HASH_KEY] == schema_hash(table)
    assert {c["Name"]: c["Type"] for c in stored["StorageDescriptor"]["Columns"]}["duration_ms"] == "bigint"


def test_a_table_without_a_stored_declaration_is_never_changed(glue: Any, database: str) -> None:
    table = load_table("page_view")
    glue.create_table(DatabaseName=database, TableInput=table_input(table, location="s3://lake-bucket/pv"))
    v2 = dataclasses.replace(
        table, version=table.version + 1, columns=(*table.columns, Column("coupon", parse_type("string")))
    )

    with pytest.raises(IncompatibleSchemaError, match=r"added \['coupon'\].*streamlake.declaration"):
        ensure_table(glue, database=database, table=v2, location="s3://lake-bucket/pv")


@pytest.fixture
def page_view_table(glue: Any, database: str) -> str:
    ensure_table(glue, database=database, table=load_table("page_view"), location="s3://lake-bucket/lake/page_view")
    return database


def test_registers_once_and_known_partitions_make_no_call(glue: Any, page_view_table: str) -> None:
    counting = CountingGlue(glue)
    reg = registrar(counting, page_view_table)

    assert reg.register("page_view", days(3)) == 3
    assert counting.batch_calls == [3]
    assert partitions_in_glue(glue, page_view_table, "page_view") == {
        f"2026-01-0{i}": f"s3://lake-bucket/lake/page_view/event_date=2026-01-0{i}/" for i in (1, 2, 3)
    }

    assert reg.register("page_view", days(3)) == 0
    assert reg.register("page_view", [{"event_date": "2026-01-02"}]) == 0
    assert counting.batch_calls == [3]  # steady state: no Glue call

    assert reg.register("page_view", days(4)) == 1  # only the new one is sent
    assert counting.batch_calls == [3, 1]


def test_existing_partitions_count_as_success(glue: Any, page_view_table: str) -> None:
    registrar(glue, page_view_table).register("page_view", days(2))
    counting = CountingGlue(glue)
    fresh = registrar(counting, page_view_table)  # e.g. after a driver restart: empty memory

    assert fresh.register("page_view", days(3)) == 3
    assert counting.batch_calls == [3]
    assert len(partitions_in_glue(glue, page_view_table, "page_view")) == 3
    assert fresh.register("page_view", days(3)) == 0 and counting.batch_calls == [3]


def test_more_than_100_partitions_are_chunked(glue: Any, page_view_table: str) -> None:
    counting = CountingGlue(glue)
    assert registrar(counting, page_view_table).register("page_view", days(250)) == 250
    assert counting.batch_calls == [MAX_PARTITIONS_PER_CALL, MAX_PARTITIONS_PER_CALL, 50]
    assert len(partitions_in_glue(glue, page_view_table, "page_view")) == 250


def test_throttled_calls_are_retried(glue: Any, page_view_table: str) -> None:
    throttled = ThrottlingGlue(glue, whole=2)
    assert registrar(throttled, page_view_table).register("page_view", days(3)) == 3
    assert throttled.batch_calls == [3, 3, 3]
    assert len(partitions_in_glue(glue, page_view_table, "page_view")) == 3


def test_throttled_entries_are_retried_alone(glue: Any, page_view_table: str) -> None:
    throttled = ThrottlingGlue(glue, entries=2)
    assert registrar(throttled, page_view_table).register("page_view", days(5)) == 5
    assert throttled.batch_calls == [5, 2]
    assert len(partitions_in_glue(glue, page_view_table, "page_view")) == 5


def test_persistent_throttling_gives_up_with_a_lake_error(glue: Any, page_view_table: str) -> None:
    throttled = ThrottlingGlue(glue, whole=100)
    reg = registrar(throttled, page_view_table, max_attempts=3)
    with pytest.raises(LakeError, match="page_view"):
        reg.register("page_view", days(1))
    assert throttled.batch_calls == [1, 1, 1]
    assert reg.known("page_view") == frozenset()


def test_other_entry_errors_are_raised(glue: Any, page_view_table: str) -> None:
    broken = ThrottlingGlue(glue, entries=1, code="InvalidInputException")
    with pytest.raises(LakeError, match="InvalidInputException"):
        registrar(broken, page_view_table).register("page_view", days(2))


def test_outputs_without_a_table_are_skipped(glue: Any, page_view_table: str) -> None:
    counting = CountingGlue(glue)
    assert registrar(counting, page_view_table).register("_quarantine/page_view", days(2)) == 0
    assert counting.batch_calls == []


def test_bad_partition_values_are_refused(glue: Any, page_view_table: str) -> None:
    with pytest.raises(LakeError, match="event_date"):
        registrar(glue, page_view_table).register("page_view", [{"day": "2026-01-01"}])
