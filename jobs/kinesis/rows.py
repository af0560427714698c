"""Kinesis records -> output rows (de-aggregated, hash-range filtered), as Arrow or tuples."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobs.kinesis import kpl
from jobs.kinesis.schema import SOURCE_SCHEMA

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class RowStats:
    """Rows emitted, user records dropped by the hash-range filter, corrupt aggregates kept raw."""

    rows: int = 0
    filtered: int = 0
    corrupt: int = 0
    last_sub_seq: int | None = None


class RowConverter:
    """Turns one response's records into one Arrow ``RecordBatch`` (or a list of tuples)."""

    def __init__(
        self,
        *,
        stream: str,
        shard_id: str,
        hash_range: tuple[int, int],
        deaggregate: bool = True,
        arrow: bool = True,
    ) -> None:
        self.stream = stream
        self.shard_id = shard_id
        self.hash_range = hash_range
        self.deaggregate = deaggregate
        self.stats = RowStats()
        self._pa: Any = None
        if arrow:
            try:
                import pyarrow as pa
            except ImportError:  # pragma: no cover - pyspark's data sources need pyarrow anyway
                log.warning("pyarrow is not importable; the kinesis source yields tuples")
            else:
                self._pa = pa
                from pyspark.sql.pandas.types import to_arrow_schema

                # Derived from the one declaration of the source's columns (schema.py).
                self._schema = to_arrow_schema(SOURCE_SCHEMA)

    @property
    def arrow(self) -> bool:
        return self._pa is not None

    def convert(self, records: list[dict[str, Any]]) -> Any:
        """Rows of ``records`` as a RecordBatch (Arrow mode) or a list of tuples; None if no rows."""
        seqs: list[str] = []
        subs: list[int] = []
        keys: list[str] = []
        arrivals: list[datetime | None] = []
        datas: list[bytes] = []
        lo, hi = self.hash_range
        for rec in records:
            seq = str(rec["SequenceNumber"])
            data = bytes(rec.get("Data") or b"")
            pk = str(rec.get("PartitionKey", ""))
            arrival = rec.get("ApproximateArrivalTimestamp")
            users = kpl.deaggregate(data, pk) if self.deaggregate else [kpl.UserRecord(pk, data)]
            aggregated = self.deaggregate and kpl.is_aggregated(data)
            for user in users:
                if user.corrupt:
                    self.stats.corrupt += 1
                elif aggregated and not kpl.in_hash_range(user, lo, hi):
                    self.stats.filtered += 1
                    continue
                seqs.append(seq)
                subs.append(user.sub_sequence_number)
                keys.append(user.partition_key)
                arrivals.append(arrival if isinstance(arrival, datetime) else None)
                datas.append(user.data)
                self.stats.last_sub_seq = user.sub_sequence_number
        self.stats.rows += len(seqs)
        if not seqs:
            return None
        n = len(seqs)
        if self._pa is None:
            return [(self.stream, self.shard_id, seqs[i], subs[i], keys[i], arrivals[i], datas[i]) for i in range(n)]
        pa = self._pa
        micros = [None if a is None else _micros(a) for a in arrivals]
        return pa.RecordBatch.from_arrays(
            [
                pa.array([self.stream] * n, pa.string()),
                pa.array([self.shard_id] * n, pa.string()),
                pa.array(seqs, pa.string()),
                pa.array(subs, pa.int64()),
                pa.array(keys, pa.string()),
                pa.array(micros, pa.timestamp("us", tz="UTC")),
                pa.array(datas, pa.binary()),
            ],
            schema=self._schema,
        )


_MICRO = datetime.resolution  # timedelta(microseconds=1)


def _micros(ts: datetime) -> int:
    if ts.tzinfo is None:  # botocore returns aware datetimes; a naive one is taken as UTC
        ts = ts.replace(tzinfo=UTC)
    return (ts - _EPOCH) // _MICRO
