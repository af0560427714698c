"""The local stack starts on free ports, serves Kinesis and S3, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.stack import ensure_bucket, ensure_database, ensure_stream, local_stack

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); count it as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_stack_serves_and_stops(tmp_path: Path) -> None:
    with local_stack(state_dir=tmp_path) as st:
        pids = [st.kinesis.pid, st.moto.pid]
        arn = ensure_stream(st.client("kinesis"), "s1", shards=2)
        assert ensure_stream(st.client("kinesis"), "s1", shards=2) == arn  # idempotent
        ensure_bucket(st.client("s3"), "streamlake-test")
        ensure_bucket(st.client("s3"), "streamlake-test")
        ensure_database(st.client("glue"), "db")
        ensure_database(st.client("glue"), "db")
        assert (tmp_path / "endpoints.json").exists()
    assert all(p is not None and not _alive(p) for p in pids)
    assert not (tmp_path / "endpoints.json").exists()


def test_servers_die_with_a_sigkilled_parent(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from local.stack import start;"
        f"st = start(state_dir=Path({str(tmp_path)!r}));"
        "print(st.kinesis.pid, st.moto.pid, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert all(_alive(p) for p in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_kinesis_restart_keeps_data(tmp_path: Path) -> None:
    with local_stack(state_dir=tmp_path) as st:
        k = st.client("kinesis")
        ensure_stream(k, "durable", shards=1)
        k.put_record(StreamName="durable", Data=b"x", PartitionKey="p")
        st.restart_kinesis()
        k = st.client("kinesis")
        shard = k.list_shards(StreamName="durable")["Shards"][0]["ShardId"]
        it = k.get_shard_iterator(StreamName="durable", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        assert [r["Data"] for r in k.get_records(ShardIterator=it["ShardIterator"])["Records"]] == [b"x"]
