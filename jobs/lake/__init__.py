"""The lake writer and its commit protocol (see docs/decisions/0006-lake-commit-protocol.md).

Public verbs: :class:`LakeWriter` with :class:`Output`, :func:`committed_files`, :func:`live_files`, :func:`orphans`,
:func:`sweep_orphans`, :func:`filesystem_for`.
"""

from jobs.lake.commit import BatchCommit, FileEntry, OutputCommit, OutputSummary
from jobs.lake.fs import S3FS, FileInfo, LakeFS, LocalFS, filesystem_for
from jobs.lake.readers import (
    commit_records,
    committed_files,
    live_files,
    orphans,
    redshift_manifest,
    sweep_orphans,
)
from jobs.lake.writer import LakeWriter, Output, PartitionCatalog

__all__ = [
    "S3FS",
    "BatchCommit",
    "FileEntry",
    "FileInfo",
    "LakeFS",
    "LakeWriter",
    "LocalFS",
    "Output",
    "OutputCommit",
    "OutputSummary",
    "PartitionCatalog",
    "commit_records",
    "committed_files",
    "filesystem_for",
    "live_files",
    "orphans",
    "redshift_manifest",
    "sweep_orphans",
]
