"""Write-once semantics of the end log on S3 (moto server): the same checks as on a file system."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from jobs.kinesis.endlog import EndLog, open_end_log
from tests.unit.test_kinesis_endlog import check_retention, check_write_once

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_log(stack: Any) -> EndLog:
    from local.stack import ensure_bucket

    bucket = f"endlog-{uuid.uuid4().hex[:12]}"
    ensure_bucket(stack.client("s3"), bucket)
    return open_end_log(f"s3://{bucket}/checkpoints/q1/kinesis", s3_endpoint_url=stack.aws_endpoint)


def test_s3_write_once(s3_log: EndLog) -> None:
    check_write_once(s3_log)


def test_s3_retention(s3_log: EndLog) -> None:
    check_retention(s3_log)
