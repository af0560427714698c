"""The manifest: one JSON line per record sent, and the expected pipeline outcome derived from it.

It is the oracle of the exactness tests. Every field is copied from the record as generated and
as acknowledged by Kinesis, nothing is re-derived, so it is right by construction. A path ending
in ``.gz`` is gzip-compressed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local.producer.record import ProducedRecord
from quality.reasons import UNROUTED
from streamlake.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManifestRow:
    """One line of the manifest. ``sub_sequence_number`` is the position in a KPL aggregate (0 if none)."""

    index: int
    event_id: str | None
    table: str | None
    kind: str
    expected_reasons: tuple[str, ...]
    partition_key: str
    shard_id: str | None
    sequence_number: str | None
    sub_sequence_number: int | None
    size: int
    sha256: str
    # The record's bytes (base64), so the exactness oracle can compare every stored value; absent
    # in manifests written before it was recorded.
    data_b64: str | None = None

    @property
    def data(self) -> bytes | None:
        return base64.b64decode(self.data_b64) if self.data_b64 is not None else None

    @property
    def position(self) -> tuple[str | None, str | None, int]:
        """``(shard, sequence, sub-sequence)``: where the record sits in the stream."""
        return self.shard_id, self.sequence_number, self.sub_sequence_number or 0


@dataclass(frozen=True)
class Expected:
    """What an exactly-once pipeline must produce from the records of a manifest.

    ``valid_event_ids`` maps each table to the event ids that must land in it exactly once;
    ``quarantine_counts`` counts quarantined records per reason (a record with two reasons counts
    under both); ``quarantine_tables`` counts quarantined records per table, ``_unrouted`` for
    those with no table; ``duplicates`` is how many producer retries dedup must remove.
    """

    valid_event_ids: Mapping[str, frozenset[str]]
    quarantine_counts: Mapping[str, int]
    quarantine_tables: Mapping[str, int]
    quarantined_records: int
    duplicates: int
    total_records: int

    @property
    def valid_records(self) -> int:
        return sum(len(ids) for ids in self.valid_event_ids.values())


def row_of(record: ProducedRecord) -> dict[str, Any]:
    """The manifest line for ``record`` as a JSON-ready dict."""
    return {
        "index": record.index,
        "event_id": record.event_id,
        "table": record.table,
        "kind": record.kind,
        "expected_reasons": list(record.expected_reasons),
        "partition_key": record.partition_key,
        "shard_id": record.shard_id,
        "sequence_number": record.sequence_number,
        "sub_sequence_number": record.sub_sequence_number,
        "size": len(record.data),
        # Lets a test match a quarantined row's raw bytes to its line without keeping the bytes.
        "sha256": hashlib.sha256(record.data).hexdigest(),
        "data_b64": base64.b64encode(record.data).decode(),
    }


class ManifestWriter:
    """Appends manifest lines as records are acknowledged (use as ``send(..., on_sent=w.write)``)."""

    def __init__(self, stream: IO[str]) -> None:
        self._out = stream
        self.rows = 0

    def write(self, record: ProducedRecord) -> None:
        self._out.write(json.dumps(row_of(record), separators=(",", ":")) + "\n")
        self.rows += 1


@contextmanager
def open_manifest(path: str | Path) -> Iterator[ManifestWriter]:
    """A :class:`ManifestWriter` on ``path`` (parents created, ``.gz`` compressed), closed on exit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out: IO[str] = gzip.open(path, "wt", encoding="utf-8") if path.suffix == ".gz" else open(path, "w")  # noqa: SIM115
    try:
        writer = ManifestWriter(out)
        yield writer
    finally:
        out.close()
    log.info("wrote manifest %s (%d rows)", path, writer.rows)


def write_manifest(records: Iterable[ProducedRecord], path: str | Path) -> Path:
    """Write one line per record to ``path`` and return the path."""
    with open_manifest(path) as writer:
        for record in records:
            writer.write(record)
    return Path(path)


def load_manifest(path: str | Path) -> list[ManifestRow]:
    """The rows of a manifest, in record index order."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("manifest", str(path), "an existing manifest file (written by python -m local.producer)")
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[ManifestRow] = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            try:
                raw = json.loads(line)
                raw["expected_reasons"] = tuple(raw["expected_reasons"])
                rows.append(ManifestRow(**raw))
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"{path}:{n}", line[:200], f"a manifest row ({exc})") from exc
    rows.sort(key=lambda r: r.index)
    return rows


def expected_outcome(manifest: Iterable[ManifestRow] | str | Path) -> Expected:
    """What the pipeline must produce for ``manifest`` (rows or a path)."""
    rows = load_manifest(manifest) if isinstance(manifest, str | Path) else list(manifest)
    valid: dict[str, set[str]] = defaultdict(set)
    reasons: Counter[str] = Counter()
    tables: Counter[str] = Counter()
    duplicates = quarantined = 0
    for row in rows:
        if row.kind == "duplicate":
            duplicates += 1
        elif row.expected_reasons:
            quarantined += 1
            reasons.update(row.expected_reasons)
            tables[row.table or UNROUTED] += 1
        elif row.table is not None and row.event_id is not None:
            valid[row.table].add(row.event_id)
    return Expected(
        valid_event_ids={t: frozenset(ids) for t, ids in sorted(valid.items())},
        quarantine_counts=dict(sorted(reasons.items())),
        quarantine_tables=dict(sorted(tables.items())),
        quarantined_records=quarantined,
        duplicates=duplicates,
        total_records=len(rows),
    )
