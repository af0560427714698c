"""``python -m local.producer`` (``make produce``): generate shop events, put them on Kinesis."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from local.producer.generate import (
    DEFAULT_BAD_FRACTION,
    DEFAULT_DUPLICATE_FRACTION,
    DEFAULT_OVERSIZED_BYTES,
    iter_events,
)
from local.producer.manifest import open_manifest
from local.producer.send import SendResult, send
from local.stack import ensure_stream
from streamlake import aws
from streamlake.errors import StreamlakeError

log = logging.getLogger(__name__)

ENDPOINT_ENV = "STREAMLAKE_KINESIS_ENDPOINT"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m local.producer",
        description="Generate seeded shop events (valid, bad and duplicate, each with its expected outcome) "
        "and put them on a Kinesis stream; optionally write a manifest for exactness checks.",
    )
    p.add_argument("--stream", default="shop-events", help="Kinesis stream name (default: %(default)s)")
    p.add_argument(
        "--events",
        default="shop_events",
        help="event declaration in schemas/streams/ to generate for (default: %(default)s)",
    )
    p.add_argument(
        "--endpoint-url",
        default=None,
        help=f"Kinesis endpoint, e.g. the local emulator (default: ${ENDPOINT_ENV}, else AWS)",
    )
    p.add_argument("--region", default=None, help="AWS region (default: $AWS_REGION, else us-east-1)")
    p.add_argument("--count", type=int, default=10_000, help="records to send (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed; same seed and --now give the same bytes")
    p.add_argument(
        "--now",
        default=None,
        help="the generator's clock, RFC 3339 (e.g. 2026-11-23T12:00:00Z; default: the current time)",
    )
    p.add_argument(
        "--bad-fraction",
        type=float,
        default=DEFAULT_BAD_FRACTION,
        help="share of bad records, within [0, 1] (default: %(default)s)",
    )
    p.add_argument(
        "--duplicate-fraction",
        type=float,
        default=DEFAULT_DUPLICATE_FRACTION,
        help="share of producer-retry duplicates, within [0, 1] (default: %(default)s)",
    )
    p.add_argument(
        "--oversized-bytes",
        type=int,
        default=DEFAULT_OVERSIZED_BYTES,
        help="oversized records are padded past this size (default: %(default)s)",
    )
    p.add_argument("--rate", type=float, default=None, help="target user records per second (default: unlimited)")
    p.add_argument(
        "--aggregate",
        type=int,
        default=None,
        metavar="N",
        help="pack up to N user records per KPL aggregate (default: no aggregation)",
    )
    p.add_argument(
        "--manifest",
        type=Path,
        default=None,
        metavar="PATH",
        help="write one JSON line per record sent (.gz to compress)",
    )
    p.add_argument(
        "--create-shards",
        type=int,
        default=None,
        metavar="N",
        help="create the stream with N shards if it does not exist",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> datetime:
    """Check every flag before any work; errors name the flag, the value and what is valid."""

    def bad(flag: str, value: object, valid: str) -> None:
        p.error(f"{flag} must be {valid}, got {value!r}")

    if args.count < 0:
        bad("--count", args.count, "a non-negative integer")
    for flag, value in (
        ("--bad-fraction", args.bad_fraction),
        ("--duplicate-fraction", args.duplicate_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            bad(flag, value, "within [0, 1]")
    if args.bad_fraction + args.duplicate_fraction > 1.0:
        bad("--bad-fraction + --duplicate-fraction", args.bad_fraction + args.duplicate_fraction, "at most 1")
    if args.rate is not None and not (args.rate > 0 and math.isfinite(args.rate)):
        bad("--rate", args.rate, "a positive number of records per second")
    if args.aggregate is not None and not 1 <= args.aggregate <= 10_000:
        bad("--aggregate", args.aggregate, "an integer within [1, 10000]")
    if args.create_shards is not None and not 1 <= args.create_shards <= 500:
        bad("--create-shards", args.create_shards, "an integer within [1, 500]")
    if not 1024 <= args.oversized_bytes <= 1_044_224:
        bad("--oversized-bytes", args.oversized_bytes, "within [1024, 1044224] (under Kinesis' 1 MiB)")
    if not args.stream:
        bad("--stream", args.stream, "a non-empty stream name")
    if args.now is None:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    except ValueError:
        bad("--now", args.now, "an RFC 3339 time such as 2026-11-23T12:00:00Z")
        raise  # unreachable: p.error exits
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def shard_table(result: SendResult) -> str:
    """The per-shard counts as a small text table."""
    rows = [(shard, str(n)) for shard, n in result.per_shard.items()]
    rows.append(("total", str(result.sent)))
    width = max(len("shard"), *(len(s) for s, _ in rows))
    count_width = max(len("records"), *(len(n) for _, n in rows))
    lines = [f"{'shard':<{width}}  {'records':>{count_width}}", f"{'-' * width}  {'-' * count_width}"]
    lines += [f"{s:<{width}}  {n:>{count_width}}" for s, n in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = _parser()
    args = parser.parse_args(argv)
    now = _validate(parser, args)
    endpoint = args.endpoint_url or os.environ.get(ENDPOINT_ENV) or None
    try:
        client = aws.client("kinesis", endpoint_url=endpoint, region=args.region)
        if args.create_shards:
            ensure_stream(client, args.stream, shards=args.create_shards)
        records = iter_events(
            args.count,
            seed=args.seed,
            now=now,
            bad_fraction=args.bad_fraction,
            duplicate_fraction=args.duplicate_fraction,
            stream=args.events,
            oversized_bytes=args.oversized_bytes,
            aggregated=args.aggregate is not None,
        )
        with ExitStack() as stack:
            writer = stack.enter_context(open_manifest(args.manifest)) if args.manifest else None
            result = send(
                records,
                kinesis_client=client,
                stream=args.stream,
                rate=args.rate,
                aggregate=args.aggregate,
                progress=not args.no_progress,
                on_sent=writer.write if writer else None,
            )
    except StreamlakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(shard_table(result))
    print(
        f"sent {result.sent} records as {result.kinesis_records} Kinesis records in {result.put_calls} calls "
        f"({result.failed_retries} retried) in {result.seconds:.2f}s = {result.rate:,.0f} records/s"
    )
    if args.manifest:
        print(f"manifest: {args.manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
