"""Typed, frozen job configs built from CLI flags and ``STREAMLAKE_*`` environment variables.

A job declares a frozen dataclass whose fields carry :func:`option` metadata; :func:`parse` builds
the ``--help`` text, applies precedence (explicit flag > environment > default), converts types,
runs each field's validator and raises :class:`ConfigError` naming the key and the bad value.
The environment is read when ``parse`` is called, never at import.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from streamlake.errors import ConfigError

T = TypeVar("T")
ENV_PREFIX = "STREAMLAKE_"
Validator = Callable[[Any], str | None]  # returns an error text ("expected ...") or None


def option(
    help: str,
    *,
    default: Any = dataclasses.MISSING,
    choices: Sequence[str] | None = None,
    validate: Validator | None = None,
    flag: str | None = None,
    env: str | None = None,
) -> Any:
    """Declare a config field: its help text, default, allowed values and validator."""
    meta = {"help": help, "choices": choices, "validate": validate, "flag": flag, "env": env}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def positive(value: Any) -> str | None:
    return None if value is None or value > 0 else "a number > 0"


def non_negative(value: Any) -> str | None:
    return None if value is None or value >= 0 else "a number >= 0"


def fraction(value: Any) -> str | None:
    return None if value is None or 0.0 <= value <= 1.0 else "a number within [0, 1]"


def _flag(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _env_name(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get("env") or ENV_PREFIX + field.name.upper()


def _base_type(hint: Any) -> tuple[type, bool]:
    """(type, optional) for hints like ``int``, ``str | None``, ``float | None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    if typing.get_origin(hint) is typing.Literal:
        return str, False
    return hint, False


def _convert(key: str, raw: str, kind: type) -> Any:
    if kind is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(key, raw, "a boolean (true/false, 1/0, yes/no)")
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(key, raw, f"a{'n integer' if kind is int else ' number'}") from None
    return raw


def build_parser(cls: type[Any], *, prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # Glue's getResolvedOptions also refuses abbreviations
    )
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind, _ = _base_type(hints[field.name])
        help_text = field.metadata.get("help", "")
        help_text += f" [env {_env_name(field)}]"
        if field.metadata.get("choices"):
            help_text += f" (one of: {', '.join(field.metadata['choices'])})"
        default = None if field.default is dataclasses.MISSING else field.default
        if kind is bool:
            parser.add_argument(
                _flag(field),
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text + f" (default: {default})",
            )
        else:
            parser.add_argument(
                _flag(field),
                dest=field.name,
                default=None,
                metavar=field.name.upper(),
                help=help_text + f" (default: {default})",
            )
    return parser


def parse(
    cls: type[T],
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    prog: str,
    description: str,
) -> T:
    """Parse ``argv`` and ``env`` into a frozen ``cls``; raise ConfigError before any work starts."""
    env = os.environ if env is None else env
    parser = build_parser(cls, prog=prog, description=description)
    args = vars(parser.parse_args(argv))
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind, optional = _base_type(hints[field.name])
        key = _flag(field)
        explicit = args.get(field.name)
        if explicit is not None:
            value = explicit if kind is bool else _convert(key, explicit, kind)
        elif _env_name(field) in env and env[_env_name(field)] != "":
            key = _env_name(field)
            value = _convert(key, env[key], kind)
        elif field.default is not dataclasses.MISSING:
            value = field.default
        elif optional:
            value = None
        else:
            raise ConfigError(key, None, f"a value (set {_flag(field)} or {_env_name(field)})")
        choices = field.metadata.get("choices")
        if choices and value is not None and value not in choices:
            raise ConfigError(key, value, f"one of {', '.join(choices)}")
        validator = field.metadata.get("validate")
        if validator is not None:
            problem = validator(value)
            if problem:
                raise ConfigError(key, value, problem)
        values[field.name] = value
    return cls(**values)
