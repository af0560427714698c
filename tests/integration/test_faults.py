"""Faults on the way in: throttling and expired iterators injected over HTTP, the emulator
restarted mid-run, KPL aggregates (some corrupt). The job must finish and the lake stay exact."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.producer import generate_events, send
from local.stack import ensure_stream
from local.verify import check
from schemas import load_stream
from tests.integration.kinesis_proxy import FaultyKinesisProxy

pytestmark = pytest.mark.integration

STREAM = "faults"


def test_throttling_expired_iterators_emulator_restart_and_aggregates(stack: Any, tmp_path: Path) -> None:
    kinesis = stack.client("kinesis")
    ensure_stream(kinesis, STREAM, shards=2)
    plain = generate_events(3000, seed=7, now=datetime.now(UTC))
    send(plain, kinesis_client=kinesis, stream=STREAM, progress=False)
    aggregated = generate_events(3000, seed=8, now=datetime.now(UTC), aggregated=True)
    send(aggregated, kinesis_client=kinesis, stream=STREAM, progress=False, aggregate=25)
    records = plain + aggregated
    assert any(r.kind == "corrupt_aggregate" for r in aggregated)

    with FaultyKinesisProxy(stack.kinesis_endpoint, seed=11, throttle=0.3, expire=0.15) as proxy:
        env = {**os.environ, **stack.env(), "STREAMLAKE_KINESIS_ENDPOINT": proxy.endpoint}
        argv = [
            sys.executable,
            "-m",
            "jobs.stream_ingest",
            "--stream",
            STREAM,
            "--lake",
            str(tmp_path / "lake"),
            "--checkpoint",
            str(tmp_path / "ckpt"),
            "--trigger-seconds",
            "1",
            "--until-caught-up",
            "--max-records-per-shard",
            "250",
            "--master",
            "local[2]",
            "--shuffle-partitions",
            "2",
            "--no-progress",
            "--timeout-seconds",
            "400",
        ]
        log = tmp_path / "job.log"
        with open(log, "wb") as out:
            job = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
            # Restart the emulator (same port, same on-disk data) once the job is reading.
            deadline = time.monotonic() + 120
            while "batch=1 " not in log.read_text(errors="replace") and time.monotonic() < deadline:
                if job.poll() is not None:
                    break
                time.sleep(0.5)
            stack.restart_kinesis()
            code = job.wait(timeout=400)
        assert code == 0, log.read_text(errors="replace")[-4000:]
        injected = dict(proxy.injected)

    assert injected.get("ProvisionedThroughputExceededException", 0) > 0
    assert injected.get("ExpiredIteratorException", 0) > 0
    result = check(tmp_path / "lake", records, load_stream("shop_events").tables)
    assert result.exact, result.explain()


def test_slow_calls_never_move_a_position(stack: Any, tmp_path: Path) -> None:
    """GetShardIterator and GetRecords answered after the client gave up, at random, during an
    AT_TIMESTAMP backfill and while new records keep arriving: nothing skipped, nothing doubled."""
    kinesis = stack.client("kinesis")
    ensure_stream(kinesis, "slow", shards=2)
    since = datetime.now(UTC)
    time.sleep(1.1)  # every record below arrives after the starting timestamp
    records = generate_events(1500, seed=21, now=datetime.now(UTC))
    send(records, kinesis_client=kinesis, stream="slow", progress=False)
    # Each shard's first GetShardIterator (the AT_TIMESTAMP start) is slow, then a third of all calls.
    with FaultyKinesisProxy(stack.kinesis_endpoint, seed=5, slow=0.35, delay=1.6, slow_first_iterators=2) as proxy:
        env = {**os.environ, **stack.env(), "STREAMLAKE_KINESIS_ENDPOINT": proxy.endpoint}
        argv = [
            sys.executable, "-m", "jobs.stream_ingest", "--stream", "slow",
            "--lake", str(tmp_path / "lake"), "--checkpoint", str(tmp_path / "ckpt"),
            "--starting-position", "AT_TIMESTAMP", "--starting-timestamp", since.isoformat(),
            "--kinesis-read-timeout", "1", "--trigger-seconds", "1", "--until-caught-up",
            "--max-records-per-shard", "200", "--master", "local[2]", "--shuffle-partitions", "2",
            "--no-progress", "--timeout-seconds", "400",
        ]  # fmt: skip
        log = tmp_path / "job.log"
        with open(log, "wb") as out:
            job = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
            more = generate_events(500, seed=22, now=datetime.now(UTC))
            send(more, kinesis_client=kinesis, stream="slow", progress=False)
            code = job.wait(timeout=400)
        assert code == 0, log.read_text(errors="replace")[-4000:]
        injected = dict(proxy.injected)
    result = check(tmp_path / "lake", records + more, load_stream("shop_events").tables)
    assert result.exact, result.explain()
    assert injected.get("slow_GetShardIterator", 0) > 0 and injected.get("slow_GetRecords", 0) > 0, injected
