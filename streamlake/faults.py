"""Crash points for the kill tests: ``STREAMLAKE_CRASH_AT=<point>:<n>`` SIGKILLs this process
the n-th time code passes ``crash_point(<point>)``.

Only the tests set the variable; in production every call is one dictionary look-up. SIGKILL (not
an exception) is the point: nothing gets to clean up, exactly as when a driver's host dies.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "STREAMLAKE_CRASH_AT"
_hits: Counter[str] = Counter()


def crash_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
