"""Shard skew on the real emulator: one hot shard with a backlog far behind quiet ones, a small
per-shard budget and a dedup window of seconds, then a restart after an outage longer than the
window. Every event must land exactly once (an arrival-time watermark dropped the hot shard)."""

from __future__ import annotations

import hashlib
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

pytestmark = pytest.mark.integration

STREAM = "skew"


def _produce(kinesis: Any, n: int, seed: int, hot_share: float) -> list[Any]:
    """Events whose partition key is one hot key for ``hot_share`` of them (chosen by event id, so
    a producer retry keeps its original's key and shard, as real retries do)."""
    records = generate_events(n, seed=seed, now=datetime.now(UTC))
    for r in records:
        digest = hashlib.sha256((r.event_id or str(r.index)).encode()).digest()[0] / 255
        if digest < hot_share:
            r.partition_key = "hot"
    send(records, kinesis_client=kinesis, stream=STREAM, progress=False)
    return records


def _ingest(stack: Any, tmp: Path, run: int) -> None:
    env = {**os.environ, **stack.env()}
    argv = [
        sys.executable, "-m", "jobs.stream_ingest", "--stream", STREAM,
        "--lake", str(tmp / "lake"), "--checkpoint", str(tmp / "ckpt"),
        "--max-records-per-shard", "100", "--dedup-window", "2 seconds", "--trigger-seconds", "0.5",
        "--until-caught-up", "--master", "local[2]", "--shuffle-partitions", "2", "--no-progress",
        "--timeout-seconds", "400",
    ]  # fmt: skip
    log = tmp / f"run{run}.log"
    with open(log, "wb") as out:
        code = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=450).returncode
    assert code == 0, log.read_text(errors="replace")[-4000:]


def test_a_hot_shard_far_behind_and_an_outage_longer_than_the_window_lose_nothing(stack: Any, tmp_path: Path) -> None:
    kinesis = stack.client("kinesis")
    ensure_stream(kinesis, STREAM, shards=4)
    # Wave 1 mostly on the hot shard; wave 2, seconds later, only on the quiet ones: the quiet
    # shards are read to wave 2 while the hot shard is still deep in wave 1.
    records = _produce(kinesis, 1500, seed=31, hot_share=0.9)
    time.sleep(5)
    records += _produce(kinesis, 400, seed=32, hot_share=0.0)
    _ingest(stack, tmp_path, 1)
    time.sleep(3)  # an outage longer than the dedup window
    records += _produce(kinesis, 500, seed=33, hot_share=0.5)
    _ingest(stack, tmp_path, 2)
    result = check(tmp_path / "lake", records, load_stream("shop_events").tables)
    assert result.exact, result.explain()
