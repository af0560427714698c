"""The benchmark's input: a seeded producer dataset recorded as raw Kinesis rows, cached on disk.

The processing-path benchmark must not measure the emulator, so the producer's records are laid out
exactly as the Kinesis source would emit them (``jobs.kinesis.schema.SOURCE_SCHEMA``) over synthetic
shards, written once to Parquet (for Spark) and as NDJSON payloads (for DuckDB), and reused by every
later run with the same seed and count.

Layout under ``<bench>/data/seed<seed>-n<count>-v<version>/`` (regenerated when the producer's code or the
schemas change, see :func:`producer_fingerprint`)::

    raw/part-00000.parquet ...   source rows, files in arrival order (each file covers every shard)
    payloads.ndjson              one payload per line (records containing a newline are left out)
    meta.json                    counts by kind, bytes, shards, the fixed ``now`` (written last)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from local.producer import ProducedRecord

FORMAT_VERSION = 1
STREAM = "shop-events"
SHARDS = 4
# A fixed clock keeps the cached bytes reproducible; noon keeps the 15-minute window in one date.
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
# Kinesis stamps a record when it arrives; the producer's event time is at most this much earlier.
ARRIVAL_DELAY_MS = 250
_HASH_SPACE = 2**128

RAW_ARROW_SCHEMA = pa.schema(
    [
        pa.field("stream", pa.string()),
        pa.field("shard_id", pa.string()),
        pa.field("sequence_number", pa.string()),
        pa.field("sub_sequence_number", pa.int64()),
        pa.field("partition_key", pa.string()),
        pa.field("approximate_arrival_timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("data", pa.binary()),
    ]
)


@dataclass(frozen=True)
class Dataset:
    """A generated dataset on disk and what the producer says is in it."""

    root: Path
    seed: int
    events: int
    files: int
    kinds: dict[str, int]
    bytes: int
    ndjson_lines: int
    shards: int = SHARDS
    now: str = NOW.isoformat()
    generated_seconds: float = 0.0
    per_shard: dict[str, int] = field(default_factory=dict)
    producer: str = ""

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def ndjson(self) -> Path:
        return self.root / "payloads.ndjson"

    @property
    def valid(self) -> int:
        return self.kinds.get("valid", 0)

    @property
    def duplicates(self) -> int:
        return self.kinds.get("duplicate", 0)

    @property
    def bad(self) -> int:
        return self.events - self.valid - self.duplicates


def shard_of(partition_key: str, shards: int = SHARDS) -> int:
    """Kinesis routing: MD5 of the partition key as a 128-bit integer, shards split the range evenly."""
    h = int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")
    return h * shards // _HASH_SPACE


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def sequence_number(shard: int, n: int) -> str:
    """A Kinesis-shaped sequence number: 56 decimal digits, increasing within a shard."""
    return f"495{shard:02d}{n:051d}"


def producer_fingerprint() -> str:
    """A hash of the producer's code and the schemas: a cached dataset from other code is stale."""
    import local.producer
    import schemas

    digest = hashlib.sha256()
    for package in (local.producer, schemas):
        assert package.__file__ is not None
        root = Path(package.__file__).parent
        for path in sorted([*root.rglob("*.py"), *root.rglob("*.yaml")]):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def dataset_dir(bench_home: Path, *, seed: int, events: int) -> Path:
    return bench_home / "data" / f"seed{seed}-n{events}-v{FORMAT_VERSION}"


def load_dataset(root: Path) -> Dataset | None:
    """The cached dataset at ``root``, or ``None`` when it is missing or incomplete."""
    meta = root / "meta.json"
    if not meta.exists():
        return None
    raw = json.loads(meta.read_text())
    if raw.get("format") != FORMAT_VERSION:
        return None
    raw.pop("format")
    return Dataset(root=root, **raw)


def _raw_rows(
    records: Iterator[ProducedRecord], *, events: int
) -> Iterator[tuple[str, str, str, int, str, datetime, bytes]]:
    """Producer records -> source rows: shard by partition key, per-shard sequence, arrival time."""
    start_ms = int((NOW - WINDOW).timestamp() * 1000)
    window_ms = int(WINDOW.total_seconds() * 1000)
    counters = [0] * SHARDS
    for i, rec in enumerate(records):
        pk = rec.partition_key
        shard = shard_of(pk)
        counters[shard] += 1
        # The producer's slot for record i (its event time is at most 2 s before it), so arrival
        # follows send order and valid events never look like they came from the future.
        arrival_ms = start_ms + (i + 1) * window_ms // events + ARRIVAL_DELAY_MS
        yield (
            STREAM,
            shard_id(shard),
            sequence_number(shard, counters[shard]),
            0,
            pk,
            datetime.fromtimestamp(arrival_ms / 1000, tz=UTC),
            rec.data,
        )


def generate_dataset(
    bench_home: Path,
    *,
    seed: int,
    events: int,
    files: int,
    progress: Callable[[str], None] = print,
) -> Dataset:
    """Generate (or reuse) the dataset for ``seed`` and ``events``, split into ``files`` raw files."""
    from local.producer import iter_events

    root = dataset_dir(bench_home, seed=seed, events=events)
    cached = load_dataset(root)
    fingerprint = producer_fingerprint()
    if cached is not None and cached.files == files and cached.producer == fingerprint:
        progress(f"dataset: reusing {events:,} events (seed {seed}) from {root}")
        return cached
    if root.exists():
        shutil.rmtree(root)
    (root / "raw").mkdir(parents=True)
    started = time.monotonic()
    per_file = -(-events // files)
    kinds: Counter[str] = Counter()
    per_shard: Counter[str] = Counter()
    total_bytes = 0
    lines = 0
    records = iter_events(events, seed=seed, now=NOW, window=WINDOW)
    kinded = _tap(records, kinds)
    rows = _raw_rows(kinded, events=events)
    with open(root / "payloads.ndjson", "wb") as ndjson:
        for n in range(files):
            chunk = [r for _, r in zip(range(per_file), rows, strict=False)]
            if not chunk:
                break
            columns = list(zip(*chunk, strict=True))
            table = pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(columns, RAW_ARROW_SCHEMA, strict=True)],
                schema=RAW_ARROW_SCHEMA,
            )
            pq.write_table(table, root / "raw" / f"part-{n:05d}.parquet", compression="snappy")
            for row in chunk:
                data = row[6]
                total_bytes += len(data)
                per_shard[row[1]] += 1
                # NDJSON cannot hold a payload with a raw newline; none of the producer's defects add one.
                if b"\n" not in data and b"\r" not in data:
                    ndjson.write(data)
                    ndjson.write(b"\n")
                    lines += 1
            done = sum(kinds.values())
            progress(f"dataset: wrote file {n + 1}/{files} ({done:,} events, {time.monotonic() - started:.0f} s)")
    ds = Dataset(
        root=root,
        seed=seed,
        events=sum(kinds.values()),
        files=files,
        kinds=dict(sorted(kinds.items())),
        bytes=total_bytes,
        ndjson_lines=lines,
        generated_seconds=round(time.monotonic() - started, 1),
        per_shard=dict(sorted(per_shard.items())),
        producer=fingerprint,
    )
    body = {"format": FORMAT_VERSION, **{k: v for k, v in asdict(ds).items() if k != "root"}}
    # meta.json last: its presence is what marks the cache complete.
    (root / "meta.json").write_text(json.dumps(body, indent=1, sort_keys=True))
    return ds


def _tap(records: Iterator[ProducedRecord], kinds: Counter[str]) -> Iterator[ProducedRecord]:
    for rec in records:
        kinds[rec.kind] += 1
        yield rec
