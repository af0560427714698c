"""The write-once end log: where each shard's read in each epoch ended.

Key: ``{metadataPath}/{run}/{epoch:012d}/{shard}.json``. The first task attempt to finish a
partition *claims* the end with a put that fails if the key exists; every later attempt (retry,
speculative copy, a ``foreachBatch`` that runs two actions, a replay after a crash) reads exactly
to the claimed end. ``run`` comes from the offset, so a new checkpoint that reuses the same
``metadataPath`` never sees another run's ends.

Backends: a local/shared file system (``/path`` or ``file:///path``) and S3 (``s3://bucket/prefix``,
conditional ``PutObject(IfNoneMatch="*")``). Reads are by key only; listing is used only to delete
old epochs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from streamlake import aws
from streamlake.errors import SourceError

log = logging.getLogger(__name__)


def entry_key(run: str, epoch: int, shard_id: str) -> str:
    """Relative key of one end-log entry."""
    return f"{run}/{epoch:012d}/{shard_id}.json"


class EndLog(Protocol):
    """A key/value store whose values are written at most once."""

    location: str

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry under ``key``, or None if nobody has claimed it."""
        ...

    def put_if_absent(self, key: str, entry: dict[str, Any]) -> bool:
        """Write ``entry`` unless ``key`` exists; True when this call wrote it."""
        ...

    def delete_epochs_before(self, run: str, epoch: int) -> int:
        """Delete entries of ``run`` with an epoch below ``epoch``; return how many epochs went."""
        ...


def claim(end_log: EndLog, key: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Put ``entry`` once and return the entry that holds the key afterwards (ours or the winner's)."""
    if end_log.put_if_absent(key, entry):
        return entry
    winner = end_log.get(key)
    if winner is None:  # deleted between our put and get: only retention can do that
        raise SourceError(f"end-log entry {end_log.location}/{key} vanished while claiming it")
    return winner


def open_end_log(
    path: str, *, s3_endpoint_url: str | None = None, region: str | None = None, s3_client: Any = None
) -> EndLog:
    """The end log at ``path``: ``s3://bucket/prefix`` (or ``s3a://``) or a file-system directory."""
    for scheme in ("s3://", "s3a://", "s3n://"):
        if path.startswith(scheme):
            bucket, _, prefix = path[len(scheme) :].partition("/")
            if not bucket:
                raise SourceError(f"metadataPath {path!r} names no bucket")
            client = s3_client or _s3_client(s3_endpoint_url, region)
            return S3EndLog(client, bucket, prefix.strip("/"))
    if path.startswith("file://"):
        path = path[len("file://") :]
    return LocalEndLog(Path(path))


_s3_clients: dict[tuple[str | None, str | None], Any] = {}


def _s3_client(endpoint_url: str | None, region: str | None) -> Any:
    # One client per process and endpoint: tasks open the end log once each, clients are costly.
    key = (endpoint_url, region)
    if key not in _s3_clients:
        _s3_clients[key] = aws.client("s3", endpoint_url=endpoint_url, region=region)
    return _s3_clients[key]


def _encode(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _decode(location: str, raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise SourceError(f"end-log entry {location} is not JSON: {raw[:100]!r}") from exc
    if not isinstance(value, dict):
        raise SourceError(f"end-log entry {location} is not a JSON object")
    return value


class LocalEndLog:
    """End log on a file system shared by driver and executors (local runs, NFS, EFS)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.root / key
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return _decode(str(path), raw)

    def put_if_absent(self, key: str, entry: dict[str, Any]) -> bool:
        final = self.root / key
        final.parent.mkdir(parents=True, exist_ok=True)
        # O_CREAT|O_EXCL on the final name alone would let a crash leave an empty, unreadable
        # claim; so the bytes go to a private O_EXCL temp file first and link(2) publishes them,
        # which is atomic and fails with EEXIST exactly like O_EXCL.
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_encode(entry))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, final)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                return self._put_without_links(final, entry)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    @staticmethod
    def _put_without_links(final: Path, entry: dict[str, Any]) -> bool:
        # File systems without hard links (some FUSE mounts): plain O_CREAT|O_EXCL.
        try:
            fd = os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(_encode(entry))
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def delete_epochs_before(self, run: str, epoch: int) -> int:
        run_dir = self.root / run
        if not run_dir.is_dir():
            return 0
        removed = 0
        for child in run_dir.iterdir():
            if child.name.isdigit() and int(child.name) < epoch:
                shutil.rmtree(child, ignore_errors=True)
                removed += 1
        return removed


class S3EndLog:
    """End log on S3: conditional writes make the first put win (no last-writer-wins)."""

    _CONFLICT_RETRIES = 5

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.location = f"s3://{bucket}/{prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return _decode(f"{self.location}/{key}", resp["Body"].read())

    def put_if_absent(self, key: str, entry: dict[str, Any]) -> bool:
        for attempt in range(self._CONFLICT_RETRIES):
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=_encode(entry),
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
                return True
            except self.client.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "PreconditionFailed":
                    return False
                # 409: another conditional put on the same key is in flight; the loser retries.
                if code != "ConditionalRequestConflict":
                    raise SourceError(f"cannot write end-log entry {self.location}/{key}: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))
        if self.get(key) is not None:
            return False
        raise SourceError(f"end-log entry {self.location}/{key}: conditional writes kept conflicting")

    def delete_epochs_before(self, run: str, epoch: int) -> int:
        run_prefix = self._key(f"{run}/")
        doomed: list[dict[str, str]] = []
        epochs: set[int] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=run_prefix):
            for obj in page.get("Contents", []):
                part = obj["Key"][len(run_prefix) :].split("/", 1)[0]
                if part.isdigit() and int(part) < epoch:
                    doomed.append({"Key": obj["Key"]})
                    epochs.add(int(part))
        for i in range(0, len(doomed), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": doomed[i : i + 1000], "Quiet": True})
        return len(epochs)
