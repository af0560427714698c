"""Options of the ``kinesis`` source, parsed once into a frozen, typed object.

Spark hands a data source a case-insensitive ``dict[str, str]``; :meth:`KinesisOptions.parse` turns it
into :class:`KinesisOptions` or raises :class:`~streamlake.errors.ConfigError` naming the key and the
bad value. Unknown keys are errors too: a misspelt budget that silently does nothing is the kind of
"limits that do nothing" complaint the known connectors get.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, cast

from streamlake.errors import ConfigError

StartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
_STARTING_POSITIONS: tuple[str, ...] = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")

# Kinesis per-shard read limits (GetRecords): 5 calls/s, 2 MB/s, 10,000 records per call.
KINESIS_MAX_LIMIT = 10_000
KINESIS_CALLS_PER_SEC = 5.0
KINESIS_BYTES_PER_SEC = 2 * 1024 * 1024
# Shard iterators expire after 5 minutes; walking an empty region stops well before that.
ITERATOR_SAFE_SEC = 240.0

_ARN = re.compile(r"^arn:aws[\w-]*:kinesis:(?P<region>[\w-]+):\d{12}:stream/(?P<name>[\w.-]+)$")


@dataclass(frozen=True)
class ReadBudget:
    """How much one task may read from one shard in one epoch, and how politely.

    Copied into every partition so a retried task uses the same limits. ``max_records`` counts
    Kinesis records as fetched (a KPL aggregate counts once), because that is what ``Limit`` caps.
    """

    max_records: int = 100_000
    max_bytes: int = 64 * 1024 * 1024
    max_fetch_time_sec: float = 10.0
    calls_per_sec: float = KINESIS_CALLS_PER_SEC
    bytes_per_sec: float = KINESIS_BYTES_PER_SEC
    max_empty_walk_sec: float = ITERATOR_SAFE_SEC
    backoff_base_sec: float = 0.1
    backoff_cap_sec: float = 5.0
    max_retries: int = 30


@dataclass(frozen=True)
class KinesisOptions:
    """Every setting of one ``readStream.format("kinesis")`` query.

    Options (Spark name -> field):

    * ``streamName`` / ``streamARN`` -> ``stream_name`` (an ARN also gives the region)
    * ``region``, ``endpointUrl`` (Kinesis, e.g. kinesalite), ``roleArn`` (assumed for Kinesis)
    * ``startingPosition``: ``TRIM_HORIZON | LATEST | AT_TIMESTAMP`` (default ``LATEST``), resolved
      once when the query starts (``LATEST`` = the start time) and kept in the offset;
      ``startingTimestamp``: ISO-8601 or epoch ms, required with ``AT_TIMESTAMP``
    * ``metadataPath`` (required): the end log, a directory shared by driver and executors or
      ``s3://bucket/prefix``; ``s3EndpointUrl`` points S3 at moto locally
    * per shard and epoch: ``maxRecordsPerShard`` (Kinesis records, default 100000),
      ``maxBytesPerShard`` (default 64 MiB), ``maxFetchTimeSec`` (default 10),
      ``maxCallsPerSecPerShard`` (default and maximum 5)
    * ``describeShardIntervalSec`` (default 10): ListShards at most this often (and whenever a
      shard ends); a reshard is noticed at most this late
    * ``failOnDataLoss`` (default true): fail when an undrained shard or a claimed record is gone
    * ``retainEpochs`` (default 100; 0 keeps all): end-log epochs kept behind the committed one
    * ``idleIntervalSec`` (default 0 = off): after an epoch in which every shard was at the tip,
      report "no new data" until this long after, so idle streams skip batches and
      ``processAllAvailable()`` returns
    * ``deaggregate`` (default true), ``arrowBatches`` (default true; false yields tuples)
    * ``clockSkewMarginMs`` (default 2000): see task.decide_end
    * ``readTimeoutSec`` (default 30): how long an executor's Kinesis call may take; a slower one
      is retried with backoff and jitter, from the same position
    * ``emulatorQuirks`` (default false): for kinesalite only, which never answers
      GetShardIterator(AT_TIMESTAMP) when nothing arrived since; a call slower than
      ``atTimestampTimeoutSec`` (default 1) is then answered by a walk from TRIM_HORIZON that skips
      what arrived earlier. Off, every timeout is retried with backoff and never moves a position
    """

    stream_name: str
    metadata_path: str
    region: str | None = None
    endpoint_url: str | None = None
    s3_endpoint_url: str | None = None
    role_arn: str | None = None
    starting_position: StartingPosition = "LATEST"
    starting_timestamp_ms: int | None = None
    budget: ReadBudget = field(default_factory=ReadBudget)
    describe_shard_interval_sec: float = 10.0
    fail_on_data_loss: bool = True
    retain_epochs: int = 100
    idle_interval_sec: float = 0.0
    deaggregate: bool = True
    arrow_batches: bool = True
    clock_skew_margin_ms: int = 2_000
    at_timestamp_timeout_sec: float = 1.0
    emulator_quirks: bool = False
    read_timeout_sec: float = 30.0

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> KinesisOptions:
        """Parse Spark's option map (keys case-insensitive); raise ConfigError on a bad value."""
        raw = {str(k).lower(): str(v) for k, v in options.items() if v is not None}
        unknown = sorted(str(k) for k in options if str(k).lower() not in _KNOWN | {"path"})
        if unknown:
            raise ConfigError(
                unknown[0], options[unknown[0]], "one of the kinesis options: " + ", ".join(_OPTION_NAMES)
            )
        name, region = _stream_and_region(raw)
        metadata_path = raw.get("metadatapath", "").strip()
        if not metadata_path:
            raise ConfigError(
                "metadataPath", metadata_path or None, "a directory or s3://bucket/prefix for the end log"
            )
        position = raw.get("startingposition", "LATEST").strip().upper()
        if position not in _STARTING_POSITIONS:
            raise ConfigError("startingPosition", raw["startingposition"], " | ".join(_STARTING_POSITIONS))
        ts_text = raw.get("startingtimestamp")
        ts_ms = parse_timestamp_ms("startingTimestamp", ts_text) if ts_text else None
        if position == "AT_TIMESTAMP" and ts_ms is None:
            raise ConfigError("startingTimestamp", None, "an ISO-8601 time or epoch milliseconds with AT_TIMESTAMP")
        budget = ReadBudget(
            max_records=_int(raw, "maxRecordsPerShard", ReadBudget.max_records, low=1),
            max_bytes=_int(raw, "maxBytesPerShard", ReadBudget.max_bytes, low=1),
            max_fetch_time_sec=_float(raw, "maxFetchTimeSec", ReadBudget.max_fetch_time_sec, low=0.0),
            calls_per_sec=_float(raw, "maxCallsPerSecPerShard", KINESIS_CALLS_PER_SEC, low=0.01),
        )
        if budget.calls_per_sec > KINESIS_CALLS_PER_SEC:
            raise ConfigError("maxCallsPerSecPerShard", budget.calls_per_sec, "at most 5 (the Kinesis limit)")
        return cls(
            stream_name=name,
            metadata_path=metadata_path,
            region=region,
            endpoint_url=raw.get("endpointurl") or None,
            s3_endpoint_url=raw.get("s3endpointurl") or None,
            role_arn=raw.get("rolearn") or None,
            starting_position=cast(StartingPosition, position),
            starting_timestamp_ms=ts_ms,
            budget=budget,
            describe_shard_interval_sec=_float(raw, "describeShardIntervalSec", 10.0, low=0.0),
            fail_on_data_loss=_bool(raw, "failOnDataLoss", True),
            retain_epochs=_int(raw, "retainEpochs", 100, low=0),
            idle_interval_sec=_float(raw, "idleIntervalSec", 0.0, low=0.0),
            deaggregate=_bool(raw, "deaggregate", True),
            arrow_batches=_bool(raw, "arrowBatches", True),
            clock_skew_margin_ms=_int(raw, "clockSkewMarginMs", 2_000, low=0),
            at_timestamp_timeout_sec=_float(raw, "atTimestampTimeoutSec", 1.0, low=0.05),
            emulator_quirks=_bool(raw, "emulatorQuirks", False),
            read_timeout_sec=_float(raw, "readTimeoutSec", 30.0, low=0.05),
        )


_OPTION_NAMES: tuple[str, ...] = (
    "streamName", "streamARN", "region", "endpointUrl", "s3EndpointUrl", "roleArn",
    "startingPosition", "startingTimestamp", "metadataPath",
    "maxRecordsPerShard", "maxBytesPerShard", "maxFetchTimeSec", "maxCallsPerSecPerShard",
    "describeShardIntervalSec", "failOnDataLoss", "retainEpochs", "idleIntervalSec",
    "deaggregate", "arrowBatches", "clockSkewMarginMs", "atTimestampTimeoutSec", "emulatorQuirks",
    "readTimeoutSec",
)  # fmt: skip
_KNOWN = frozenset(n.lower() for n in _OPTION_NAMES)


def parse_timestamp_ms(key: str, text: str) -> int:
    """Epoch milliseconds from ``text``: digits are epoch ms, anything else ISO-8601 (naive = UTC)."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(key, text, "an ISO-8601 time (2025-01-31T12:00:00Z) or epoch milliseconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _stream_and_region(raw: Mapping[str, str]) -> tuple[str, str | None]:
    region = raw.get("region") or None
    arn = raw.get("streamarn")
    if arn:
        match = _ARN.match(arn.strip())
        if not match:
            raise ConfigError("streamARN", arn, "arn:aws:kinesis:<region>:<account>:stream/<name>")
        name = raw.get("streamname") or match["name"]
        if name != match["name"]:
            raise ConfigError("streamName", name, f"the stream named in streamARN ({match['name']})")
        return name, region or match["region"]
    name = raw.get("streamname", "").strip()
    if not re.fullmatch(r"[\w.-]{1,128}", name):
        raise ConfigError("streamName", name or None, "a Kinesis stream name (1-128 of [a-zA-Z0-9_.-])")
    return name, region


def _int(raw: Mapping[str, str], key: str, default: int, *, low: int) -> int:
    text = raw.get(key.lower())
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigError(key, text, f"an integer >= {low}") from None
    if value < low:
        raise ConfigError(key, text, f"an integer >= {low}")
    return value


def _float(raw: Mapping[str, str], key: str, default: float, *, low: float) -> float:
    text = raw.get(key.lower())
    if text is None:
        return default
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(key, text, f"a number >= {low:g}") from None
    if not value >= low:  # also rejects NaN
        raise ConfigError(key, text, f"a number >= {low:g}")
    return value


def _bool(raw: Mapping[str, str], key: str, default: bool) -> bool:
    text = raw.get(key.lower())
    if text is None:
        return default
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ConfigError(key, text, "true or false")
