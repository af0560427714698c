"""The unit the producer makes, sends and records in the manifest: one Kinesis user record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

BadKind = Literal[
    "malformed_json",
    "truncated_json",
    "invalid_utf8",
    "type_mismatch",
    "missing_required",
    "unknown_event_type",
    "out_of_range",
    "bad_enum",
    "future_time",
    "past_time",
    "oversized",
    "corrupt_aggregate",
]
Kind = Literal["valid", "duplicate"] | BadKind

# Derived from the Literal so the two can never disagree.
BAD_KINDS: tuple[BadKind, ...] = get_args(BadKind)


@dataclass(slots=True)
class ProducedRecord:
    """One user record plus what the pipeline is expected to do with it.

    ``expected_reasons`` is empty for ``valid`` and ``duplicate`` records and lists the exact
    quarantine reasons (strings from :mod:`quality.reasons`) for bad ones. ``shard_id``,
    ``sequence_number`` and ``sub_sequence_number`` are filled in by :func:`send`; the
    sub-sequence number is the position inside a KPL aggregate, 0 when not aggregated.
    """

    index: int
    data: bytes
    partition_key: str
    kind: Kind
    table: str | None
    event_id: str | None
    expected_reasons: tuple[str, ...] = ()
    shard_id: str | None = None
    sequence_number: str | None = None
    sub_sequence_number: int | None = None
