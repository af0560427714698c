"""The lake lease: one holder; a live holder refuses a second driver, a dead one is waited out."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.ingest.lease import Lease, LeaseLostError
from jobs.lake.fs import LocalFS
from streamlake.errors import PreflightError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.on_sleep: list[object] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for beat in self.on_sleep:
            beat()  # type: ignore[operator]


def _lease(lake: LocalFS, clock: Clock) -> Lease:
    return Lease(lake, name="shop-events", ttl_seconds=10, clock=clock, sleep=clock.sleep)


def test_a_live_holder_refuses_a_second_driver(tmp_path: Path) -> None:
    lake, clock = LocalFS(tmp_path), Clock()
    first = _lease(lake, clock)
    first.acquire()
    assert first.generation == 1
    clock.on_sleep.append(first._beat)  # the first driver keeps heartbeating while the second waits
    with pytest.raises(PreflightError, match="another driver holds the lease"):
        _lease(lake, clock).acquire()
    first.check()  # still the holder


def test_a_dead_holder_is_waited_out_and_then_fenced(tmp_path: Path) -> None:
    lake, clock = LocalFS(tmp_path), Clock()
    dead = _lease(lake, clock)
    dead.acquire()
    second = _lease(lake, clock)
    second.acquire()  # waits until the dead holder's heartbeat is older than the ttl
    assert second.generation == 2 and clock.now >= 1_010.0
    with pytest.raises(LeaseLostError, match="another driver took the lease"):
        dead.check()  # a stale driver that wakes up publishes nothing


def test_a_released_lease_is_taken_at_once(tmp_path: Path) -> None:
    lake, clock = LocalFS(tmp_path), Clock()
    first = _lease(lake, clock)
    first.acquire()
    first.release()
    second = _lease(lake, clock)
    second.acquire()
    assert second.generation == 2 and clock.now == 1_000.0


def test_a_holder_that_could_not_heartbeat_for_a_ttl_has_lost_it(tmp_path: Path) -> None:
    lake, clock = LocalFS(tmp_path), Clock()
    lease = _lease(lake, clock)
    lease.acquire()
    clock.now += 10
    with pytest.raises(LeaseLostError, match="no heartbeat"):
        lease.check()
