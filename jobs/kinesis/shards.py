"""Shard listing and the Kinesis client for driver and executors."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from jobs.kinesis.options import KinesisOptions
from streamlake import aws
from streamlake.errors import SourceError

log = logging.getLogger(__name__)

FULL_HASH_RANGE = (0, 2**128 - 1)

# Executors count and pace throttles themselves (see reader.py), so their client must not retry.
# total_max_attempts counts the first call; botocore's max_attempts counts retries only (1 = one retry).
_EXECUTOR_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30)


@dataclass(frozen=True)
class ShardInfo:
    """One shard as ``ListShards`` shows it."""

    shard_id: str
    parent: str | None
    adjacent_parent: str | None
    hash_start: int
    hash_end: int
    closed: bool

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(p for p in (self.parent, self.adjacent_parent) if p)

    @property
    def hash_range(self) -> tuple[int, int]:
        return (self.hash_start, self.hash_end)

    @classmethod
    def from_api(cls, shard: dict[str, Any]) -> ShardInfo:
        rng = shard.get("HashKeyRange") or {}
        return cls(
            shard_id=str(shard["ShardId"]),
            parent=shard.get("ParentShardId"),
            adjacent_parent=shard.get("AdjacentParentShardId"),
            hash_start=int(rng.get("StartingHashKey", FULL_HASH_RANGE[0])),
            hash_end=int(rng.get("EndingHashKey", FULL_HASH_RANGE[1])),
            closed="EndingSequenceNumber" in (shard.get("SequenceNumberRange") or {}),
        )


# Python workers are reused across tasks; building a boto3 client costs ~0.1 s, so each process
# keeps one per endpoint (refreshed before assumed-role credentials expire). Clients are
# thread-safe and are still created where they are used, never pickled.
_CLIENT_TTL_SEC = 1800.0
_clients: dict[tuple[Any, ...], tuple[float, Any]] = {}


def kinesis_client(opts: KinesisOptions, *, executor: bool = False, read_timeout: float | None = None) -> Any:
    """A Kinesis client for ``opts`` (assuming ``roleArn`` when set), cached per process."""
    key = (opts.endpoint_url, opts.region, opts.role_arn, executor, read_timeout)
    cached = _clients.get(key)
    if cached is not None and time.monotonic() - cached[0] < _CLIENT_TTL_SEC:
        return cached[1]
    session = _assumed_role_session(opts) if opts.role_arn else None
    config = _EXECUTOR_CONFIG if executor else None
    if read_timeout is not None:
        config = (config or Config()).merge(Config(read_timeout=read_timeout))
    client = aws.client(
        "kinesis", endpoint_url=opts.endpoint_url, region=opts.region, boto3_session=session, config=config
    )
    _clients[key] = (time.monotonic(), client)
    return client


def _assumed_role_session(opts: KinesisOptions) -> Any:
    import boto3

    sts = aws.client("sts", region=opts.region)
    creds = sts.assume_role(RoleArn=opts.role_arn, RoleSessionName="streamlake-kinesis-source")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=opts.region or aws.DEFAULT_REGION,
    )


def list_shards(client: Any, stream: str, *, attempts: int = 5) -> list[ShardInfo]:
    """Every shard of ``stream`` still within retention (open and closed), paginated."""
    shards: list[ShardInfo] = []
    kwargs: dict[str, Any] = {"StreamName": stream}
    attempt = 0
    while True:
        try:
            resp = client.list_shards(**kwargs)
        except client.exceptions.ResourceNotFoundException as exc:
            raise SourceError(f"Kinesis stream {stream!r} does not exist: {exc}") from exc
        except (ClientError, BotoCoreError) as exc:
            attempt += 1
            if attempt >= attempts:
                raise SourceError(f"ListShards on {stream!r} failed {attempt} times: {exc}") from exc
            time.sleep(min(2.0, 0.2 * 2**attempt))  # ListShards allows only a few calls per second
            continue
        shards.extend(ShardInfo.from_api(s) for s in resp.get("Shards", []))
        token = resp.get("NextToken")
        if not token:
            return shards
        kwargs = {"NextToken": token}
