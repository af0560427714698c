"""Process-tree accounting from ``/proc``: peak memory and CPU time of this process and every
descendant (the driver JVM, Spark's Python workers).

A background thread scans ``/proc`` at ~5 Hz, sums the resident set of the Java and Python processes
of the tree and keeps the peak per *phase* (a label the benchmark sets around each measured step).
RSS counts pages shared between forked Python workers once per process, so the sum is an upper
bound. Short-lived helpers the JVM spawns are left out of the total (see :func:`sample_tree`).

CPU time (:func:`cpu_snapshot`) is what makes numbers comparable on a shared machine: the tree's
own user + system seconds do not grow when another process takes a core, and the machine-wide busy
time minus ours says how much others took while we measured.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


@dataclass
class TreeSample:
    """RSS bytes of one scan: ``total`` = ``jvm`` + ``python``; ``other`` (helpers) is not in it."""

    total: int = 0
    jvm: int = 0
    python: int = 0
    other: int = 0
    processes: int = 0


def _stat(pid: int) -> tuple[int, int] | None:
    """``(ppid, rss_bytes)`` from ``/proc/<pid>/stat``, or ``None`` if it vanished."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its closing one.
    rest = text[text.rfind(")") + 2 :].split()
    return int(rest[1]), int(rest[21]) * _PAGE


def _cpu_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of ``pid`` (children count once their parent reaps them)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0
    rest = text[text.rfind(")") + 2 :].split()
    return sum(int(v) for v in rest[11:15])


def _machine_busy_ticks() -> int:
    """Every CPU's non-idle time since boot, from the first line of ``/proc/stat``."""
    try:
        fields = (_PROC / "stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]) - idle


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by the process tree and by the whole machine."""

    tree: float
    machine: float
    wall: float

    def since(self, earlier: CpuSnapshot) -> CpuUse:
        return CpuUse(
            tree=self.tree - earlier.tree, machine=self.machine - earlier.machine, wall=self.wall - earlier.wall
        )


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds over an interval: ours (``tree``), everyone's (``machine``), and the wall time."""

    tree: float
    machine: float
    wall: float

    @property
    def others_share(self) -> float:
        """Share of the machine's CPU capacity other processes used during the interval."""
        capacity = self.wall * (os.cpu_count() or 1)
        return max(0.0, self.machine - self.tree) / capacity if capacity > 0 else 0.0


def cpu_snapshot(root: int | None = None) -> CpuSnapshot:
    """CPU time of ``root`` (default: this process) and its descendants, and of the machine."""
    import time

    root = os.getpid() if root is None else root
    parents: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                parents[int(entry.name)] = st[0]
    tree = sum(_cpu_ticks(pid) for pid in descendants(root, parents))
    return CpuSnapshot(tree=tree / _TICK, machine=_machine_busy_ticks() / _TICK, wall=time.monotonic())


def _comm(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def descendants(root: int, parents: dict[int, int]) -> set[int]:
    """``root`` and every process whose parent chain reaches it (``parents``: pid -> ppid)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def sample_tree(root: int | None = None) -> TreeSample:
    """One scan of ``/proc``: the RSS of ``root`` (default: this process) and its descendants."""
    root = os.getpid() if root is None else root
    stats: dict[int, tuple[int, int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                stats[int(entry.name)] = st
    tree = descendants(root, {pid: st[0] for pid, st in stats.items()})
    out = TreeSample()
    for pid in tree:
        if pid not in stats:
            continue
        rss = stats[pid][1]
        comm = _comm(pid)
        if comm == "java":
            out.jvm += rss
        elif comm.startswith("python"):
            out.python += rss
        else:
            # The JVM starts helpers (jspawnhelper, sh, ls for file permissions) with vfork/posix_spawn:
            # for an instant they report the JVM's whole RSS, which is not extra memory. Kept apart.
            out.other += rss
            continue
        out.total += rss
        out.processes += 1
    return out


@dataclass
class MemorySampler:
    """Samples the process tree in a thread; ``phase(name)`` attributes samples to a phase."""

    interval: float = 0.2
    peaks: dict[str, TreeSample] = field(default_factory=dict)
    _phase: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Attribute samples taken while the block runs to ``name`` (one sample at entry and exit)."""
        with self._lock:
            self._phase = name
        self._record(name)
        try:
            yield
        finally:
            self._record(name)
            with self._lock:
                self._phase = None

    def peak(self, name: str) -> TreeSample | None:
        with self._lock:
            return self.peaks.get(name)

    def _record(self, name: str) -> None:
        sample = sample_tree()
        with self._lock:
            best = self.peaks.get(name)
            if best is None or sample.total > best.total:
                self.peaks[name] = sample

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                name = self._phase
            if name is not None:
                self._record(name)
