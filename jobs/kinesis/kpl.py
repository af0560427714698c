"""KPL record aggregation: decoder, encoder and the shard hash-range filter.

Format (documented by the Kinesis Producer Library): ``F3 89 9A C2`` magic, a protobuf
``AggregatedRecord``, then the 16-byte MD5 of the protobuf bytes::

    message AggregatedRecord {
      repeated string partition_key_table     = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records                 = 3;
    }
    message Record {
      required uint64 partition_key_index     = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes  data                    = 3;
      repeated Tag    tags                    = 4;   // ignored
    }

The tiny protobuf codec here covers exactly this message, so no protobuf dependency is needed.
A corrupt aggregate is never an exception: it comes back as one raw record flagged ``corrupt`` so
the pipeline quarantines it instead of failing the batch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_LEN = 16
# Kinesis caps a record (data + partition key) at 1 MiB; leave room for the aggregate's own key.
MAX_AGGREGATE_BYTES = 1_000_000
HASH_KEY_MAX = 2**128 - 1


class _Corrupt(ValueError):
    """Internal: the bytes are not a well-formed aggregate."""


@dataclass(frozen=True)
class UserRecord:
    """One record as the producer sent it (a row of the source)."""

    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None
    sub_sequence_number: int = 0
    corrupt: bool = False


def is_aggregated(data: bytes) -> bool:
    return len(data) > len(MAGIC) + _DIGEST_LEN and data[:4] == MAGIC


def hash_key(partition_key: str, explicit_hash_key: str | None = None) -> int:
    """The 128-bit hash key Kinesis routes by: the explicit one, else MD5 of the partition key."""
    if explicit_hash_key is not None:
        return int(explicit_hash_key)
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def deaggregate(data: bytes, partition_key: str) -> list[UserRecord]:
    """User records of one Kinesis record; a plain record comes back as itself (sub-sequence 0)."""
    if not is_aggregated(data):
        return [UserRecord(partition_key, data)]
    body, digest = data[4:-_DIGEST_LEN], data[-_DIGEST_LEN:]
    try:
        if hashlib.md5(body).digest() != digest:
            raise _Corrupt("MD5 trailer does not match")
        return _decode_aggregate(body)
    except _Corrupt as exc:
        log.warning("corrupt KPL aggregate (partition key %r, %d bytes): %s", partition_key, len(data), exc)
        return [UserRecord(partition_key, data, corrupt=True)]


def in_hash_range(record: UserRecord, start: int, end: int) -> bool:
    """Whether ``record`` belongs to a shard covering ``[start, end]``.

    After a reshard a producer may still send aggregates routed by the first user record, so a
    shard can hold user records whose keys now map to a sibling; the KCL drops them, and so do we.
    Raw and corrupt records are kept (Kinesis routed them here, and quarantine needs them).
    """
    if record.corrupt:
        return True
    try:
        key = hash_key(record.partition_key, record.explicit_hash_key)
    except ValueError:
        return True  # an unparseable explicit hash key: keep the record, downstream decides
    return start <= key <= end


def encode_aggregate(records: Sequence[UserRecord | tuple[str, bytes]]) -> bytes:
    """Encode user records as one KPL aggregate (magic + protobuf + MD5)."""
    if not records:
        raise ValueError("an aggregate needs at least one record")
    pk_index: dict[str, int] = {}
    ehk_index: dict[str, int] = {}
    body = bytearray()
    encoded_records = bytearray()
    for item in records:
        rec = item if isinstance(item, UserRecord) else UserRecord(item[0], item[1])
        pk = pk_index.setdefault(rec.partition_key, len(pk_index))
        inner = bytearray(_varint_field(1, pk))
        if rec.explicit_hash_key is not None:
            inner += _varint_field(2, ehk_index.setdefault(rec.explicit_hash_key, len(ehk_index)))
        inner += _bytes_field(3, bytes(rec.data))
        encoded_records += _bytes_field(3, bytes(inner))
    for key in pk_index:
        body += _bytes_field(1, key.encode("utf-8"))
    for key in ehk_index:
        body += _bytes_field(2, key.encode("utf-8"))
    body += encoded_records
    return MAGIC + bytes(body) + hashlib.md5(bytes(body)).digest()


@dataclass(frozen=True)
class Aggregate:
    """One Kinesis record to put: routed like its first user record, as the KPL does."""

    partition_key: str
    explicit_hash_key: str
    data: bytes
    count: int


def aggregate(
    records: Iterable[UserRecord | tuple[str, bytes]], *, max_bytes: int = MAX_AGGREGATE_BYTES
) -> Iterator[Aggregate]:
    """Pack user records into aggregates of at most ``max_bytes`` (for a producer's PutRecords)."""
    batch: list[UserRecord] = []
    size = len(MAGIC) + _DIGEST_LEN
    for item in records:
        rec = item if isinstance(item, UserRecord) else UserRecord(item[0], item[1])
        # Upper bound of the record's encoded size: data + key + tags/lengths overhead.
        cost = len(rec.data) + len(rec.partition_key.encode("utf-8")) + 64
        if batch and size + cost > max_bytes:
            yield _finish(batch)
            batch, size = [], len(MAGIC) + _DIGEST_LEN
        batch.append(rec)
        size += cost
    if batch:
        yield _finish(batch)


def _finish(batch: list[UserRecord]) -> Aggregate:
    first = batch[0]
    return Aggregate(
        partition_key=first.partition_key,
        explicit_hash_key=str(hash_key(first.partition_key, first.explicit_hash_key)),
        data=encode_aggregate(batch),
        count=len(batch),
    )


# --- the minimal protobuf codec -------------------------------------------------------------


def _decode_aggregate(body: bytes) -> list[UserRecord]:
    pks: list[str] = []
    ehks: list[str] = []
    raw_records: list[bytes] = []
    for number, value in _fields(body):
        if number not in (1, 2, 3):
            continue  # unknown fields are skipped, as protobuf readers do
        if not isinstance(value, bytes):
            raise _Corrupt(f"field {number} has the wrong wire type")
        if number == 1:
            pks.append(_utf8(value))
        elif number == 2:
            ehks.append(_utf8(value))
        else:
            raw_records.append(value)
    out: list[UserRecord] = []
    for sub, raw in enumerate(raw_records):
        pk_i: int | None = None
        ehk_i: int | None = None
        data: bytes | None = None
        for number, value in _fields(raw):
            if number == 1 and isinstance(value, int):
                pk_i = value
            elif number == 2 and isinstance(value, int):
                ehk_i = value
            elif number == 3 and isinstance(value, bytes):
                data = value
            elif number in (1, 2, 3):
                raise _Corrupt(f"record field {number} has the wrong wire type")
        if pk_i is None or data is None or pk_i >= len(pks):
            raise _Corrupt(f"record {sub} lacks a valid partition key index or data")
        if ehk_i is not None and ehk_i >= len(ehks):
            raise _Corrupt(f"record {sub} has explicit hash key index {ehk_i} of {len(ehks)}")
        out.append(UserRecord(pks[pk_i], data, None if ehk_i is None else ehks[ehk_i], sub))
    if not out:
        raise _Corrupt("aggregate holds no records")
    return out


def _utf8(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Corrupt(f"key is not UTF-8: {exc}") from None


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs; varints as int, length-delimited as bytes, fixed skipped."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Corrupt("field number 0")
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > end:
                raise _Corrupt("length-delimited field runs past the end")
            yield number, buf[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise _Corrupt("fixed-width field runs past the end")
        else:
            raise _Corrupt(f"unsupported wire type {wire}")


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Corrupt("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes_field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value
