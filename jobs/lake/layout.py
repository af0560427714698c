"""Where things live in the lake: every key the commit protocol reads or writes is spelled here.

```
<lake>/<name>/<col>=<value>/part-<batch:012d>-<n:05d>.parquet   data (what readers list)
<lake>/_commits/<name>/<batch:012d>.json                         per-output commit record
<lake>/_commits/_batches/<batch:012d>.json                       batch marker (the commit point)
<lake>/_commits/_pending/<batch:012d>.json                       publish intent (crash recovery)
<lake>/_staging/<batch:012d>/<name>/...                          Spark's output before publishing
<lake>/_compacted/<name>/<id>/<partition>/part-<id>-<n:05d>.parquet  compacted files (catalog-located)
<lake>/_commits/<name>/_compactions/<id>.json                    compaction record
```

Names starting with ``_`` are skipped by Athena, and staging sits outside every table's location,
so no reader ever lists a file that is not published. How a partition value is spelled in a
directory name is a schema matter: :mod:`schemas.partitions`.
"""

from __future__ import annotations

COMMITS = "_commits"
BATCHES = f"{COMMITS}/_batches"
PENDING = f"{COMMITS}/_pending"
RUNS = f"{COMMITS}/_runs"  # one claim per Spark checkpoint (jobs/ingest/runs.py)
STAGING = "_staging"
COMPACTED = "_compacted"


def batch_name(batch_id: int) -> str:
    """Zero-padded so keys sort in batch order."""
    if batch_id < 0:
        raise ValueError(f"batch id must be >= 0, got {batch_id}")
    return f"{batch_id:012d}"


def marker_key(batch_id: int) -> str:
    return f"{BATCHES}/{batch_name(batch_id)}.json"


def intent_key(batch_id: int) -> str:
    return f"{PENDING}/{batch_name(batch_id)}.json"


def commit_key(name: str, batch_id: int) -> str:
    return f"{COMMITS}/{name}/{batch_name(batch_id)}.json"


def commit_prefix(name: str) -> str:
    return f"{COMMITS}/{name}"


def compaction_key(name: str, compaction_id: str) -> str:
    return f"{COMMITS}/{name}/_compactions/{compaction_id}.json"


def compaction_prefix(name: str) -> str:
    return f"{COMMITS}/{name}/_compactions"


def compacted_dir(name: str, compaction_id: str, partition_dir: str) -> str:
    return f"{COMPACTED}/{name}/{compaction_id}/{partition_dir}"


def staging_key(batch_id: int, name: str = "") -> str:
    base = batch_name(batch_id)
    return f"{base}/{name}" if name else base


def data_file_key(name: str, partition_dir: str, batch_id: int, n: int) -> str:
    """The published key of the ``n``-th file a batch writes into one partition directory."""
    file = f"part-{batch_name(batch_id)}-{n:05d}.parquet"
    return f"{name}/{partition_dir}/{file}" if partition_dir else f"{name}/{file}"


def is_hidden(relative_key: str) -> bool:
    """Spark's ``_SUCCESS``, ``.crc`` and temp files: never published, never counted."""
    return any(part.startswith(("_", ".")) for part in relative_key.split("/"))
