"""`make run` end to end, twice: the second run adds events and the lake stays exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.run import main

pytestmark = pytest.mark.integration


def test_make_run_twice_stays_exact(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--count", "1500", "--trigger-seconds", "1"]) == 0
    first = capsys.readouterr().out
    assert "per shard" in first and "-> EXACT" in first
    assert main(["--count", "1000", "--trigger-seconds", "1"]) == 0
    second = capsys.readouterr().out
    assert "exactness over 2 run(s)" in second and "-> EXACT" in second
    assert sorted(p.name for p in (home / "reports" / "manifests").iterdir()) == ["run-0000.jsonl", "run-0001.jsonl"]
