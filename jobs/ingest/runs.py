"""Keep lake batch ids unique across Spark checkpoints.

Spark numbers micro-batches from 0 in every new checkpoint. The lake writer treats a batch id it
has committed before as a replay and writes nothing, so a deleted (or new) checkpoint writing into
an existing lake would have its first batches silently skipped. Each checkpoint (Spark query id)
therefore claims a *run ordinal* in the lake, and the writer sees
``ordinal * RUN_STRIDE + spark_batch_id``. See docs/decisions/0005-lake-run-ordinals.md.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobs.lake.fs import LakeFS, filesystem_for
from jobs.lake.layout import RUNS
from streamlake.errors import LakeError, PreflightError

log = logging.getLogger(__name__)

RUN_STRIDE = 1_000_000_000  # batches per checkpoint; 12-digit lake batch names leave 999 runs


@dataclass(frozen=True)
class Run:
    query_id: str
    ordinal: int

    def lake_batch_id(self, spark_batch_id: int) -> int:
        if spark_batch_id >= RUN_STRIDE:
            raise LakeError(f"Spark batch id {spark_batch_id} exceeds {RUN_STRIDE - 1} for one checkpoint")
        return self.ordinal * RUN_STRIDE + spark_batch_id


def checkpoint_query_id(checkpoint: str, *, s3_client: Any | None = None) -> str:
    """The id Spark stores in ``<checkpoint>/metadata`` when a query first starts."""
    fs = filesystem_for(checkpoint, s3_client=s3_client)
    try:
        return str(json.loads(fs.read_bytes("metadata"))["id"])
    except (OSError, KeyError, ValueError) as exc:
        raise LakeError(f"cannot read the query id from {checkpoint}/metadata: {exc}") from exc


def claim_run(lake: LakeFS, query_id: str) -> Run:
    """The ordinal of ``query_id`` in this lake, claiming the next free one the first time."""
    claims = sorted(f.key for f in lake.list(f"{RUNS}/"))
    ordinals: list[int] = []
    for key in claims:
        ordinal = int(key.rsplit("/", 1)[-1].removesuffix(".json"))
        if json.loads(lake.read_bytes(key))["query_id"] == query_id:
            return Run(query_id, ordinal)
        ordinals.append(ordinal)
    ordinal = max(ordinals, default=-1) + 1
    # A conditional put: two checkpoints can never claim the same ordinal.
    while not lake.put_if_absent(f"{RUNS}/{ordinal:03d}.json", json.dumps({"query_id": query_id}).encode()):
        ordinal += 1
    if ordinal:
        log.warning("lake already holds data from %d other checkpoint(s); this one is run %d", ordinal, ordinal)
    return Run(query_id, ordinal)


def check_new_checkpoint(lake: LakeFS, checkpoint_fs: LakeFS, *, allowed: bool, starting_position: str) -> None:
    """Refuse to start an empty checkpoint over a lake that other checkpoints have written.

    A new checkpoint does not know where the old one stopped: from TRIM_HORIZON it would load the
    stream again (the de-duplication state went with the old checkpoint).
    """
    if allowed or checkpoint_fs.exists("metadata"):
        return
    runs = lake.list(f"{RUNS}/")
    if not runs:
        return
    last = max(runs, key=lambda f: f.mtime)
    raise PreflightError(
        f"the checkpoint is new but the lake already holds batches from {len(runs)} earlier checkpoint(s) "
        f"(latest claimed {datetime.fromtimestamp(last.mtime, UTC).isoformat(timespec='seconds')}). "
        f"Starting at {starting_position} could load records twice. Restore the original checkpoint, or "
        "start after the data already in the lake (--starting-position AT_TIMESTAMP --starting-timestamp ...) "
        "and pass --allow-new-checkpoint."
    )
