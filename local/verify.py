"""The exactness oracle: DuckDB reads the lake's Parquet files directly (as Athena or Spectrum
would, by listing directories) and compares them with what the producer says it sent.

It checks that each valid event is in its table exactly once, that the quarantine holds exactly
the bad records (by source position) with exactly the predicted reasons, and that the totals add
up: sent = valid + quarantined + duplicates removed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from jobs.transforms.split import QUARANTINE


@dataclass
class Exactness:
    sent: int = 0
    expected_valid: dict[str, int] = field(default_factory=dict)
    lake_rows: dict[str, int] = field(default_factory=dict)
    duplicates_sent: int = 0
    expected_quarantined: int = 0
    quarantined: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.problems

    def explain(self) -> str:
        head = (
            f"sent {self.sent}: valid {sum(self.expected_valid.values())}, bad {self.expected_quarantined}, "
            f"producer retries {self.duplicates_sent}; lake holds {sum(self.lake_rows.values())} valid rows "
            f"and {self.quarantined} quarantined"
        )
        if self.exact:
            return head + " -> EXACT"
        return head + " -> NOT EXACT:\n  " + "\n  ".join(self.problems[:20])


def query_lake(con: duckdb.DuckDBPyConnection, lake: Path, name: str, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` with ``{files}`` standing for every Parquet file of ``name`` (empty: no rows)."""
    if not any((lake / name).rglob("*.parquet")):
        return []
    source = "read_parquet(?, hive_partitioning = true)"
    return con.execute(sql.format(files=source), [str(lake / name / "**" / "*.parquet")]).fetchall()


def lake_rows(con: duckdb.DuckDBPyConnection, lake: Path, table: str, columns: str) -> list[tuple[Any, ...]]:
    return query_lake(con, lake, table, f"SELECT {columns} FROM {{files}}")


def check(lake: Path, records: Iterable[Any], tables: Iterable[str]) -> Exactness:
    """Compare the lake under ``lake`` with the producer's ``records`` (ProducedRecord-like)."""
    result = Exactness()
    expected_ids: dict[str, set[str]] = defaultdict(set)
    expected_bad: dict[tuple[str, str, int], list[str]] = {}
    for rec in records:
        result.sent += 1
        if rec.kind == "valid":
            expected_ids[rec.table].add(rec.event_id)
        elif rec.kind == "duplicate":
            result.duplicates_sent += 1
        else:
            pos = (rec.shard_id, rec.sequence_number, int(rec.sub_sequence_number or 0))
            expected_bad[pos] = sorted(rec.expected_reasons)
    result.expected_quarantined = len(expected_bad)
    con = duckdb.connect()
    for table in tables:
        rows = lake_rows(con, lake, table, "event_id")
        ids = Counter(r[0] for r in rows)
        result.lake_rows[table] = len(rows)
        result.expected_valid[table] = len(expected_ids[table])
        twice = [i for i, n in ids.items() if n > 1]
        if twice:
            result.problems.append(f"{table}: {len(twice)} event ids stored more than once, e.g. {twice[:3]}")
        missing = expected_ids[table] - ids.keys()
        if missing:
            result.problems.append(f"{table}: {len(missing)} valid events missing, e.g. {sorted(missing)[:3]}")
        extra = ids.keys() - expected_ids[table]
        if extra:
            result.problems.append(f"{table}: {len(extra)} unexpected event ids, e.g. {sorted(extra)[:3]}")
    quarantined = lake_rows(con, lake, QUARANTINE, "_shard_id, _sequence_number, _sub_sequence_number, reasons")
    result.quarantined = len(quarantined)
    got: dict[tuple[str, str, int], list[str]] = {}
    for shard, seq, sub, reasons in quarantined:
        pos = (shard, seq, int(sub))
        if pos in got:
            result.problems.append(f"quarantine: record at {pos} stored more than once")
        got[pos] = sorted(reasons)
    for pos, reasons in expected_bad.items():
        if pos not in got:
            result.problems.append(f"quarantine: bad record at {pos} missing (expected {reasons})")
        elif got[pos] != reasons:
            result.problems.append(f"quarantine: record at {pos} has reasons {got[pos]}, expected {reasons}")
    for pos in got.keys() - expected_bad.keys():
        result.problems.append(f"quarantine: unexpected record at {pos} with reasons {got[pos]}")
    return result
