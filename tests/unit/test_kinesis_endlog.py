"""Write-once semantics of the end log on a file system (tests/integration/test_kinesis_endlog_s3.py: on S3)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from jobs.kinesis.endlog import EndLog, LocalEndLog, claim, entry_key, open_end_log
from streamlake.errors import SourceError


def _race(args: tuple[str, int]) -> bool:
    root, i = args
    return LocalEndLog(Path(root)).put_if_absent("run/000000000001/shard.json", {"attempt": i})


def check_write_once(end_log: EndLog) -> None:
    key = entry_key("run", 1, "shardId-000000000003")
    assert key == "run/000000000001/shardId-000000000003.json"
    assert end_log.get(key) is None
    assert end_log.put_if_absent(key, {"end": "AFTER_SEQUENCE_NUMBER:1", "records": 1})
    assert not end_log.put_if_absent(key, {"end": "AFTER_SEQUENCE_NUMBER:2", "records": 2})
    assert end_log.get(key) == {"end": "AFTER_SEQUENCE_NUMBER:1", "records": 1}
    assert claim(end_log, key, {"end": "SHARD_END"}) == {"end": "AFTER_SEQUENCE_NUMBER:1", "records": 1}
    mine = {"end": "NOCHANGE"}
    assert claim(end_log, entry_key("run", 2, "s"), mine) is mine


def check_retention(end_log: EndLog) -> None:
    for epoch in range(1, 6):
        end_log.put_if_absent(entry_key("run", epoch, "a"), {"epoch": epoch})
        end_log.put_if_absent(entry_key("run", epoch, "b"), {"epoch": epoch})
    end_log.put_if_absent(entry_key("other", 1, "a"), {"epoch": 1})
    assert end_log.delete_epochs_before("run", 4) == 3
    assert [end_log.get(entry_key("run", e, "a")) is not None for e in range(1, 6)] == [False, False, False, True, True]
    assert end_log.get(entry_key("other", 1, "a")) is not None


def test_local_write_once(tmp_path: Path) -> None:
    end_log = open_end_log(f"file://{tmp_path}")
    assert isinstance(end_log, LocalEndLog)
    check_write_once(end_log)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]  # no temp files left


def test_local_retention(tmp_path: Path) -> None:
    check_retention(LocalEndLog(tmp_path))


def test_local_claim_has_one_winner_across_processes(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_race, [(str(tmp_path), i) for i in range(16)]))
    assert results.count(True) == 1
    winner = results.index(True)
    assert LocalEndLog(tmp_path).get("run/000000000001/shard.json") == {"attempt": winner}


def test_an_unreadable_entry_is_an_error_not_a_missing_claim(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x.json").write_text("{truncated")
    with pytest.raises(SourceError, match="not JSON"):
        LocalEndLog(tmp_path).get("run/x.json")
