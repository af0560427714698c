"""The main job: Kinesis -> decode, route, parse, rules, dedup -> exactly-once Parquet lake + Glue.

Run it with ``spark-submit jobs/stream_ingest.py --help`` (locally, as an EMR step or from the
Glue adapter). This file only turns arguments into a config and a config into an exit code; the
wiring lives in :mod:`jobs.ingest.job`, which ``make run`` and the benchmark call too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from streamlake.errors import ConfigError, StreamlakeError
from streamlake.logs import configure_logging

log = logging.getLogger("streamlake.ingest")


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when the run ended as asked, 2 on a configuration error, 1 on a runtime failure."""
    from jobs.ingest.config import parse_config
    from jobs.ingest.job import run_ingest

    configure_logging()
    try:
        config = parse_config(argv)
        summary = run_ingest(config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except StreamlakeError as exc:
        log.error("%s", exc)
        return 1
    return 1 if summary.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
