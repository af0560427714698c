"""Option parsing: typed values, defaults, and errors that name the key and the bad value."""

from __future__ import annotations

import pytest

from jobs.kinesis.options import KinesisOptions, ReadBudget
from streamlake.errors import ConfigError

BASE = {"streamName": "events", "metadataPath": "/tmp/meta"}


def test_parses_every_option_case_insensitively() -> None:
    opts = KinesisOptions.parse(
        {
            "STREAMNAME": "events",
            "metadatapath": "s3://bucket/meta",
            "region": "eu-west-1",
            "endpointUrl": "http://127.0.0.1:4567",
            "s3EndpointUrl": "http://127.0.0.1:5000",
            "startingPosition": "at_timestamp",
            "startingTimestamp": "2025-01-31T12:00:00Z",
            "maxRecordsPerShard": "500",
            "maxBytesPerShard": "1048576",
            "maxFetchTimeSec": "2.5",
            "maxCallsPerSecPerShard": "2",
            "describeShardIntervalSec": "0",
            "failOnDataLoss": "false",
            "retainEpochs": "0",
            "idleIntervalSec": "1",
            "deaggregate": "false",
            "arrowBatches": "false",
            "clockSkewMarginMs": "0",
        }
    )
    assert opts == KinesisOptions(
        stream_name="events",
        metadata_path="s3://bucket/meta",
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:4567",
        s3_endpoint_url="http://127.0.0.1:5000",
        starting_position="AT_TIMESTAMP",
        starting_timestamp_ms=1738324800000,
        budget=ReadBudget(max_records=500, max_bytes=1048576, max_fetch_time_sec=2.5, calls_per_sec=2.0),
        describe_shard_interval_sec=0.0,
        fail_on_data_loss=False,
        retain_epochs=0,
        idle_interval_sec=1.0,
        deaggregate=False,
        arrow_batches=False,
        clock_skew_margin_ms=0,
    )


def test_defaults() -> None:
    opts = KinesisOptions.parse(BASE)
    assert (opts.starting_position, opts.fail_on_data_loss, opts.budget) == ("LATEST", True, ReadBudget())


def test_stream_arn_gives_name_and_region() -> None:
    opts = KinesisOptions.parse(
        {"streamARN": "arn:aws:kinesis:eu-central-1:123456789012:stream/clicks", "metadataPath": "/m"}
    )
    assert (opts.stream_name, opts.region) == ("clicks", "eu-central-1")


def test_epoch_millis_and_naive_iso_timestamps_are_utc() -> None:
    assert KinesisOptions.parse({**BASE, "startingTimestamp": "1700000000000"}).starting_timestamp_ms == 1700000000000
    naive = KinesisOptions.parse({**BASE, "startingTimestamp": "2025-01-31T12:00:00"})
    assert naive.starting_timestamp_ms == 1738324800000


@pytest.mark.parametrize(
    ("options", "key", "value"),
    [
        ({"metadataPath": "/m"}, "streamName", None),
        ({"streamName": "bad name!", "metadataPath": "/m"}, "streamName", "bad name!"),
        ({"streamName": "s"}, "metadataPath", None),
        ({**BASE, "startingPosition": "EARLIEST"}, "startingPosition", "EARLIEST"),
        ({**BASE, "startingPosition": "AT_TIMESTAMP"}, "startingTimestamp", None),
        ({**BASE, "startingTimestamp": "yesterday"}, "startingTimestamp", "yesterday"),
        ({**BASE, "maxRecordsPerShard": "0"}, "maxRecordsPerShard", "0"),
        ({**BASE, "maxRecordsPerShard": "ten"}, "maxRecordsPerShard", "ten"),
        ({**BASE, "maxFetchTimeSec": "nan"}, "maxFetchTimeSec", "nan"),
        ({**BASE, "maxCallsPerSecPerShard": "6"}, "maxCallsPerSecPerShard", 6.0),
        ({**BASE, "failOnDataLoss": "maybe"}, "failOnDataLoss", "maybe"),
        ({**BASE, "maxRecordPerShard": "10"}, "maxRecordPerShard", "10"),  # typo: not silently ignored
        ({"streamARN": "arn:aws:s3:::bucket", "metadataPath": "/m"}, "streamARN", "arn:aws:s3:::bucket"),
    ],
)
def test_bad_values_name_the_key_and_the_value(options: dict[str, str], key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        KinesisOptions.parse(options)
    assert (info.value.key, info.value.value) == (key, value)
    assert isinstance(info.value, ValueError)
