"""KPL aggregation: the documented wire format, round trips, corrupt input, hash-range filtering."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from jobs.kinesis import kpl
from jobs.kinesis.kpl import UserRecord
from jobs.kinesis.rows import RowConverter
from jobs.kinesis.schema import SOURCE_SCHEMA

# Hand-assembled from the format description, independent of our encoder:
# partition_key_table=["a"], records=[{partition_key_index: 0, data: "x"}].
_BODY = bytes.fromhex("0a0161" + "1a05" + "0800" + "1a0178")
KNOWN = kpl.MAGIC + _BODY + hashlib.md5(_BODY).digest()


def test_decodes_a_hand_assembled_aggregate() -> None:
    assert kpl.deaggregate(KNOWN, "outer") == [UserRecord("a", b"x", None, 0)]


def test_encoder_writes_the_documented_bytes() -> None:
    assert kpl.encode_aggregate([("a", b"x")]) == KNOWN


def test_round_trip_keeps_keys_explicit_hash_keys_order_and_sub_sequence_numbers() -> None:
    records = [
        UserRecord("k1", b"one"),
        UserRecord("k2", b""),
        UserRecord("k1", bytes(range(256)) * 40, explicit_hash_key="12345"),
        UserRecord("ключ", b"\x00\xff", explicit_hash_key="12345"),
    ]
    blob = kpl.encode_aggregate(records)
    assert kpl.is_aggregated(blob)
    got = kpl.deaggregate(blob, "outer")
    assert [(r.partition_key, r.data, r.explicit_hash_key) for r in got] == [
        (r.partition_key, r.data, r.explicit_hash_key) for r in records
    ]
    assert [r.sub_sequence_number for r in got] == [0, 1, 2, 3]
    assert not any(r.corrupt for r in got)


def test_a_plain_record_passes_through() -> None:
    assert kpl.deaggregate(b'{"a": 1}', "pk") == [UserRecord("pk", b'{"a": 1}')]
    assert kpl.deaggregate(kpl.MAGIC, "pk") == [UserRecord("pk", kpl.MAGIC)]  # too short to be one


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:10] + bytes([b[10] ^ 0xFF]) + b[11:],  # body byte flipped: MD5 mismatch
        lambda b: b[:-1],  # truncated trailer
        lambda b: kpl.MAGIC + b"\xff\xff\xff" + hashlib.md5(b"\xff\xff\xff").digest(),  # bad varint, good MD5
        lambda b: kpl.MAGIC + b"\x1a\x02\x08\x05" + hashlib.md5(b"\x1a\x02\x08\x05").digest(),  # key index 5 of 0
        lambda b: kpl.MAGIC + b"\x0a\x01a" + hashlib.md5(b"\x0a\x01a").digest(),  # no records at all
    ],
)
def test_a_corrupt_aggregate_becomes_one_raw_record(mangle: object) -> None:
    blob = mangle(kpl.encode_aggregate([("a", b"x"), ("b", b"y")]))  # type: ignore[operator]
    assert kpl.deaggregate(blob, "outer") == [UserRecord("outer", blob, corrupt=True)]


def test_hash_key_is_md5_of_the_partition_key_unless_explicit() -> None:
    assert kpl.hash_key("abc") == int(hashlib.md5(b"abc").hexdigest(), 16)
    assert kpl.hash_key("abc", "42") == 42
    low_half = (0, 2**127 - 1)
    key = next(f"k{i}" for i in range(100) if kpl.hash_key(f"k{i}") < 2**127)
    assert kpl.in_hash_range(UserRecord(key, b""), *low_half)
    assert not kpl.in_hash_range(UserRecord(key, b"", explicit_hash_key=str(2**127)), *low_half)


def test_aggregate_packs_under_the_size_limit_and_routes_like_the_first_record() -> None:
    records = [(f"pk{i}", b"z" * 300) for i in range(10)]
    out = list(kpl.aggregate(records, max_bytes=1_000))
    assert [a.count for a in out] == [2, 2, 2, 2, 2]
    assert all(len(a.data) <= 1_000 for a in out)
    assert out[1].partition_key == "pk2" and out[1].explicit_hash_key == str(kpl.hash_key("pk2"))
    decoded = [r.data for a in out for r in kpl.deaggregate(a.data, a.partition_key)]
    assert decoded == [d for _, d in records]


def _record(seq: str, data: bytes, pk: str = "outer") -> dict[str, object]:
    return {
        "SequenceNumber": seq,
        "Data": data,
        "PartitionKey": pk,
        "ApproximateArrivalTimestamp": datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    }


def test_rows_drop_user_records_outside_the_shard_and_keep_raw_and_corrupt_ones() -> None:
    inside = next(f"k{i}" for i in range(100) if kpl.hash_key(f"k{i}") < 2**127)
    outside = next(f"k{i}" for i in range(100) if kpl.hash_key(f"k{i}") >= 2**127)
    agg = kpl.encode_aggregate([(inside, b"1"), (outside, b"2"), (inside, b"3")])
    corrupt = agg[:-1] + bytes([agg[-1] ^ 1])
    conv = RowConverter(stream="s", shard_id="sh", hash_range=(0, 2**127 - 1))
    batch = conv.convert([_record("10", agg), _record("11", b"plain", pk=outside), _record("12", corrupt)])
    assert batch.to_pydict() == {
        "stream": ["s"] * 4,
        "shard_id": ["sh"] * 4,
        "sequence_number": ["10", "10", "11", "12"],
        "sub_sequence_number": [0, 2, 0, 0],
        "partition_key": [inside, inside, outside, "outer"],
        "approximate_arrival_timestamp": [datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)] * 4,
        "data": [b"1", b"3", b"plain", corrupt],
    }
    assert (conv.stats.rows, conv.stats.filtered, conv.stats.corrupt) == (4, 1, 1)


def test_arrow_batches_match_what_spark_expects_for_the_schema() -> None:
    from pyspark.sql.pandas.types import to_arrow_schema

    batch = RowConverter(stream="s", shard_id="sh", hash_range=(0, 2**128 - 1)).convert([_record("1", b"x")])
    assert isinstance(batch, pa.RecordBatch)
    assert batch.schema.equals(to_arrow_schema(SOURCE_SCHEMA), check_metadata=False)


def test_deaggregation_can_be_switched_off() -> None:
    agg = kpl.encode_aggregate([("a", b"1"), ("b", b"2")])
    conv = RowConverter(stream="s", shard_id="sh", hash_range=(0, 0), deaggregate=False, arrow=False)
    rows = conv.convert([_record("5", agg)])
    assert [(r[2], r[3], r[6]) for r in rows] == [("5", 0, agg)]
