"""The test-data producer: seeded shop events (valid, bad, duplicate) put on Kinesis, with a manifest.

Library API::

    records = generate_events(10_000, seed=7, now=datetime.now(UTC))   # pure, no I/O
    result = send(records, kinesis_client=client, stream="shop-events")  # fills shard/sequence
    write_manifest(records, "var/manifests/run.jsonl")
    expected = expected_outcome(load_manifest("var/manifests/run.jsonl"))

The CLI is ``python -m local.producer --help`` (``make produce ARGS=...``).
"""

from local.producer.generate import DEFAULT_BAD_WEIGHTS, generate_events, iter_events
from local.producer.manifest import (
    Expected,
    ManifestRow,
    expected_outcome,
    load_manifest,
    open_manifest,
    write_manifest,
)
from local.producer.record import BAD_KINDS, BadKind, Kind, ProducedRecord
from local.producer.send import RetryPolicy, SendError, SendResult, send

__all__ = [
    "BAD_KINDS",
    "DEFAULT_BAD_WEIGHTS",
    "BadKind",
    "Expected",
    "Kind",
    "ManifestRow",
    "ProducedRecord",
    "RetryPolicy",
    "SendError",
    "SendResult",
    "expected_outcome",
    "generate_events",
    "iter_events",
    "load_manifest",
    "open_manifest",
    "send",
    "write_manifest",
]
