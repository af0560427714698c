"""``make run``: the main job end to end on embedded defaults, with no AWS account.

Stack up (kinesalite + moto server) -> produce seeded shop events over 4 shards -> ingest until
caught up -> summary -> DuckDB checks the lake against every manifest sent so far -> stack down.
Running it again adds new events (a new seed per run) and the lake must stay exact.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from local.producer.generate import DEFAULT_BAD_FRACTION, DEFAULT_DUPLICATE_FRACTION
from streamlake import home
from streamlake.errors import StreamlakeError
from streamlake.logs import configure_logging

if TYPE_CHECKING:
    from jobs.ingest.monitor import RunSummary
    from local.stack import LocalStack

log = logging.getLogger("streamlake.run")
STREAM = "shop-events"
GLUE_DATABASE = "shop"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="make run ARGS=...",
        description="Run streamlake end to end locally: emulator, producer, ingest job, DuckDB checks.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--count", type=int, default=100_000, help="events to produce this run")
    p.add_argument("--shards", type=int, default=4, help="shards of the stream (when it is created)")
    p.add_argument("--seed", type=int, default=42, help="base seed; run N uses seed+N")
    p.add_argument("--bad-fraction", type=float, default=DEFAULT_BAD_FRACTION, help="share of bad events")
    p.add_argument(
        "--duplicate-fraction",
        type=float,
        default=DEFAULT_DUPLICATE_FRACTION,
        help="share of producer-retry duplicates",
    )
    p.add_argument("--trigger-seconds", type=float, default=2.0, help="micro-batch trigger interval")
    p.add_argument("--fresh", action="store_true", help="delete var/ (lake, checkpoints, emulator data) first")
    return p


def _manifests_dir() -> Path:
    return home.reports_dir() / "manifests"


def produce(stack: LocalStack, args: argparse.Namespace, run_no: int) -> Path:
    from botocore.config import Config

    from local.producer import generate_events, send, write_manifest
    from local.stack import ensure_stream
    from streamlake import aws

    # No botocore-level retries: a timed-out PutRecords that Kinesis did accept would be re-sent
    # and land copies the manifest does not list. The producer retries failed entries itself.
    kinesis = aws.client(
        "kinesis",
        endpoint_url=stack.kinesis_endpoint,
        config=Config(retries={"total_max_attempts": 1}),
    )
    ensure_stream(kinesis, STREAM, shards=args.shards)
    seed = args.seed + run_no
    print(f"\n== producing {args.count:,} events (seed {seed}) to {STREAM}")
    records = generate_events(
        args.count,
        seed=seed,
        now=datetime.now(UTC),
        bad_fraction=args.bad_fraction,
        duplicate_fraction=args.duplicate_fraction,
    )
    result = send(records, kinesis_client=kinesis, stream=STREAM, progress=True)
    manifest = _manifests_dir() / f"run-{run_no:04d}.jsonl"
    write_manifest(records, manifest)
    print(f"   sent {len(records):,} records; per shard:")
    for shard, n in sorted(result.per_shard.items()):
        print(f"     {shard}  {n:>8,}")
    return manifest


def ingest(stack: LocalStack, args: argparse.Namespace) -> RunSummary:
    from jobs.ingest.config import parse_config
    from jobs.ingest.job import run_ingest

    print("\n== ingesting until every shard is caught up")
    env = stack.env()
    config = parse_config(
        [
            "--stream",
            STREAM,
            "--until-caught-up",
            "--trigger-seconds",
            str(args.trigger_seconds),
            "--glue-database",
            GLUE_DATABASE,
            "--master",
            "local[2]",
            "--shuffle-partitions",
            "4",
            "--timeout-seconds",
            "900",
        ],
        env=env,
    )
    return run_ingest(config)


def summarize(lake: Path, summary: RunSummary, manifests: list[Path]) -> bool:
    from jobs.transforms.split import QUARANTINE
    from local.producer import load_manifest
    from local.verify import check, query_lake
    from schemas import load_stream

    tables = list(load_stream("shop_events").tables)
    con = duckdb.connect()
    print("\n== the lake, read by DuckDB straight from the Parquet files")
    for table in tables:
        rows = query_lake(con, lake, table, "SELECT event_date, count(*) FROM {files} GROUP BY 1 ORDER BY 1")
        parts = ", ".join(f"{d}: {n:,}" for d, n in rows)
        print(f"   {table:<14} {sum(n for _, n in rows):>9,} rows   ({parts or 'none'})")
    reasons = query_lake(
        con,
        lake,
        QUARANTINE,
        "SELECT r, count(*) FROM (SELECT unnest(reasons) AS r FROM {files}) GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    if reasons:
        print("   quarantine reasons:")
        for reason, n in reasons:
            print(f"     {reason:<40} {n:>7,}")
    s = summary
    print(
        f"\n== this run: {s.read:,} records read in {s.batches} batches, {s.valid:,} valid, "
        f"{s.quarantined:,} quarantined, {s.duplicates:,} duplicates removed; "
        f"max lag {s.max_lag_ms:,} ms; {s.rate:,.0f} records/s over {s.seconds:.1f} s"
    )
    records = [r for m in manifests for r in load_manifest(m)]
    result = check(lake, records, tables)
    print(f"\n== exactness over {len(manifests)} run(s): {result.explain()}")
    return result.exact


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(quiet=("local.stack.process",))
    from local.stack import local_stack

    if args.fresh and home.home().exists():
        shutil.rmtree(home.home())
    _manifests_dir().mkdir(parents=True, exist_ok=True)
    run_no = len(list(_manifests_dir().glob("run-*.jsonl")))
    started = time.monotonic()
    try:
        with local_stack() as stack:
            print(f"== local stack up: kinesis {stack.kinesis_endpoint}, aws {stack.aws_endpoint}")
            produce(stack, args, run_no)
            summary = ingest(stack, args)
            manifests = sorted(_manifests_dir().glob("run-*.jsonl"))
            exact = summarize(home.lake_dir(), summary, manifests)
    except StreamlakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"\n== stack stopped; done in {time.monotonic() - started:.0f} s (state in {home.home()})")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
