"""put -> visible-in-lake latency of the real ingest job with a 5 s trigger.

``python -m jobs.stream_ingest`` runs in a subprocess against the local stack (its own JVM, as in
production). Once its first (empty) batch has committed, a producer thread puts valid events at a
steady rate and records when Kinesis acknowledged each event id. The main thread polls the lake's
batch markers; for each new committed batch it reads the event ids of the files the commit records
list. An event is visible when the marker of the batch holding it exists (the commit point), so
its latency is ``marker created_at - put acknowledged``, both on this machine's clock.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.memory import cpu_snapshot
from bench.stats import percentile

SHARDS = 4
_BATCH_LINE = re.compile(r"\bbatch batch=(\d+) read=(\d+) .*?duration_ms=(\d+)")


@dataclass
class LatencyResult:
    """Per-event latencies (seconds) and what the ingest job reported about its batches."""

    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    missing: int = 0
    rate: float = 0.0
    batch_ms: list[int] = field(default_factory=list)
    log_path: Path | None = None
    others_share: float = float("nan")  # share of the machine's CPU other processes took meanwhile

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95)


def _marker_time(data: bytes) -> float:
    created = json.loads(data)["created_at"]
    return datetime.fromisoformat(created).timestamp()


class LakeWatcher:
    """Finds newly committed batches in a local lake and the event ids each one made visible."""

    def __init__(self, lake: Path, tables: list[str]) -> None:
        self.lake = lake
        self.tables = tables
        self.seen: set[int] = set()

    def committed_batches(self) -> list[int]:
        from jobs.lake import layout

        markers = self.lake / layout.BATCHES
        if not markers.exists():
            return []
        return sorted(int(p.stem) for p in markers.glob("*.json") if not p.name.startswith((".", "_")))

    def poll(self) -> dict[str, float]:
        """Event id -> visible time, for every batch committed since the last poll."""
        import pyarrow.parquet as pq

        from jobs.lake import layout
        from jobs.lake.commit import OutputCommit

        visible: dict[str, float] = {}
        for batch in self.committed_batches():
            if batch in self.seen:
                continue
            self.seen.add(batch)
            at = _marker_time((self.lake / layout.marker_key(batch)).read_bytes())
            for table in self.tables:
                record_path = self.lake / layout.commit_key(table, batch)
                if not record_path.exists():
                    continue
                record = OutputCommit.from_json(record_path.read_bytes())
                for f in record.files:
                    ids = pq.read_table(self.lake / f.key, columns=["event_id"]).column("event_id").to_pylist()
                    visible.update({i: at for i in ids})
        return visible


def _start_ingest(
    *, stream: str, lake: Path, checkpoint: Path, env: dict[str, str], timeout_seconds: float, log_path: Path
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "jobs.stream_ingest",
        "--stream", stream,
        "--lake", str(lake),
        "--checkpoint", str(checkpoint),
        "--trigger-seconds", "5",
        "--starting-position", "TRIM_HORIZON",
        "--master", "local[2]",
        "--timeout-seconds", str(int(timeout_seconds)),
        "--no-progress",
    ]  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as out:
        # Its own session so stopping it also stops its JVM and Python workers (one process group).
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=Path.cwd()
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def measure_latency(
    stack: Any,
    workdir: Path,
    *,
    seconds: float,
    rate: float,
    seed: int,
    progress: Callable[[str], None] = print,
    startup_timeout: float = 180.0,
    drain_timeout: float = 90.0,
) -> LatencyResult:
    """Run the ingest job, put ``rate`` events/s for ``seconds``, and time each event to the lake."""
    from local.producer import generate_events, send
    from local.stack import ensure_stream
    from schemas import load_stream

    stream = f"bench-latency-{uuid.uuid4().hex[:8]}"
    kinesis = stack.client("kinesis")
    ensure_stream(kinesis, stream, shards=SHARDS)
    lake, checkpoint, log_path = workdir / "lake", workdir / "checkpoint", workdir / "ingest.log"
    env = {**os.environ, **stack.env(), "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    total_timeout = startup_timeout + seconds + drain_timeout + 30
    proc = _start_ingest(
        stream=stream, lake=lake, checkpoint=checkpoint, env=env, timeout_seconds=total_timeout, log_path=log_path
    )
    watcher = LakeWatcher(lake, list(load_stream("shop_events").tables))
    result = LatencyResult(rate=rate, log_path=log_path)
    try:
        progress("latency: waiting for the ingest job's first committed batch")
        deadline = time.monotonic() + startup_timeout
        while not watcher.committed_batches():
            if proc.poll() is not None:
                raise RuntimeError(f"ingest job exited with {proc.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"ingest job committed no batch within {startup_timeout:.0f} s; see {log_path}")
            time.sleep(0.5)
        watcher.poll()  # the empty warm-up batches
        # Only valid events, so every one of them must show up in a table.
        records = generate_events(
            int(rate * seconds), seed=seed, now=datetime.now(UTC), bad_fraction=0.0, duplicate_fraction=0.0
        )
        put_at: dict[str, float] = {}

        def acknowledged(rec: Any) -> None:
            put_at[rec.event_id] = time.time()

        producer = threading.Thread(
            target=send,
            kwargs={"records": records, "kinesis_client": kinesis, "stream": stream, "rate": rate,
                    "progress": False, "on_sent": acknowledged},
            name="bench-producer",
            daemon=True,
        )  # fmt: skip
        progress(f"latency: putting {len(records):,} events at {rate:,.0f}/s for {seconds:.0f} s")
        # CPU accounting stops before the job is stopped: a killed JVM's time never reaches our tree.
        cpu_before = cpu_snapshot()
        producer.start()
        visible: dict[str, float] = {}
        started = time.monotonic()
        last_report = started
        drain_deadline: float | None = None
        while True:
            visible.update(watcher.poll())
            if not producer.is_alive() and drain_deadline is None:
                drain_deadline = time.monotonic() + drain_timeout
            if drain_deadline is not None and (len(visible) >= len(records) or time.monotonic() > drain_deadline):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"ingest job exited with {proc.returncode} during the run; see {log_path}")
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                progress(f"latency: {len(put_at):,} put, {len(visible):,} visible ({last_report - started:.0f} s)")
            time.sleep(0.2)
        result.others_share = cpu_snapshot().since(cpu_before).others_share
        result.sent = len(put_at)
        result.latencies = [visible[i] - t for i, t in put_at.items() if i in visible]
        result.missing = result.sent - len(result.latencies)
    finally:
        _stop(proc)
    result.batch_ms = batch_durations(log_path)
    return result


def batch_durations(log_path: Path) -> list[int]:
    """``duration_ms`` of every batch that read rows, from the ingest job's per-batch log lines."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    return [int(m.group(3)) for m in _BATCH_LINE.finditer(text) if int(m.group(2)) > 0]
