"""The records the commit protocol writes: per-output commit records and the batch summary.

Both are plain JSON so Redshift COPY manifests, compaction, audits and humans can read them without
this code. A per-output record lists every file with its byte length (Redshift's Parquet manifests
need ``meta.content_length``) and row count read from the Parquet footer.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FORMAT_VERSION = 1


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class FileEntry:
    """One published data file."""

    key: str  # relative to the lake root
    uri: str  # absolute, for manifests
    rows: int
    bytes: int
    partition: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputCommit:
    """What one batch added to one output: ``<lake>/_commits/<name>/<batch>.json``."""

    name: str
    batch_id: int
    files: tuple[FileEntry, ...]
    rows: int
    bytes: int
    partitions: tuple[dict[str, str], ...]
    schema_hash: str | None = None
    source: dict[str, Any] | None = None
    created_at: str = field(default_factory=utc_now)

    # ``bytes`` is a field of this class, so the builtin is spelled out in the signatures below.
    def to_json(self) -> builtins.bytes:
        body = {"format": FORMAT_VERSION, **asdict(self)}
        return json.dumps(body, indent=1, sort_keys=True, default=str).encode()

    @classmethod
    def from_json(cls, data: builtins.bytes) -> OutputCommit:
        raw = json.loads(data)
        raw.pop("format", None)
        raw["files"] = tuple(FileEntry(**f) for f in raw["files"])
        raw["partitions"] = tuple(raw["partitions"])
        return cls(**raw)


@dataclass(frozen=True)
class OutputSummary:
    """The per-output line of a :class:`BatchCommit`."""

    rows: int
    files: int
    partitions: int
    bytes: int = 0


@dataclass(frozen=True)
class BatchCommit:
    """The outcome of :meth:`LakeWriter.write_batch`; also the content of the batch marker.

    ``replayed`` is true when the batch had already been committed and nothing was written.
    """

    batch_id: int
    outputs: dict[str, OutputSummary]
    duration_s: float
    created_at: str = field(default_factory=utc_now)
    replayed: bool = False

    @property
    def rows(self) -> int:
        return sum(o.rows for o in self.outputs.values())

    @property
    def files(self) -> int:
        return sum(o.files for o in self.outputs.values())

    def to_json(self) -> bytes:
        body = {"format": FORMAT_VERSION, **asdict(self)}
        body.pop("replayed")
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, *, replayed: bool = False) -> BatchCommit:
        raw = json.loads(data)
        raw.pop("format", None)
        raw["outputs"] = {k: OutputSummary(**v) for k, v in raw["outputs"].items()}
        return cls(**raw, replayed=replayed)


CompactionState = Literal["published", "swapped", "done"]


@dataclass(frozen=True)
class CompactionRecord:
    """One compaction of one partition: ``<lake>/_commits/<name>/_compactions/<id>.json``.

    ``published``: the new files exist; ``swapped``: the catalog points at them; ``done``: the
    replaced files are deleted. Readers treat ``outputs`` as live and ``inputs`` as gone from the
    moment the record exists, since both sets hold the same rows.
    """

    id: str
    name: str
    partition: dict[str, str]
    inputs: tuple[str, ...]
    outputs: tuple[FileEntry, ...]
    rows: int
    bytes: int
    location: str
    delete_after: float
    state: CompactionState = "published"
    created_at: str = field(default_factory=utc_now)

    def to_json(self) -> builtins.bytes:
        body = {"format": FORMAT_VERSION, **asdict(self)}
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: builtins.bytes) -> CompactionRecord:
        raw = json.loads(data)
        raw.pop("format", None)
        raw["inputs"] = tuple(raw["inputs"])
        raw["outputs"] = tuple(FileEntry(**f) for f in raw["outputs"])
        return cls(**raw)
