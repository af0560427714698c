"""CLI argument checks (no stream needed) and the per-shard table."""

from __future__ import annotations

import pytest

from local.producer.cli import main, shard_table
from local.producer.send import SendResult


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bad-fraction", "1.5"], "--bad-fraction must be within [0, 1], got 1.5"),
        (["--duplicate-fraction", "-0.2"], "--duplicate-fraction must be within [0, 1], got -0.2"),
        (["--bad-fraction", "0.7", "--duplicate-fraction", "0.5"], "at most 1"),
        (["--count", "-1"], "--count must be a non-negative integer, got -1"),
        (["--rate", "0"], "--rate must be a positive number of records per second, got 0.0"),
        (["--aggregate", "0"], "--aggregate must be an integer within [1, 10000], got 0"),
        (["--create-shards", "0"], "--create-shards must be an integer within [1, 500], got 0"),
        (["--now", "yesterday"], "--now must be an RFC 3339 time"),
        (["--oversized-bytes", "5000000"], "--oversized-bytes must be within"),
        (["--count", "ten"], "--count: invalid int value: 'ten'"),
    ],
)
def test_bad_flags_fail_up_front(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    # An unreachable endpoint proves the check happens before any AWS call.
    with pytest.raises(SystemExit) as info:
        main([*argv, "--endpoint-url", "http://127.0.0.1:9"])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--stream",
        "--endpoint-url",
        "--region",
        "--count",
        "--seed",
        "--bad-fraction",
        "--duplicate-fraction",
        "--rate",
        "--aggregate",
        "--manifest",
        "--create-shards",
        "--no-progress",
    ):
        assert flag in out


def test_unreachable_endpoint_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--count", "3", "--endpoint-url", "http://127.0.0.1:9", "--no-progress", "--stream", "x"])
    assert code == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_shard_table() -> None:
    result = SendResult(
        sent=30,
        kinesis_records=30,
        put_calls=1,
        failed_retries=0,
        bytes=1,
        per_shard={"shardId-000000000000": 12, "shardId-000000000001": 18},
        seconds=1.0,
        rate=30.0,
    )
    assert shard_table(result).splitlines() == [
        "shard                 records",
        "--------------------  -------",
        "shardId-000000000000       12",
        "shardId-000000000001       18",
        "total                      30",
    ]
