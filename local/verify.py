"""The exactness oracle: DuckDB reads the lake's Parquet files directly (as Athena or Spectrum
would, by listing directories) and compares them with what the producer says it sent.

It checks that each valid event is in its table exactly once with every column equal to the sent
value after the declared cast and in the partition its event time says, that the quarantine holds
exactly the bad records (by source position) with exactly the predicted reasons and their original
bytes, and that the totals add up: sent = valid + quarantined + duplicates removed.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from jobs.transforms.split import QUARANTINE
from local.expected import expected_partition, expected_value, stored_value
from schemas import load_table
from schemas.model import Table


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
    source = "read_parquet(?, hive_partitioning = true, union_by_name = true)"
    return con.execute(sql.format(files=source), [str(lake / name / "**" / "*.parquet")]).fetchall()


def _payload(rec: Any) -> bytes | None:
    """The sent bytes of a ProducedRecord or a manifest row (None: an old manifest without them)."""
    data = getattr(rec, "data", None)
    return bytes(data) if data is not None else None


def _sha256(rec: Any) -> str | None:
    data = _payload(rec)
    return hashlib.sha256(data).hexdigest() if data is not None else getattr(rec, "sha256", None)


def check(lake: Path, records: Iterable[Any], tables: Iterable[str]) -> Exactness:
    """Compare the lake under ``lake`` with the producer's ``records`` (ProducedRecord-like).

    Each valid event must be stored exactly once, every declared column equal to the sent value
    after its declared cast, in the partition its own values say; each bad record must be
    quarantined once, with exactly the predicted reasons and its original bytes.
    """
    result = Exactness()
    expected_ids: dict[str, set[str]] = defaultdict(set)
    sent: dict[str, dict[str, bytes]] = defaultdict(dict)
    expected_bad: dict[tuple[str, str, int], tuple[list[str], str | None]] = {}
    for rec in records:
        result.sent += 1
        if rec.kind == "valid":
            expected_ids[rec.table].add(rec.event_id)
            payload = _payload(rec)
            if payload is not None:
                sent[rec.table][rec.event_id] = payload
        elif rec.kind == "duplicate":
            result.duplicates_sent += 1
        else:
            pos = (rec.shard_id, rec.sequence_number, int(rec.sub_sequence_number or 0))
            expected_bad[pos] = (sorted(rec.expected_reasons), _sha256(rec))
    result.expected_quarantined = len(expected_bad)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in tables:
        table = load_table(name)
        rows = _rows(con, lake, name)
        ids = Counter(r["event_id"] for r in rows)
        result.lake_rows[name] = len(rows)
        result.expected_valid[name] = len(expected_ids[name])
        twice = [i for i, n in ids.items() if n > 1]
        if twice:
            result.problems.append(f"{name}: {len(twice)} event ids stored more than once, e.g. {twice[:3]}")
        missing = expected_ids[name] - ids.keys()
        if missing:
            result.problems.append(f"{name}: {len(missing)} valid events missing, e.g. {sorted(missing)[:3]}")
        extra = ids.keys() - expected_ids[name]
        if extra:
            result.problems.append(f"{name}: {len(extra)} unexpected event ids, e.g. {sorted(extra)[:3]}")
        result.problems.extend(_content_problems(table, rows, sent[name])[:20])
    quarantined = _rows(con, lake, QUARANTINE)
    result.quarantined = len(quarantined)
    got: dict[tuple[str, str, int], tuple[list[str], str]] = {}
    for row in quarantined:
        pos = (row["_shard_id"], row["_sequence_number"], int(row["_sub_sequence_number"]))
        if pos in got:
            result.problems.append(f"quarantine: record at {pos} stored more than once")
        got[pos] = (sorted(row["reasons"]), hashlib.sha256(bytes(row["data"])).hexdigest())
    for pos, (reasons, digest) in expected_bad.items():
        if pos not in got:
            result.problems.append(f"quarantine: bad record at {pos} missing (expected {reasons})")
            continue
        if got[pos][0] != reasons:
            result.problems.append(f"quarantine: record at {pos} has reasons {got[pos][0]}, expected {reasons}")
        if digest is not None and got[pos][1] != digest:
            result.problems.append(f"quarantine: record at {pos} holds bytes that differ from the ones sent")
    for pos in got.keys() - expected_bad.keys():
        result.problems.append(f"quarantine: unexpected record at {pos} with reasons {got[pos][0]}")
    return result


def _rows(con: duckdb.DuckDBPyConnection, lake: Path, name: str) -> list[dict[str, Any]]:
    """Every row of ``name`` as a dict, partition columns included, files of any schema version."""
    if not any((lake / name).rglob("*.parquet")):
        return []
    rel = con.sql(
        "SELECT * FROM read_parquet($files, hive_partitioning = true, union_by_name = true)",
        params={"files": str(lake / name / "**" / "*.parquet")},
    )
    columns = rel.columns
    return [dict(zip(columns, values, strict=True)) for values in rel.fetchall()]


def _content_problems(table: Table, rows: list[dict[str, Any]], sent: dict[str, bytes]) -> list[str]:
    """Stored values and partitions that differ from what was sent, one line each."""
    problems: list[str] = []
    for row in rows:
        payload = sent.get(row["event_id"])
        if payload is None:
            continue  # missing/extra ids are reported by the caller; old manifests carry no payload
        event = json.loads(payload)
        for col in table.columns:
            want = expected_value(event.get(col.name), col.type)
            have = stored_value(row.get(col.name), col.type)
            if have != want:
                problems.append(f"{table.name}: event {row['event_id']} column {col.name} is {have!r}, sent {want!r}")
        for part in table.partitions:
            source = expected_value(event.get(part.source), table.column(part.source).type)
            want_part = expected_partition(part, source)
            if str(row.get(part.name)) != want_part:
                problems.append(
                    f"{table.name}: event {row['event_id']} is in {part.name}={row.get(part.name)}, "
                    f"its {part.source} says {want_part}"
                )
    return problems
