"""The write-once end log: where each shard's read in each epoch ended.

Key: ``{metadataPath}/{run}/{epoch:012d}/{shard}.json``. The first task attempt to finish a
partition *claims* the end with a put that fails if the key exists; every later attempt (retry,
speculative copy, a ``foreachBatch`` that runs two actions, a replay after a crash) reads exactly
to the claimed end. ``run`` comes from the offset, so a new checkpoint that reuses the same
``metadataPath`` never sees another run's ends.

Storage is the lake's own :class:`jobs.lake.fs.LakeFS` (a local/shared directory, or S3 with
conditional ``PutObject(IfNoneMatch="*")``), so there is one write-once implementation in the
project. Reads are by key only; listing is used only to delete old epochs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from jobs.lake.fs import LakeFS, LocalFS, filesystem_for, is_s3
from streamlake import aws
from streamlake.errors import SourceError

log = logging.getLogger(__name__)


def entry_key(run: str, epoch: int, shard_id: str) -> str:
    """Relative key of one end-log entry."""
    return f"{run}/{epoch:012d}/{shard_id}.json"


class EndLog:
    """A key/value store whose values are written at most once, on a :class:`LakeFS`."""

    def __init__(self, fs: LakeFS) -> None:
        self.fs = fs
        self.location = fs.uri.rstrip("/")

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry under ``key``, or None if nobody has claimed it."""
        try:
            raw = self.fs.read_bytes(key)
        except FileNotFoundError:
            return None
        return _decode(f"{self.location}/{key}", raw)

    def put_if_absent(self, key: str, entry: dict[str, Any]) -> bool:
        """Write ``entry`` unless ``key`` exists; True when this call wrote it."""
        try:
            return self.fs.put_if_absent(key, _encode(entry))
        except Exception as exc:  # botocore and OS errors alike: name the entry
            raise SourceError(f"cannot write end-log entry {self.location}/{key}: {exc}") from exc

    def delete_epochs_before(self, run: str, epoch: int) -> int:
        """Delete entries of ``run`` with an epoch below ``epoch``; return how many epochs went."""
        doomed: dict[int, list[str]] = {}
        for info in self.fs.list(f"{run}/"):
            part = info.key[len(run) + 1 :].split("/", 1)[0]
            if part.isdigit() and int(part) < epoch:
                doomed.setdefault(int(part), []).append(info.key)
        if isinstance(self.fs, LocalFS):
            for old in doomed:  # whole directories, so empty epoch folders do not pile up
                self.fs.delete_prefix(f"{run}/{old:012d}")
        else:
            self.fs.delete_many([key for keys in doomed.values() for key in keys])
        return len(doomed)


class LocalEndLog(EndLog):
    """End log on a file system shared by driver and executors (local runs, NFS, EFS)."""

    def __init__(self, root: Path) -> None:
        super().__init__(LocalFS(str(root)))


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
    """The end log at ``path``: ``s3://bucket/prefix`` (``s3a://``, ``s3n://``) or a directory."""
    if path.startswith("s3n://"):
        path = "s3://" + path[len("s3n://") :]
    if is_s3(path):
        if not path.split("://", 1)[1].split("/", 1)[0]:
            raise SourceError(f"metadataPath {path!r} names no bucket")
        return EndLog(filesystem_for(path, s3_client=s3_client or _s3_client(s3_endpoint_url, region)))
    return LocalEndLog(Path(path.removeprefix("file://")))


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
