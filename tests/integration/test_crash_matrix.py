"""The crash matrix: the real job, SIGKILLed again and again, must leave the lake exact.

The driver is killed at every step of the lake commit protocol (staged, intent written, mid
publish, while registering partitions, after commit records, after the marker) and at seeded
random moments; shards are split and merged while the job is down and while it runs; new events
arrive between restarts. After a final run to completion, DuckDB reading the Parquet files must see
each valid event exactly once and the quarantine exactly the bad records, with their reasons.
"""

from __future__ import annotations

import itertools
import os
import random
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

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 20261123
STREAM = "crash-matrix"
KILLED = -9


class Harness:
    def __init__(self, stack: Any, tmp: Path, stream: str = STREAM) -> None:
        self.stack = stack
        self.stream = stream
        self.lake = tmp / "lake"
        self.checkpoint = tmp / "checkpoint"
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.kinesis = stack.client("kinesis")
        self.records: list[Any] = []
        self.runs = 0
        self.kills = 0

    def produce(self, n: int, seed: int) -> None:
        records = generate_events(n, seed=seed, now=datetime.now(UTC))
        send(records, kinesis_client=self.kinesis, stream=self.stream, progress=False)
        self.records.extend(records)

    def start(self, crash_at: str | None = None) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.stack.env()}
        env.pop("STREAMLAKE_CRASH_AT", None)
        if crash_at:
            env["STREAMLAKE_CRASH_AT"] = crash_at
        argv = [
            sys.executable,
            "-m",
            "jobs.stream_ingest",
            "--stream",
            self.stream,
            "--lake",
            str(self.lake),
            "--checkpoint",
            str(self.checkpoint),
            "--glue-database",
            "crash",
            "--trigger-seconds",
            "1",
            "--until-caught-up",
            # Small per-shard budgets: many batches, so kills land mid-stream.
            "--max-records-per-shard",
            "700",
            "--master",
            "local[2]",
            "--shuffle-partitions",
            "2",
            "--no-progress",
            "--timeout-seconds",
            "300",
        ]
        self.runs += 1
        log = open(self.logs / f"run-{self.runs:02d}.log", "wb")  # noqa: SIM115 - closed by the child's exit
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def finish(self, proc: subprocess.Popen[bytes], timeout: float = 300) -> int:
        code = proc.wait(timeout=timeout)
        if code == KILLED:
            self.kills += 1
        elif code != 0:
            tail = (self.logs / f"run-{self.runs:02d}.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"run {self.runs} failed with exit code {code}:\n{tail}")
        return code

    def kill_after(self, seconds: float) -> int:
        proc = self.start()
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
        return self.finish(proc)

    def open_shards(self) -> list[dict[str, Any]]:
        shards = self.kinesis.list_shards(StreamName=self.stream)["Shards"]
        return [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]

    def split(self) -> None:
        shard = self.open_shards()[0]
        lo, hi = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
        self.kinesis.split_shard(
            StreamName=self.stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((lo + hi) // 2)
        )
        self._wait_active()

    def merge(self) -> None:
        shards = sorted(self.open_shards(), key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
        for a, b in itertools.pairwise(shards):
            if int(a["HashKeyRange"]["EndingHashKey"]) + 1 == int(b["HashKeyRange"]["StartingHashKey"]):
                self.kinesis.merge_shards(
                    StreamName=self.stream, ShardToMerge=a["ShardId"], AdjacentShardToMerge=b["ShardId"]
                )
                self._wait_active()
                return
        raise AssertionError("no adjacent open shards to merge")

    def _wait_active(self) -> None:
        for _ in range(100):
            if (
                self.kinesis.describe_stream_summary(StreamName=self.stream)["StreamDescriptionSummary"]["StreamStatus"]
                == "ACTIVE"
            ):
                return
            time.sleep(0.1)


def test_driver_killed_at_every_step_and_at_random_moments(stack: Any, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    h = Harness(stack, tmp_path)
    ensure_stream(h.kinesis, STREAM, shards=4)
    h.produce(6000, seed=SEED)

    # 1. A kill at every step of the commit protocol (the n-th time the step is reached).
    for point in (
        "lake.staged:1",
        "lake.intent:2",
        "lake.publish:3",
        "lake.register:2",
        "lake.commit:1",
        "lake.marker:2",
        "lake.publish:7",
        "lake.register:5",
    ):
        h.finish(h.start(crash_at=point))
        if rng.random() < 0.5:
            h.produce(500, seed=rng.randrange(10**9))
    # 2. Resharding while the job is down.
    h.split()
    h.produce(1000, seed=rng.randrange(10**9))
    # 3. Kills at seeded random moments (JVM start-up takes a few seconds of each).
    for _ in range(4):
        h.kill_after(rng.uniform(4.0, 16.0))
    h.merge()
    h.produce(1000, seed=rng.randrange(10**9))
    # 4. A split during a run, then a clean run to completion.
    proc = h.start()
    time.sleep(8)
    h.split()
    h.produce(800, seed=rng.randrange(10**9))
    h.finish(proc)
    h.finish(h.start())

    assert h.kills >= 10, f"only {h.kills} of {h.runs} runs were killed; the matrix did not exercise crashes"
    result = check(h.lake, h.records, load_stream("shop_events").tables)
    assert result.exact, result.explain()
    assert sum(result.lake_rows.values()) == sum(result.expected_valid.values()) > 0


def test_caught_up_after_a_crash_means_every_record_put_before_the_run(stack: Any, tmp_path: Path) -> None:
    """Killed right after a batch's positions were claimed, more records and a reshard while down:
    the next --until-caught-up run exits 0 only with everything put before it started, and a run
    right after it reads nothing."""
    h = Harness(stack, tmp_path, stream="caught-up")
    ensure_stream(h.kinesis, h.stream, shards=2)
    h.produce(1000, seed=SEED + 1)  # one batch reads it all and reaches the tip
    assert h.finish(h.start(crash_at="lake.staged:1")) == KILLED  # its ends (caught up) are claimed
    h.produce(600, seed=SEED + 2)
    assert h.finish(h.start()) == 0  # replays the killed batch first, whose claims say "caught up"
    result = check(h.lake, h.records, load_stream("shop_events").tables)
    assert result.exact, result.explain()
    # Again with a reshard while down.
    assert h.finish(h.start(crash_at="lake.staged:1")) == KILLED
    h.produce(600, seed=SEED + 3)
    h.split()
    h.produce(600, seed=SEED + 4)
    assert h.finish(h.start()) == 0
    result = check(h.lake, h.records, load_stream("shop_events").tables)
    assert result.exact, result.explain()
    assert h.finish(h.start()) == 0
    last = (h.logs / f"run-{h.runs:02d}.log").read_text(errors="replace")
    assert " read=0 " in next(line for line in last.splitlines() if "streamlake.ingest: run:" in line), last[-2000:]


def test_two_drivers_on_one_checkpoint_exactly_one_writes(stack: Any, tmp_path: Path) -> None:
    """A second driver while the first runs exits 2 before reading; a driver started right after
    one killed mid-publish waits out its lease and finishes the job; the lake is exact."""
    h = Harness(stack, tmp_path, stream="fence")
    ensure_stream(h.kinesis, h.stream, shards=2)
    h.produce(12000, seed=SEED + 5)  # enough that the first driver is still reading when the second starts
    first = h.start()
    first_log = h.logs / f"run-{h.runs:02d}.log"
    deadline = time.monotonic() + 120
    while "batch=1 " not in first_log.read_text(errors="replace") and time.monotonic() < deadline:
        assert first.poll() is None, first_log.read_text(errors="replace")[-3000:]
        time.sleep(0.5)
    second = h.start()
    assert second.wait(timeout=120) == 2
    assert "another driver holds the lease" in (h.logs / f"run-{h.runs:02d}.log").read_text(errors="replace")
    assert first.poll() is None  # the first one is untouched and still running
    first.kill()
    assert h.finish(first) == KILLED
    h.produce(2000, seed=SEED + 6)
    assert h.finish(h.start(crash_at="lake.publish:2")) == KILLED  # waited out the first, died mid-publish
    h.produce(500, seed=SEED + 7)
    assert h.finish(h.start()) == 0
    result = check(h.lake, h.records, load_stream("shop_events").tables)
    assert result.exact, result.explain()
