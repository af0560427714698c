"""Run ordinals keep lake batch ids unique per checkpoint; a new checkpoint over a used lake is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.ingest.runs import RUN_STRIDE, check_new_checkpoint, claim_run
from jobs.lake.fs import filesystem_for
from streamlake.errors import LakeError, PreflightError


def test_each_checkpoint_gets_its_own_ordinal_and_keeps_it(tmp_path: Path) -> None:
    lake = filesystem_for(str(tmp_path))
    first = claim_run(lake, "query-a")
    second = claim_run(lake, "query-b")
    assert (first.ordinal, second.ordinal) == (0, 1)
    assert claim_run(lake, "query-a") == first  # a restart of the same checkpoint
    assert first.lake_batch_id(5) == 5
    assert second.lake_batch_id(5) == RUN_STRIDE + 5
    with pytest.raises(LakeError):
        first.lake_batch_id(RUN_STRIDE)


def test_new_checkpoint_over_a_used_lake_is_refused_unless_allowed(tmp_path: Path) -> None:
    lake = filesystem_for(str(tmp_path / "lake"))
    fresh = filesystem_for(str(tmp_path / "ckpt"))
    check_new_checkpoint(lake, fresh, allowed=False, starting_position="TRIM_HORIZON")  # empty lake: fine
    claim_run(lake, "old-query")
    with pytest.raises(PreflightError, match="--allow-new-checkpoint"):
        check_new_checkpoint(lake, fresh, allowed=False, starting_position="TRIM_HORIZON")
    check_new_checkpoint(lake, fresh, allowed=True, starting_position="AT_TIMESTAMP")
    fresh.write_bytes("metadata", b'{"id": "old-query"}')  # the original checkpoint, restored
    check_new_checkpoint(lake, fresh, allowed=False, starting_position="TRIM_HORIZON")
