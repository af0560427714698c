"""Glue Data Catalog: databases, tables and partitions for the lake (build the input, then submit).

Inputs are built by :mod:`schemas.glue` from the table declarations; this module only submits them
and decides what is safe to change. Partitions are registered by :class:`PartitionRegistrar`, which
the lake writer calls after a batch's files are published (Redshift Spectrum cannot see Athena
partition projection, so every partition must exist in Glue).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError

from schemas import compat
from schemas.glue import (
    SCHEMA_HASH_KEY,
    folder_uri,
    partition_input,
    partition_path,
    schema_hash,
    table_input,
)
from schemas.loader import parse_table
from schemas.model import Table
from schemas.partitions import format_value
from streamlake.errors import IncompatibleSchemaError, LakeError

log = logging.getLogger(__name__)

# BatchCreatePartition accepts at most 100 partitions per call.
MAX_PARTITIONS_PER_CALL = 100
# Error codes worth retrying, whether they fail the whole call or single entries of a batch call.
_RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ConcurrentModificationException",
        "InternalServiceException",
        "OperationTimeoutException",
    }
)

TableChange = Literal["created", "unchanged", "updated"]
# The structural declaration a table was created from, so a later version can be judged by the
# evolution rules in schemas.compat (Glue's column list alone loses nullability and the key).
DECLARATION_KEY = "streamlake.declaration"


def ensure_database(glue: Any, name: str, *, description: str = "") -> None:
    """Create the Glue database ``name`` unless it exists."""
    try:
        glue.create_database(DatabaseInput={"Name": name, "Description": description})
        log.info("glue database created database=%s", name)
    except glue.exceptions.AlreadyExistsException:
        pass


def ensure_table(
    glue: Any,
    *,
    database: str,
    table: Table,
    location: str,
    parameters: Mapping[str, str] | None = None,
) -> TableChange:
    """Create ``table`` at ``location``, or bring an existing one up to the declaration.

    The stored schema-hash parameter decides: equal means nothing to do (no write). Different means
    the stored declaration and the new one go through :func:`schemas.compat.check`; a compatible
    change (e.g. a nullable column added, with a higher version) updates the table and the column
    lists of its partitions, anything else raises :class:`IncompatibleSchemaError` explaining each
    refused change, and nothing is modified.
    """
    params = {**(parameters or {}), DECLARATION_KEY: declaration_json(table)}
    wanted = table_input(table, location=location, parameters=params)
    try:
        current = glue.get_table(DatabaseName=database, Name=table.name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=wanted)
        log.info("glue table created table=%s.%s location=%s", database, table.name, location)
        return "created"
    stored_hash = (current.get("Parameters") or {}).get(SCHEMA_HASH_KEY)
    if stored_hash == schema_hash(table):
        return "unchanged"
    old = stored_declaration(current)
    if old is None:
        raise IncompatibleSchemaError(
            f"Glue table {database}.{table.name} has a different schema ({describe_change(current, wanted)}) "
            f"and no {DECLARATION_KEY} parameter to check the change against; refusing to change it. "
            "Drop and recreate the table, or create it with ensure_table."
        )
    report = compat.check(old, table)
    if not report.compatible:
        raise IncompatibleSchemaError(f"Glue table {database}.{table.name}: {report.explain()}")
    glue.update_table(DatabaseName=database, TableInput=wanted)
    moved = _update_partitions(glue, database=database, table=table)
    log.info(
        "glue table updated table=%s.%s old_hash=%s new_hash=%s partitions=%d changes=%s",
        database,
        table.name,
        stored_hash,
        schema_hash(table),
        moved,
        [c.kind for c in report.changes],
    )
    return "updated"


def declaration_json(table: Table) -> str:
    """The structure of ``table`` as the mapping :func:`schemas.loader.parse_table` reads, in JSON.

    Descriptions and row rules are left out: they do not change what is stored, and the catalog
    parameter stays small.
    """
    raw = {
        "name": table.name,
        "version": table.version,
        "event_type": table.event_type,
        "key": list(table.key),
        "event_time": table.event_time,
        "partitions": [{"name": p.name, "from": p.source, "transform": p.transform} for p in table.partitions],
        "columns": [{"name": c.name, "type": str(c.type), "nullable": c.nullable} for c in table.columns],
    }
    return json.dumps(raw, separators=(",", ":"))


def stored_declaration(stored_table: Mapping[str, Any]) -> Table | None:
    """The declaration a Glue table was created from, if :func:`ensure_table` created it."""
    text = (stored_table.get("Parameters") or {}).get(DECLARATION_KEY)
    if not text:
        return None
    return parse_table(json.loads(text), source=f"Glue parameter {DECLARATION_KEY}")


def _update_partitions(glue: Any, *, database: str, table: Table) -> int:
    """Give every partition the table's new column list, keeping each one's location."""
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table.name)
    entries = [
        {
            "PartitionValueList": p["Values"],
            "PartitionInput": partition_input(table, values=p["Values"], location=p["StorageDescriptor"]["Location"]),
        }
        for page in pages
        for p in page["Partitions"]
    ]
    for i in range(0, len(entries), MAX_PARTITIONS_PER_CALL):
        resp = glue.batch_update_partition(
            DatabaseName=database, TableName=table.name, Entries=entries[i : i + MAX_PARTITIONS_PER_CALL]
        )
        if resp.get("Errors"):
            first = resp["Errors"][0]
            raise LakeError(
                f"updating {len(resp['Errors'])} partition(s) of {database}.{table.name} failed, first "
                f"{first.get('PartitionValueList')}: {first.get('ErrorDetail', {}).get('ErrorMessage')}"
            )
    return len(entries)


def _columns(table_or_input: Mapping[str, Any]) -> dict[str, str]:
    return {c["Name"]: c["Type"] for c in table_or_input.get("StorageDescriptor", {}).get("Columns", [])}


def _partition_keys(table_or_input: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k["Name"], k["Type"]) for k in table_or_input.get("PartitionKeys", [])]


def describe_change(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    """Which columns a new TableInput adds, drops or retypes compared with the stored table."""
    old, new = _columns(current), _columns(wanted)
    parts = []
    added = [n for n in new if n not in old]
    dropped = [n for n in old if n not in new]
    retyped = [f"{n}: {old[n]} -> {new[n]}" for n in new if n in old and old[n] != new[n]]
    if added:
        parts.append(f"added {added}")
    if dropped:
        parts.append(f"dropped {dropped}")
    if retyped:
        parts.append(f"retyped {retyped}")
    if list(old) != list(new) and not (added or dropped or retyped):
        parts.append(f"reordered {list(old)} -> {list(new)}")
    if _partition_keys(current) != _partition_keys(wanted):
        parts.append(f"partition keys {_partition_keys(current)} -> {_partition_keys(wanted)}")
    return "; ".join(parts) or "no column difference (only the stored hash differs)"


class PartitionRegistrar:
    """Registers Hive partitions in Glue once, after their files are published.

    Parameters
    ----------
    glue:
        A boto3 Glue client.
    tables:
        Lake output name -> table declaration; outputs without an entry (e.g. quarantine) are skipped.
    location_for:
        Output name -> the table's location (``s3://bucket/lake/page_view/``).

    Notes
    -----
    Partitions it created or found existing are remembered, so steady-state batches (writing into
    today's partition again) make no Glue call. ``AlreadyExistsException`` counts as success, since a
    replayed batch or another writer may have registered the partition first. Throttling and other
    transient errors are retried with jittered exponential backoff.
    """

    def __init__(
        self,
        glue: Any,
        *,
        database: str,
        tables: Mapping[str, Table],
        location_for: Callable[[str], str],
        max_attempts: int = 8,
        base_delay_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.glue = glue
        self.database = database
        self.tables = dict(tables)
        self.location_for = location_for
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self._sleep = sleep
        self._known: dict[str, set[tuple[str, ...]]] = {}

    def known(self, name: str) -> frozenset[tuple[str, ...]]:
        """The partition values this registrar knows exist for output ``name``."""
        return frozenset(self._known.get(name, set()))

    def register(self, name: str, partitions: Sequence[Mapping[str, object]]) -> int:
        """Make sure every partition (``{column: value}``) of output ``name`` exists; return how many
        were not known before this call (created now or found already registered)."""
        table = self.tables.get(name)
        if table is None:
            log.debug("glue partitions skipped name=%s: no catalog table for this output", name)
            return 0
        known = self._known.setdefault(name, set())
        todo: list[tuple[str, ...]] = []
        for part in partitions:
            values = self._values(table, part)
            if values not in known and values not in todo:
                todo.append(values)
        if not todo:
            return 0
        base = folder_uri(self.location_for(name))
        started = time.monotonic()
        for i in range(0, len(todo), MAX_PARTITIONS_PER_CALL):
            chunk = todo[i : i + MAX_PARTITIONS_PER_CALL]
            inputs = [
                partition_input(table, values=list(v), location=f"{base}{partition_path(table, list(v))}/")
                for v in chunk
            ]
            self._create(table, inputs)
            known.update(chunk)
        log.info(
            "glue partitions registered table=%s.%s partitions=%d duration_ms=%.0f",
            self.database,
            table.name,
            len(todo),
            (time.monotonic() - started) * 1000,
        )
        return len(todo)

    def move(self, name: str, partition: Mapping[str, object], location: str) -> None:
        """Point an existing partition at ``location`` in one UpdatePartition call (compaction's swap).

        Athena and Spectrum plan each query from one catalog read, so a query sees either all the
        old files or all the new ones.
        """
        table = self.tables.get(name)
        if table is None:
            raise LakeError(f"cannot move a partition of {name!r}: no catalog table; known: {sorted(self.tables)}")
        values = list(self._values(table, partition))
        try:
            self.glue.update_partition(
                DatabaseName=self.database,
                TableName=table.name,
                PartitionValueList=values,
                PartitionInput=partition_input(table, values=values, location=location),
            )
        except ClientError as exc:
            raise LakeError(
                f"moving partition {values} of {self.database}.{table.name} to {location} failed: {exc}"
            ) from exc
        self._known.setdefault(name, set()).add(tuple(values))
        log.info("glue partition moved table=%s.%s values=%s location=%s", self.database, table.name, values, location)

    @staticmethod
    def _values(table: Table, part: Mapping[str, object]) -> tuple[str, ...]:
        missing = [c for c in table.partition_names if c not in part]
        if missing:
            raise LakeError(
                f"partition {dict(part)} of {table.name} lacks column(s) {missing}; "
                f"expected {list(table.partition_names)}"
            )
        return tuple(format_value(part[c]) for c in table.partition_names)

    def _create(self, table: Table, inputs: list[dict[str, Any]]) -> None:
        pending = inputs
        for attempt in range(1, self.max_attempts + 1):
            try:
                resp = self.glue.batch_create_partition(
                    DatabaseName=self.database, TableName=table.name, PartitionInputList=pending
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in _RETRYABLE or attempt == self.max_attempts:
                    raise LakeError(
                        f"registering {len(pending)} partition(s) of {self.database}.{table.name} failed: {exc}"
                    ) from exc
                self._backoff(attempt, code)
                continue
            retry: list[dict[str, Any]] = []
            for err in resp.get("Errors") or []:
                code = err.get("ErrorDetail", {}).get("ErrorCode", "")
                values = err.get("PartitionValues", [])
                if code == "AlreadyExistsException":
                    continue
                if code in _RETRYABLE:
                    retry.extend(p for p in pending if p["Values"] == values)
                    continue
                raise LakeError(
                    f"registering partition {values} of {self.database}.{table.name} failed: {code} "
                    f"{err.get('ErrorDetail', {}).get('ErrorMessage', '')}"
                )
            if not retry:
                return
            if attempt == self.max_attempts:
                raise LakeError(
                    f"registering {len(retry)} partition(s) of {self.database}.{table.name} still failing "
                    f"after {attempt} attempts, first {retry[0]['Values']}"
                )
            pending = retry
            self._backoff(attempt, "partial failure")
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def _backoff(self, attempt: int, why: str) -> None:
        delay = self.base_delay_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
        log.warning("glue batch_create_partition retry attempt=%d reason=%s delay_s=%.2f", attempt, why, delay)
        self._sleep(delay)
