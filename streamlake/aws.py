"""The one place boto3 clients are made (the awswrangler pattern: ``session=None`` resolved here).

Every AWS-facing function takes an optional ``boto3.Session`` and an optional endpoint URL, so the
same code talks to moto/kinesalite locally and to real AWS in production.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"

# Short connect timeout so an unreachable endpoint fails fast with a clear error; adaptive retries
# because Kinesis and Glue throttle under load.
_BOTO_CONFIG = Config(
    connect_timeout=5,
    read_timeout=30,
    retries={"max_attempts": 5, "mode": "standard"},
)


def session(*, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None) -> boto3.Session:
    """A boto3 session. Against a local endpoint with no credentials configured, dummy ones are used."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    kwargs: dict[str, Any] = {"region_name": region}
    if profile:
        kwargs["profile_name"] = profile
    sess = boto3.Session(**kwargs)
    if endpoint_url and sess.get_credentials() is None:
        sess = boto3.Session(region_name=region, aws_access_key_id="streamlake", aws_secret_access_key="streamlake")
    return sess


def client(
    service: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    boto3_session: boto3.Session | None = None,
    config: Config | None = None,
) -> Any:
    """A client for ``service``; ``endpoint_url`` points it at a local emulator when given."""
    sess = boto3_session or session(region=region, endpoint_url=endpoint_url)
    cfg = _BOTO_CONFIG.merge(config) if config else _BOTO_CONFIG
    # The service name is a runtime string, so boto3-stubs' per-service overloads cannot apply.
    return sess.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint_url, region_name=region or sess.region_name, config=cfg
    )
