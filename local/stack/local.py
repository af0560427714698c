"""The local stack: kinesalite + moto server on free loopback ports, started and stopped together."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.stack.process import ManagedProcess
from local.stack.servers import kinesalite, moto_server
from streamlake import aws, home

log = logging.getLogger(__name__)


@dataclass
class LocalStack:
    """Handles on the running emulators. Use :func:`local_stack` to get one."""

    kinesis: ManagedProcess
    moto: ManagedProcess
    region: str = aws.DEFAULT_REGION

    @property
    def kinesis_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.kinesis.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto.port}"

    def client(self, service: str) -> Any:
        endpoint = self.kinesis_endpoint if service == "kinesis" else self.aws_endpoint
        return aws.client(service, endpoint_url=endpoint, region=self.region)

    def env(self) -> dict[str, str]:
        """Environment variables that point streamlake commands (and boto3) at this stack."""
        return {
            "STREAMLAKE_KINESIS_ENDPOINT": self.kinesis_endpoint,
            "STREAMLAKE_AWS_ENDPOINT": self.aws_endpoint,
            # kinesalite never answers GetShardIterator(AT_TIMESTAMP) with nothing since; never on AWS.
            "STREAMLAKE_EMULATOR_QUIRKS": "true",
            # A restarted local driver waits out a killed one's lease; seconds, not a minute.
            "STREAMLAKE_LEASE_TTL": "6",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "streamlake"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "streamlake"),
        }

    def restart_kinesis(self) -> None:
        """Kill and restart the emulator on the same port and data (fault tests)."""
        self.kinesis.kill()
        self.kinesis.start()

    def stop(self) -> None:
        self.kinesis.stop()
        self.moto.stop()


def start(*, state_dir: Path | None = None, persistent_kinesis: bool = True) -> LocalStack:
    state = state_dir or home.stack_dir()
    kin = kinesalite(data_dir=(state / "kinesis") if persistent_kinesis else None, log_path=state / "kinesalite.log")
    mot = moto_server(log_path=state / "moto.log")
    kin.start()
    try:
        mot.start()
    except Exception:
        kin.stop()
        raise
    stack = LocalStack(kinesis=kin, moto=mot)
    (state / "endpoints.json").write_text(json.dumps(stack.env(), indent=2))
    return stack


@contextmanager
def local_stack(*, state_dir: Path | None = None, persistent_kinesis: bool = True) -> Iterator[LocalStack]:
    """Start the stack, yield it, and always stop it."""
    stack = start(state_dir=state_dir, persistent_kinesis=persistent_kinesis)
    try:
        yield stack
    finally:
        stack.stop()
        (state_dir or home.stack_dir()).joinpath("endpoints.json").unlink(missing_ok=True)
