"""Bad config fails before any record is read, with a clear message and a non-zero exit."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jobs.stream_ingest import main
from local.stack import ensure_stream
from local.stack.process import free_port

pytestmark = pytest.mark.integration


def _run(argv: list[str], caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    with caplog.at_level(logging.ERROR):
        code = main(argv)
    return code, caplog.text


def test_unknown_stream(stack, home: Path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    code, text = _run(["--stream", "no-such-stream", "--endpoint-url", stack.kinesis_endpoint], caplog)
    assert code == 2
    assert "no-such-stream" in text
    assert not (home / "lake").exists() or not any((home / "lake").rglob("*.parquet"))


def test_unreachable_endpoint(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, text = _run(["--stream", "s", "--endpoint-url", dead], caplog)
    assert code == 2
    assert "127.0.0.1" in text


def test_unwritable_lake(stack, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    # Nobody, not even root (CI runs as root), can create a directory under /proc.
    ensure_stream(stack.client("kinesis"), "cfg-ro", shards=1)
    argv = ["--stream", "cfg-ro", "--endpoint-url", stack.kinesis_endpoint, "--lake", "/proc/streamlake-lake"]
    code, text = _run(argv, caplog)
    assert code == 2 and "--lake" in text and "/proc/streamlake-lake" in text


def test_lake_path_blocked_by_a_file(stack, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    ensure_stream(stack.client("kinesis"), "cfg-file", shards=1)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    argv = ["--stream", "cfg-file", "--endpoint-url", stack.kinesis_endpoint, "--lake", str(blocker / "lake")]
    code, text = _run(argv, caplog)
    assert code == 2
    assert "--lake" in text and "writable directory" in text


def test_bad_flag_value(caplog: pytest.LogCaptureFixture) -> None:
    code, text = _run(["--trigger-seconds", "zero"], caplog)
    assert code == 2 and "--trigger-seconds" in text


def test_an_unparseable_starting_timestamp_fails_before_spark(caplog: pytest.LogCaptureFixture) -> None:
    argv = ["--starting-position", "AT_TIMESTAMP", "--starting-timestamp", "last tuesday"]
    code, text = _run(argv, caplog)
    assert code == 2 and "--starting-timestamp" in text and "'last tuesday'" in text
    assert "startingTimestamp" not in text  # the flag the user typed, not the source's option


def test_an_unreachable_s3_lake_is_a_configuration_error(stack, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    ensure_stream(stack.client("kinesis"), "cfg-s3", shards=1)
    argv = ["--stream", "cfg-s3", "--endpoint-url", stack.kinesis_endpoint, "--lake", "s3://no-such-bucket/lake"]
    code, text = _run([*argv, "--aws-endpoint-url", stack.aws_endpoint], caplog)
    assert code == 2 and "no-such-bucket" in text
