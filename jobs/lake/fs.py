"""A tiny file-system abstraction for the lake: a local directory or an S3 prefix.

The lake writer, the readers and compaction only talk to :class:`LakeFS`, so the commit protocol is
the same on both (the pyiceberg FileIO boundary: no storage SDK outside this module). Keys are
relative to the file system's root and always use ``/``.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from streamlake import aws
from streamlake.errors import ConfigError, LakeError

log = logging.getLogger(__name__)

# S3 DeleteObjects accepts at most this many keys per call.
_DELETE_CHUNK = 1000


@dataclass(frozen=True)
class FileInfo:
    """One stored object: its key relative to the FS root, its size and its last-modified time."""

    key: str
    size: int
    mtime: float


class LakeFS(ABC):
    """Storage for the lake or its staging area, rooted at :attr:`uri`."""

    uri: str

    @abstractmethod
    def list(self, prefix: str = "") -> list[FileInfo]:
        """Every file under the directory ``prefix`` (recursive), sorted by key; ``[]`` if none."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The whole content of ``key``; raises ``FileNotFoundError`` when it does not exist."""

    @abstractmethod
    def read_tail(self, key: str, size: int, nbytes: int) -> bytes:
        """The last ``nbytes`` bytes of ``key`` (whose total size is ``size``)."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write ``key`` atomically: a reader sees the old content, the new one, or nothing."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if it does not exist; ``False`` when it already did."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error (deletes are replayed)."""

    @abstractmethod
    def put_from(self, src: LakeFS, src_key: str, key: str, *, move: bool = True) -> None:
        """Copy (or move, when ``move``) ``src_key`` of ``src`` to ``key`` here, overwriting it."""

    def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.delete(key)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every file under ``prefix``."""
        self.delete_many([f.key for f in self.list(prefix)])

    def uri_for(self, key: str) -> str:
        """The full URI of ``key`` (what a catalog or a reader is given)."""
        return f"{self.uri.rstrip('/')}/{key}" if key else self.uri


class LocalFS(LakeFS):
    """A local directory. Atomic writes go through a hidden temp file and ``os.replace``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def path(self, key: str) -> Path:
        return self.root / key if key else self.root

    def spark_path(self, key: str) -> str:
        return self.path(key).as_uri()

    def list(self, prefix: str = "") -> list[FileInfo]:
        base = self.path(prefix)
        if not base.is_dir():
            return []
        out: list[FileInfo] = []
        for dirpath, _dirs, files in os.walk(base):
            for fname in files:
                full = Path(dirpath) / fname
                try:
                    st = full.stat()
                except FileNotFoundError:  # deleted while we walked (a concurrent sweep or publish)
                    continue
                out.append(FileInfo(full.relative_to(self.root).as_posix(), st.st_size, st.st_mtime))
        return sorted(out, key=lambda f: f.key)

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def read_tail(self, key: str, size: int, nbytes: int) -> bytes:
        with self.path(key).open("rb") as fh:
            fh.seek(max(0, size - nbytes))
            return fh.read()

    def _temp_beside(self, target: Path) -> Path:
        # A dot-prefixed name in the same directory: same file system (so os.replace is atomic) and
        # invisible to Athena/DuckDB-style listers that skip hidden files.
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        tmp = self._temp_beside(target)
        try:
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        target = self.path(key)
        tmp = self._temp_beside(target)
        try:
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            # link() fails with EEXIST atomically, like O_CREAT|O_EXCL, but the target appears with its
            # full content: a crash can never leave an empty marker that looks committed.
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                return self._put_if_absent_excl(target, data)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _put_if_absent_excl(target: Path, data: bytes) -> bool:
        # File systems without hard links: O_EXCL create, then write in place.
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        target = self.path(prefix)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def put_from(self, src: LakeFS, src_key: str, key: str, *, move: bool = True) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, LocalFS):
            source = src.path(src_key)
            if move:
                try:
                    os.replace(source, target)
                    return
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
            # Across devices (or a copy): copy beside the target, then rename into place.
            tmp = self._temp_beside(target)
            try:
                shutil.copyfile(source, tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            if move:
                source.unlink()
            return
        if isinstance(src, S3FS):
            tmp = self._temp_beside(target)
            try:
                src.client.download_file(src.bucket, src.full_key(src_key), str(tmp))
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            if move:
                src.delete(src_key)
            return
        raise LakeError(f"cannot publish from {type(src).__name__} to a local directory")


class S3FS(LakeFS):
    """An S3 prefix ``s3://bucket/prefix`` reached through a boto3 S3 client."""

    def __init__(self, uri: str, client: Any) -> None:
        parsed = urlparse(uri)
        if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
            raise ConfigError("lake uri", uri, "s3://bucket[/prefix]")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.uri = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self.client = client

    def full_key(self, key: str) -> str:
        if not self.prefix:
            return key
        return f"{self.prefix}/{key}" if key else self.prefix

    def spark_path(self, key: str) -> str:
        return self.uri_for(key)

    def _pages(self, prefix: str) -> Iterator[dict[str, Any]]:
        full = self.full_key(prefix)
        # A directory-style prefix must end in "/" so "page_view" does not also match "page_view_v2"
        # (and a lake at s3://b/lake does not list s3://b/lake2).
        if full and not full.endswith("/"):
            full += "/"
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=full)

    def list(self, prefix: str = "") -> list[FileInfo]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        out: list[FileInfo] = []
        for page in self._pages(prefix):
            for obj in page.get("Contents", []):
                out.append(FileInfo(obj["Key"][strip:], int(obj["Size"]), obj["LastModified"].timestamp()))
        return sorted(out, key=lambda f: f.key)

    def read_bytes(self, key: str) -> bytes:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.full_key(key))
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(self.uri_for(key)) from exc
        return bytes(resp["Body"].read())

    def read_tail(self, key: str, size: int, nbytes: int) -> bytes:
        start = max(0, size - nbytes)
        resp = self.client.get_object(Bucket=self.bucket, Key=self.full_key(key), Range=f"bytes={start}-{size - 1}")
        return bytes(resp["Body"].read())

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        for attempt in range(5):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=data, IfNoneMatch="*")
                return True
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 412:
                    return False
                # 409 ConditionalRequestConflict: a concurrent write of the same key is in flight; the
                # retry resolves to success or 412 once it settles.
                if status != 409 or attempt == 4:
                    raise
                time.sleep(0.1 * 2**attempt)
        return False  # unreachable; keeps type checkers content

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.full_key(key))
            return True
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))

    def delete_many(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), _DELETE_CHUNK):
            chunk = keys[i : i + _DELETE_CHUNK]
            resp = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.full_key(k)} for k in chunk], "Quiet": True},
            )
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0]
                raise LakeError(
                    f"could not delete {len(errors)} object(s) under {self.uri}, "
                    f"first {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def put_from(self, src: LakeFS, src_key: str, key: str, *, move: bool = True) -> None:
        if isinstance(src, LocalFS):
            # upload_file switches to multipart above 8 MB; CompleteMultipartUpload is atomic per object.
            self.client.upload_file(str(src.path(src_key)), self.bucket, self.full_key(key))
            if move:
                src.delete(src_key)
            return
        if isinstance(src, S3FS):
            # The managed copy handles objects over 5 GB (multipart copy) where copy_object cannot.
            self.client.copy({"Bucket": src.bucket, "Key": src.full_key(src_key)}, self.bucket, self.full_key(key))
            if move:
                src.delete(src_key)
            return
        raise LakeError(f"cannot publish from {type(src).__name__} to {self.uri}")


def is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in ("s3", "s3a")


def filesystem_for(uri: str, *, s3_client: Any | None = None) -> LakeFS:
    """The :class:`LakeFS` for ``uri``: ``s3://bucket/prefix``, ``file:///dir`` or a plain path.

    An S3 client is made by :func:`streamlake.aws.client` when none is passed in.
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a"):
        return S3FS(uri, s3_client if s3_client is not None else aws.client("s3"))
    if parsed.scheme == "file":
        return LocalFS(parsed.path)
    if parsed.scheme == "":
        return LocalFS(uri)
    raise ConfigError("lake uri", uri, "a local path, file:///path or s3://bucket/prefix")


def spark_path(fs: LakeFS, key: str) -> str:
    """The path Spark should write ``key`` of ``fs`` to."""
    if isinstance(fs, LocalFS | S3FS):
        return fs.spark_path(key)
    raise LakeError(f"Spark cannot write to {type(fs).__name__}")
