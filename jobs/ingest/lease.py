"""One writer per lake and stream: a lease in the lake, taken with a conditional put, kept alive by
heartbeats, checked before every publish.

Layout: ``<lake>/_commits/_leases/<stream>/<generation>.lease.json`` (write-once, the claim) and
``<generation>.beat.json`` (overwritten by the holder every ``ttl / 3`` seconds). A driver takes
generation ``n + 1`` with ``put_if_absent`` only when generation ``n``'s last heartbeat is older
than ``ttl`` or says it was released, so of two drivers exactly one holds it:

* a second driver (a YARN attempt retry, a re-run step, an operator's double start) sees the
  holder's heartbeat move and exits with a configuration error before it reads anything;
* a driver restarted after a crash waits for the dead holder's heartbeat to age past ``ttl``,
  then takes over;
* a holder that finds a newer generation, or could not heartbeat for ``ttl``, has lost the
  lease and publishes nothing more (:meth:`Lease.check` runs before recovery, publish and commit).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from jobs.lake import layout
from jobs.lake.fs import LakeFS
from streamlake.errors import LakeError, PreflightError

log = logging.getLogger(__name__)

LEASES = f"{layout.COMMITS}/_leases"


class LeaseLostError(LakeError):
    """Another driver took the lease: this one must not publish."""


class Lease:
    def __init__(
        self,
        lake: LakeFS,
        *,
        name: str,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.lake = lake
        self.name = name
        self.ttl = ttl_seconds
        self.clock = clock
        self.sleep = sleep
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.generation: int | None = None
        self._last_beat = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None

    # -- keys ---------------------------------------------------------------------------------

    def _prefix(self) -> str:
        return f"{LEASES}/{self.name}"

    def _claim_key(self, generation: int) -> str:
        return f"{self._prefix()}/{generation:012d}.lease.json"

    def _beat_key(self, generation: int) -> str:
        return f"{self._prefix()}/{generation:012d}.beat.json"

    def _latest(self) -> int:
        gens = [
            int(info.key.rsplit("/", 1)[-1].split(".")[0])
            for info in self.lake.list(self._prefix())
            if info.key.endswith(".lease.json")
        ]
        return max(gens, default=0)

    def _holder(self, generation: int) -> dict[str, Any]:
        """The claim of ``generation`` merged with its last heartbeat."""
        holder: dict[str, Any] = json.loads(self.lake.read_bytes(self._claim_key(generation)))
        with contextlib.suppress(FileNotFoundError):  # taken a moment ago, no heartbeat yet
            holder.update(json.loads(self.lake.read_bytes(self._beat_key(generation))))
        return holder

    # -- the protocol -------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lease, waiting out a dead holder; raise PreflightError if a live one holds it."""
        first_seen: tuple[int, float] | None = None
        while True:
            latest = self._latest()
            if latest:
                holder = self._holder(latest)
                beat = float(holder.get("at", holder.get("acquired_at", 0.0)))
                age = self.clock() - beat
                if not holder.get("released") and age < self.ttl:
                    if first_seen is not None and first_seen != (latest, beat):
                        raise PreflightError(
                            f"another driver holds the lease on stream {self.name!r} in this lake "
                            f"({holder.get('owner')}, heartbeat {age:.0f}s ago): run one driver per lake and "
                            f"stream; if it is stopping, start this one again after {self.ttl:g}s"
                        )
                    if first_seen is None:
                        log.warning(
                            "lease on %s held by %s (heartbeat %.1fs ago, ttl %gs): waiting to see whether it is alive",
                            self.name,
                            holder.get("owner"),
                            age,
                            self.ttl,
                        )
                    first_seen = (latest, beat)
                    self.sleep(min(self.ttl - age, self.ttl / 3) + 0.05)
                    continue
            now = self.clock()
            claim = {"owner": self.owner, "generation": latest + 1, "acquired_at": now}
            if self.lake.put_if_absent(self._claim_key(latest + 1), json.dumps(claim).encode()):
                self.generation = latest + 1
                self._beat()
                log.info("lease on %s taken: generation %d by %s", self.name, self.generation, self.owner)
                return
            # Someone else took generation latest + 1 a moment ago: look again (it is alive).

    def check(self) -> None:
        """Raise :class:`LeaseLostError` unless this driver still holds the lease."""
        if self.generation is None:
            raise LeaseLostError(f"lease on {self.name!r} was never taken")
        if self.lost:
            raise LeaseLostError(self.lost)
        if self.lake.exists(self._claim_key(self.generation + 1)):
            self.lost = f"another driver took the lease on {self.name!r} (generation {self.generation + 1})"
            raise LeaseLostError(self.lost)
        if self.clock() - self._last_beat >= self.ttl:
            self.lost = f"no heartbeat on the lease of {self.name!r} for {self.clock() - self._last_beat:.0f}s"
            raise LeaseLostError(self.lost)

    def start_heartbeats(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.ttl / 3):
                try:
                    self.check()
                    self._beat()
                except LeaseLostError as exc:
                    log.error("%s; this driver publishes nothing more", exc)
                    return
                except Exception as exc:  # a storage hiccup: the next beat may work
                    log.warning("lease heartbeat on %s failed: %s", self.name, exc)

        self._thread = threading.Thread(target=loop, name="streamlake-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop heartbeating and mark the lease free, so the next driver need not wait."""
        self._stop.set()
        if self.generation is None or self.lost:
            return
        try:
            self._beat(released=True)
        except Exception as exc:
            log.warning("could not release the lease on %s: %s (the next driver waits %gs)", self.name, exc, self.ttl)

    def _beat(self, *, released: bool = False) -> None:
        assert self.generation is not None
        now = self.clock()
        body = {"owner": self.owner, "at": now, "released": released}
        self.lake.write_bytes(self._beat_key(self.generation), json.dumps(body).encode())
        self._last_beat = now
