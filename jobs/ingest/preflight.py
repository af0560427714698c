"""Checks that run before any record is read, so bad config fails fast with a clear message."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from streamlake.errors import ConfigError, LakeError


def check_writable_dir(key: str, path: str) -> None:
    """``path`` (a local directory, created if missing) accepts a file."""
    local = Path(path.removeprefix("file://"))
    try:
        local.mkdir(parents=True, exist_ok=True)
        probe = local / f".streamlake-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(key, path, f"a writable directory ({exc.strerror or exc})") from exc
    if not os.access(local, os.W_OK):
        raise ConfigError(key, path, "a writable directory")


def check_s3_prefix(key: str, uri: str, s3: Any) -> None:
    bucket = uri.removeprefix("s3://").split("/", 1)[0]
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:  # botocore raises several unrelated types here
        raise LakeError(f"{key}={uri!r}: bucket {bucket!r} is not reachable or does not exist ({exc})") from exc


def check_lake(uri: str, *, s3: Any | None) -> None:
    if uri.startswith("s3://"):
        if s3 is None:
            raise ConfigError("--lake", uri, "an S3 client for s3:// lakes")
        check_s3_prefix("--lake", uri, s3)
    elif "://" in uri and not uri.startswith("file://"):
        raise ConfigError("--lake", uri, "a local directory, file:// or s3:// URI")
    else:
        check_writable_dir("--lake", uri)
