"""tests/unit is pure: no JVM, no server. These overrides make a slip fail loudly instead of slowly."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def spark() -> None:
    pytest.fail("tests/unit starts no JVM: a test that needs Spark belongs in tests/spark")


@pytest.fixture(scope="session")
def stack() -> None:
    pytest.fail("tests/unit starts no server: a test that needs the emulator or moto belongs in tests/integration")


@pytest.fixture(autouse=True)
def _no_spark_context() -> Iterator[None]:
    """Catch a test that builds a SparkSession itself instead of asking for the fixture.

    In a full run the session's shared Spark may already be up (started by tests/spark); only a
    context that appears during this test is this test's doing.
    """
    before = _active_context()
    yield
    if before is None and _active_context() is not None:
        pytest.fail("a unit test started a SparkContext; move it to tests/spark")


def _active_context() -> object | None:
    pyspark = sys.modules.get("pyspark")
    return None if pyspark is None else pyspark.SparkContext._active_spark_context
