"""``spark.readStream.format("kinesis")``: the Python data source and its stream reader.

Notes
-----
Runs on Spark 4.0 and 4.1 and uses only what 4.0 has: ``initialOffset``, ``latestOffset()`` without
arguments, ``partitions(start, end)``, ``read(partition)``, ``commit(end)``, ``stop()``.

Call order observed on Spark 4.1 (and relied on): a fresh query calls ``latestOffset()`` *before*
``initialOffset()``; a restarted query first calls ``partitions(x, x)`` with the last planned offset,
then replays an uncommitted batch with ``partitions(initialOffset(), x)`` or similar. So the reader
memoises its initial offset and learns the last planned offset from ``partitions``.

``read`` runs on executors with a pickled copy of a *fresh* reader: it must not rely on driver
state, so everything a task needs travels in :class:`~jobs.kinesis.task.ShardPartition`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import StructType

from jobs.kinesis import planner
from jobs.kinesis.endlog import EndLog, open_end_log
from jobs.kinesis.offsets import SHARD_END, Position, SourceOffset
from jobs.kinesis.options import KinesisOptions
from jobs.kinesis.schema import SOURCE_SCHEMA
from jobs.kinesis.shards import FULL_HASH_RANGE, ShardInfo, kinesis_client, list_shards
from jobs.kinesis.task import ShardPartition, read_partition

log = logging.getLogger(__name__)


class KinesisDataSource(DataSource):
    """Amazon Kinesis Data Streams as a Spark streaming source (``format("kinesis")``).

    Register with ``spark.dataSource.register(KinesisDataSource)``. See
    :class:`~jobs.kinesis.options.KinesisOptions` for the options; ``streamName`` and
    ``metadataPath`` are required.
    """

    @classmethod
    def name(cls) -> str:
        return "kinesis"

    def schema(self) -> StructType:
        # Parse here too so a bad option fails at load(), before the query starts.
        KinesisOptions.parse(self.options)
        return SOURCE_SCHEMA

    def streamReader(self, schema: StructType) -> KinesisStreamReader:
        return KinesisStreamReader(KinesisOptions.parse(self.options))


class KinesisStreamReader(DataSourceStreamReader):
    """Plans one partition per shard per epoch from the end log; executors read and claim ends."""

    def __init__(self, options: KinesisOptions) -> None:
        self.options = options
        # Driver-only state, rebuilt lazily; never pickled to executors (see __getstate__).
        self._client: Any = None
        self._end_log: EndLog | None = None
        self._initial: SourceOffset | None = None
        self._last_end: SourceOffset | None = None
        self._shard_map: dict[str, ShardInfo] = {}
        self._listed_at = float("-inf")
        self._retained_from = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"])  # type: ignore[misc]

    # --- Spark's interface -------------------------------------------------------------------

    def initialOffset(self) -> dict[str, Any]:
        """Resolve the starting position once (``LATEST`` becomes ``AT_TIMESTAMP`` of now)."""
        if self._initial is None:
            opts = self.options
            now_ms = int(time.time() * 1000)
            t0: int | None = None
            start = Position.trim_horizon()
            if opts.starting_position == "LATEST":
                t0 = now_ms
            elif opts.starting_position == "AT_TIMESTAMP":
                t0 = opts.starting_timestamp_ms
            if t0 is not None:
                start = Position.at_timestamp(t0)
            shards = self._list_shards()
            self._initial = planner.initial_offset(
                run=uuid.uuid4().hex, stream=opts.stream_name, t0=t0, shards=shards, start=start
            )
            log.info(
                "kinesis %s: new run %s from %s over %d shards",
                opts.stream_name, self._initial.run, start.encode(), len(self._initial.shards),
            )  # fmt: skip
        return self._initial.to_dict()

    def latestOffset(self) -> dict[str, Any]:
        """The next epoch's offset, planned from the last epoch's end-log entries."""
        prev = self._last_end or SourceOffset.from_dict(self.initialOffset())
        entries = planner.read_entries(self._log(), prev)
        ended = any(e is not None and e.get("end") == SHARD_END for e in entries.values())
        due = time.monotonic() - self._listed_at >= self.options.describe_shard_interval_sec
        # A drained shard needs its children now; otherwise ListShards only every interval.
        # initialOffset() has just listed the shards, so a fresh query's first plan does not list again.
        listed = self._list_shards() if (ended or due) else None
        plan = planner.plan_next(
            prev, entries, listed, initial=self._initial_position(prev),
            fail_on_data_loss=self.options.fail_on_data_loss,
        )  # fmt: skip
        idle = self.options.idle_interval_sec
        at = planner.caught_up_at_ms(prev, entries)
        if idle > 0 and not plan.added and at is not None and time.time() * 1000 - at < idle * 1000:
            # Every shard was at the tip less than idleIntervalSec ago: report no new data (no
            # batch, no Kinesis call). This is also what lets processAllAvailable() return.
            return prev.to_dict()
        if plan.added or plan.drained:
            log.info(
                "kinesis %s epoch %d: added %s, drained %s",
                prev.stream,
                plan.offset.epoch,
                plan.added,
                plan.drained,
            )
        return plan.offset.to_dict()

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> Sequence[InputPartition]:
        """One partition per tracked shard of the *end* offset's epoch (its run and epoch rule)."""
        end_offset = SourceOffset.from_dict(end)
        self._last_end = end_offset
        if start == end:
            return []  # Spark's restart probe, and "no new data"
        missing = [sid for sid in end_offset.shards if sid not in self._shard_map]
        if missing:
            self._list_shards()
        return [
            ShardPartition(
                options=self.options,
                run=end_offset.run,
                epoch=end_offset.epoch,
                shard_id=sid,
                start=end_offset.shards[sid],
                hash_range=self._shard_map[sid].hash_range if sid in self._shard_map else FULL_HASH_RANGE,
                closed=sid in self._shard_map and self._shard_map[sid].closed,
            )
            for sid in sorted(end_offset.shards)
        ]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        """Executor side: see :func:`jobs.kinesis.task.read_partition`."""
        if not isinstance(partition, ShardPartition):
            raise TypeError(f"kinesis source got a foreign partition {partition!r}")
        return read_partition(partition)

    def commit(self, end: dict[str, Any]) -> None:
        """Forget end-log epochs older than ``retainEpochs`` behind the committed one."""
        keep = self.options.retain_epochs
        if keep <= 0:
            return
        offset = SourceOffset.from_dict(end)
        below = offset.epoch - keep
        if below <= self._retained_from:
            return
        try:
            removed = self._log().delete_epochs_before(offset.run, below)
        except Exception as exc:  # retention is housekeeping: never fail the query for it
            log.warning("kinesis end log: cannot delete epochs below %d: %s", below, exc)
            return
        self._retained_from = below
        if removed:
            log.debug("kinesis end log: deleted %d epochs below %d", removed, below)

    def stop(self) -> None:
        self._client = None

    # --- helpers ----------------------------------------------------------------------------

    def _initial_position(self, offset: SourceOffset) -> Position:
        return Position.trim_horizon() if offset.t0 is None else Position.at_timestamp(offset.t0)

    def _log(self) -> EndLog:
        if self._end_log is None:
            opts = self.options
            self._end_log = open_end_log(opts.metadata_path, s3_endpoint_url=opts.s3_endpoint_url, region=opts.region)
        return self._end_log

    def _list_shards(self) -> list[ShardInfo]:
        if self._client is None:
            self._client = kinesis_client(self.options)
        shards = list_shards(self._client, self.options.stream_name)
        self._shard_map = {s.shard_id: s for s in shards}
        self._listed_at = time.monotonic()
        return shards
