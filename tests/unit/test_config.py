"""Config precedence (flag > env > default), type conversion and errors that name key and value."""

from __future__ import annotations

import pytest

from jobs.ingest.config import parse_config
from streamlake.errors import ConfigError, StreamlakeError


def test_defaults_resolve_under_streamlake_home(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = parse_config([], env={"STREAMLAKE_HOME": str(tmp_path)})
    assert config.stream == "shop-events"
    assert config.trigger_seconds == 5.0
    assert config.starting_position == "TRIM_HORIZON"
    assert config.until_caught_up is False


def test_flag_beats_env_beats_default() -> None:
    env = {"STREAMLAKE_STREAM": "from-env", "STREAMLAKE_TRIGGER_SECONDS": "7", "STREAMLAKE_UNTIL_CAUGHT_UP": "yes"}
    from_env = parse_config([], env=env)
    assert (from_env.stream, from_env.trigger_seconds, from_env.until_caught_up) == ("from-env", 7.0, True)
    from_flag = parse_config(["--stream", "from-flag", "--trigger-seconds", "1.5", "--no-until-caught-up"], env=env)
    assert (from_flag.stream, from_flag.trigger_seconds, from_flag.until_caught_up) == ("from-flag", 1.5, False)


def test_config_is_frozen() -> None:
    config = parse_config([], env={})
    with pytest.raises(AttributeError):
        config.stream = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("argv", "env", "key", "fragment"),
    [
        (["--trigger-seconds", "soon"], {}, "--trigger-seconds", "a number"),
        (["--trigger-seconds", "-1"], {}, "--trigger-seconds", "> 0"),
        ([], {"STREAMLAKE_MAX_RECORDS_PER_SHARD": "lots"}, "STREAMLAKE_MAX_RECORDS_PER_SHARD", "an integer"),
        (["--starting-position", "EARLIEST"], {}, "--starting-position", "TRIM_HORIZON, LATEST, AT_TIMESTAMP"),
        (["--starting-position", "AT_TIMESTAMP"], {}, "--starting-timestamp", "AT_TIMESTAMP"),
        (["--dedup-window", "an hour"], {}, "--dedup-window", "1 hour"),
        (
            ["--starting-position", "AT_TIMESTAMP", "--starting-timestamp", "yesterday"],
            {},
            "--starting-timestamp",
            "ISO-8601",
        ),
        (["--starting-timestamp", "2026-11-01T00:00:00Z"], {}, "--starting-timestamp", "unless --starting-position"),
        ([], {"STREAMLAKE_UNTIL_CAUGHT_UP": "maybe"}, "STREAMLAKE_UNTIL_CAUGHT_UP", "boolean"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_valid(argv, env, key, fragment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as err:
        parse_config(argv, env=env)
    assert err.value.key == key
    assert fragment in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, StreamlakeError)


def test_help_lists_every_flag_with_its_env_var(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exit_:
        parse_config(["--help"], env={})
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--stream",
        "--endpoint-url",
        "--lake",
        "--checkpoint",
        "--trigger-seconds",
        "--starting-position",
        "--until-caught-up",
        "STREAMLAKE_KINESIS_ENDPOINT",
    ):
        assert flag in out


def test_a_starting_timestamp_is_parsed_before_any_work() -> None:
    config = parse_config(["--starting-position", "AT_TIMESTAMP", "--starting-timestamp", "2026-11-01T00:00:00Z"])
    assert config.starting_timestamp == "2026-11-01T00:00:00Z"
