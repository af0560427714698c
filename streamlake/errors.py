"""The one exception root of the project.

Every error streamlake raises derives from :class:`StreamlakeError`; where an error resembles a
builtin it also inherits that builtin, so callers may catch either (the pyspark 4 pattern).
Messages say what was wrong and what would be valid.
"""

from __future__ import annotations


class StreamlakeError(Exception):
    """Root of every error raised by streamlake."""


class ConfigError(StreamlakeError, ValueError):
    """A configuration value is missing or invalid; raised before any work starts."""

    def __init__(self, key: str, value: object, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"invalid config {key}={value!r}: expected {expected}")


class PreflightError(ConfigError):
    """A check before any work found the config pointing at something missing or unreachable
    (an unknown stream, an endpoint or bucket that does not answer). Exit code 2, like any
    configuration error."""

    def __init__(self, message: str) -> None:
        StreamlakeError.__init__(self, message)
        self.key, self.value, self.expected = "", None, message


class SchemaError(StreamlakeError, ValueError):
    """A table declaration in schemas/ is malformed."""


class IncompatibleSchemaError(SchemaError):
    """A new schema version cannot replace the previous one without a declared migration."""


class SourceError(StreamlakeError, RuntimeError):
    """The Kinesis source cannot continue (unknown stream, data loss, conflicting end log)."""


class DataLossError(SourceError):
    """Records that should have been read are gone (e.g. an undrained shard vanished)."""


class LakeError(StreamlakeError, OSError):
    """The lake writer could not stage, publish or commit a batch."""


class StackError(StreamlakeError, RuntimeError):
    """The local stack (Kinesis emulator, moto server) could not be started or reached."""
