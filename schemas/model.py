"""The declarative table model: what one YAML file in ``schemas/tables/`` says.

Everything else (Spark, Arrow, Glue, Athena, Redshift, JSON Schema, row rules, sample data) is
generated from these objects, so they are the single source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from schemas.types import DataType, parse_type

PartitionTransform = Literal["date", "hour", "identity"]


@dataclass(frozen=True)
class Rules:
    """Per-column rules that can be judged on one row (compiled to Spark expressions in quality/)."""

    enum: tuple[str | int, ...] | None = None
    min: float | None = None
    max: float | None = None
    regex: str | None = None
    max_length: int | None = None
    # Seconds of clock skew tolerated before an event time counts as "in the future".
    not_in_future: float | None = None
    # ISO date; event times before it are treated as corrupt (e.g. epoch-zero defaults).
    not_before: str | None = None

    def names(self) -> tuple[str, ...]:
        return tuple(k for k in _RULE_KEYS if getattr(self, k) is not None)


_RULE_KEYS = ("enum", "min", "max", "regex", "max_length", "not_in_future", "not_before")


@dataclass(frozen=True)
class Column:
    name: str
    type: DataType
    nullable: bool = True
    description: str = ""
    rules: Rules = field(default_factory=Rules)

    @property
    def type_text(self) -> str:
        return str(self.type)


@dataclass(frozen=True)
class Partition:
    """A Hive partition column derived from a source column (e.g. ``event_date`` from ``event_time``)."""

    name: str
    source: str
    transform: PartitionTransform = "date"

    @property
    def type(self) -> DataType:
        # Hour partitions are strings like 2026-11-23-17 so they sort and read naturally in paths.
        return DataType(kind="date") if self.transform == "date" else DataType(kind="string")


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    version: int
    event_type: str
    key: tuple[str, ...]
    event_time: str
    partitions: tuple[Partition, ...]
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def storage_columns(self) -> tuple[Column, ...]:
        """Columns stored in the Parquet files: the declared ones, then the lineage columns."""
        return self.columns + LINEAGE_COLUMNS

    @property
    def partition_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.partitions)


@dataclass(frozen=True)
class Stream:
    """A Kinesis stream whose events are routed to tables by the value of ``route_field``."""

    name: str
    description: str
    route_field: str
    tables: tuple[str, ...]


# Where each stored row came from; the job adds them, every generator includes them, and the
# exactness checks use them. Declared here once so the files and the DDL cannot disagree.
LINEAGE_COLUMNS: tuple[Column, ...] = (
    Column("_shard_id", parse_type("string"), False, "Kinesis shard the record was read from."),
    Column("_sequence_number", parse_type("string"), False, "Kinesis sequence number of the record."),
    Column("_sub_sequence_number", parse_type("long"), False, "Position inside a KPL aggregate (0 if none)."),
    Column("_arrival_time", parse_type("timestamp"), True, "Approximate arrival time at Kinesis."),
    Column("_batch_id", parse_type("long"), False, "Micro-batch that wrote the row."),
)
