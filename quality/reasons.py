"""The vocabulary of quarantine reasons, shared by the job (which assigns them) and the producer's
manifest (which predicts them), so the exactness checks compare like with like.

A quarantined row carries every reason that applies, as strings of these shapes:

    invalid_utf8                      bytes are not UTF-8
    invalid_json                      not a JSON object (malformed, truncated, an array, a scalar)
    corrupt_aggregate                 starts with the KPL magic but does not de-aggregate
    oversized                         record larger than the job's max_record_bytes
    unknown_event_type                route field missing, or its value names no table
    type_mismatch:<column>            value present but not of the declared type
    missing_required:<column>         a non-nullable column is missing or null
    rule:<column>:<rule>              a declared rule failed (enum, min, max, regex, max_length,
                                      not_in_future, not_before)
"""

from __future__ import annotations

INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
CORRUPT_AGGREGATE = "corrupt_aggregate"
OVERSIZED = "oversized"
UNKNOWN_EVENT_TYPE = "unknown_event_type"


def type_mismatch(column: str) -> str:
    return f"type_mismatch:{column}"


def missing_required(column: str) -> str:
    return f"missing_required:{column}"


def rule(column: str, rule_name: str) -> str:
    return f"rule:{column}:{rule_name}"


# Quarantine rows whose table is unknown (not JSON, unknown event type) are filed under this name.
UNROUTED = "_unrouted"
