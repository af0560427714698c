"""Idempotent creation of the AWS resources a run needs (streams, buckets, Glue databases)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from streamlake.errors import StackError

log = logging.getLogger(__name__)


def ensure_stream(kinesis: Any, name: str, *, shards: int, timeout: float = 30.0) -> str:
    """Create ``name`` with ``shards`` shards unless it exists; wait until ACTIVE; return its ARN."""
    try:
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        log.info("created stream %s with %d shards", name, shards)
    except kinesis.exceptions.ResourceInUseException:
        log.info("stream %s already exists", name)
    deadline = time.monotonic() + timeout
    while True:
        desc = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if desc["StreamStatus"] == "ACTIVE":
            return str(desc["StreamARN"])
        if time.monotonic() > deadline:
            raise StackError(f"stream {name} not ACTIVE after {timeout:.0f}s (status {desc['StreamStatus']})")
        time.sleep(0.1)


def ensure_bucket(s3: Any, name: str) -> None:
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=name)


def ensure_database(glue: Any, name: str, *, description: str = "") -> None:
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": name, "Description": description})
