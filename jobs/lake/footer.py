"""Row counts from a Parquet footer, read with one ranged GET instead of downloading the file."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.lake.fs import FileInfo, LakeFS
from streamlake.errors import LakeError

_MAGIC = b"PAR1"
# Most footers are a few KB; one read of this size usually fetches the whole footer.
_FIRST_READ = 64 * 1024


def parquet_rows(fs: LakeFS, info: FileInfo) -> int:
    """The number of rows recorded in the footer of the Parquet file ``info`` on ``fs``."""
    if info.size < 12:
        raise LakeError(f"{fs.uri_for(info.key)} is {info.size} bytes: too short to be Parquet")
    tail = fs.read_tail(info.key, info.size, min(info.size, _FIRST_READ))
    if tail[-4:] != _MAGIC:
        raise LakeError(f"{fs.uri_for(info.key)} does not end with the Parquet magic bytes")
    footer_len = int.from_bytes(tail[-8:-4], "little")
    if footer_len + 8 > len(tail):
        tail = fs.read_tail(info.key, info.size, footer_len + 8)
    # pyarrow parses a footer from any buffer shaped like "PAR1 ... <footer> <len> PAR1".
    buf = _MAGIC + tail[-(footer_len + 8) :]
    return int(pq.read_metadata(pa.BufferReader(buf)).num_rows)
