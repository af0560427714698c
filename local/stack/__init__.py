"""The local stack: a Kinesis emulator and a moto server on loopback, bound to the caller's lifetime."""

from local.stack.local import LocalStack, local_stack, start
from local.stack.resources import ensure_bucket, ensure_database, ensure_stream

__all__ = ["LocalStack", "ensure_bucket", "ensure_database", "ensure_stream", "local_stack", "start"]
