"""The lake's memory of accepted event keys, so a producer retry in a later batch is found.

Every committed batch publishes the keys it stored as one more output (``_dedup``), under the
same commit protocol as its data, so the memory is exactly the committed batches: a crash at
any moment leaves it consistent with the tables, and a new checkpoint or a restarted driver
rebuilds it from the lake. Keys are kept for ``window_seconds`` after the batch that stored them
committed (processing time), and always into the next batch.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime

import pyarrow.parquet as pq

from jobs.lake.fs import LakeFS
from jobs.lake.readers import commit_records
from jobs.transforms.dedup import KEYS_OUTPUT

log = logging.getLogger(__name__)


class KeyIndex:
    """Keys of recently committed batches: ``seen(keys)`` answers which of them the lake holds."""

    def __init__(self, *, window_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.window_seconds = window_seconds
        self.clock = clock
        self._owner: dict[str, int] = {}  # key -> the batch that stored it
        self._batches: dict[int, tuple[float, list[str]]] = {}  # batch -> (committed at, keys)

    def __len__(self) -> int:
        return len(self._owner)

    @classmethod
    def load(cls, lake: LakeFS, *, window_seconds: float, clock: Callable[[], float] = time.time) -> KeyIndex:
        """The keys of every committed batch still inside the window, read from the lake."""
        index = cls(window_seconds=window_seconds, clock=clock)
        cutoff = clock() - window_seconds
        started = time.monotonic()
        records = commit_records(lake, KEYS_OUTPUT)
        newest = max((r.batch_id for r in records), default=None)
        for record in records:
            at = datetime.fromisoformat(record.created_at).timestamp()
            if at < cutoff and record.batch_id != newest:  # the last batch before an outage stays
                continue
            keys: list[str] = []
            for entry in record.files:
                table = pq.read_table(io.BytesIO(lake.read_bytes(entry.key)), columns=["key"])
                keys.extend(table.column("key").to_pylist())
            index._put(record.batch_id, at, keys)
        log.info(
            "dedup memory loaded: %d keys of %d batches in %.2fs",
            len(index),
            len(index._batches),
            time.monotonic() - started,
        )
        return index

    def seen(self, keys: Iterable[str]) -> list[str]:
        """Those of ``keys`` that a batch inside the window stored."""
        return [k for k in keys if k in self._owner]

    def add(self, batch_id: int, keys: Iterable[str]) -> None:
        """Remember what ``batch_id`` stored (call after it committed), then forget expired batches.

        The newest batch is never forgotten, so a retry in the very next batch is always found.
        """
        self._put(batch_id, self.clock(), list(keys))
        self.expire(keep=batch_id)

    def expire(self, *, keep: int | None = None) -> None:
        cutoff = self.clock() - self.window_seconds
        for batch_id in [b for b, (at, _) in self._batches.items() if at < cutoff and b != keep]:
            _, keys = self._batches.pop(batch_id)
            for key in keys:
                if self._owner.get(key) == batch_id:
                    del self._owner[key]

    def _put(self, batch_id: int, at: float, keys: list[str]) -> None:
        self._batches[batch_id] = (at, keys)
        for key in keys:
            self._owner[key] = batch_id
