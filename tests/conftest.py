"""Shared fixtures: a session-scoped SparkSession and the local stack (kinesalite + moto server)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Spark's Python workers must run this interpreter, or they cannot import the project.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The folder says what a test needs: tests/spark a JVM, tests/integration servers too."""
    for item in items:
        parts = item.path.parts
        if "spark" in parts:
            item.add_marker(pytest.mark.spark)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from jobs.spark_session import build_session

    session = build_session(app_name="streamlake-tests", master="local[2]", shuffle_partitions=4)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One kinesalite + moto server for the whole test session; stopped at the end."""
    from local.stack import local_stack

    with local_stack(state_dir=tmp_path_factory.mktemp("stack")) as st:
        yield st


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated STREAMLAKE_HOME for one test."""
    monkeypatch.setenv("STREAMLAKE_HOME", str(tmp_path))
    return tmp_path
