"""``make bench``: streamlake against bare Spark and DuckDB, the Kinesis source against boto3, latency
and memory, all in one run. Prints the results table and writes it to BENCHMARKS.md.

Phases (``--only`` picks some; by default all run, in this order):

1. ``processing``: a cached, seeded dataset of producer events as raw Kinesis rows; streamlake's real
   path (file stream -> prepare -> LakeSink/LakeWriter), the same stream into a no-op sink with and
   without ``prepare`` (stage costs), bare Spark and DuckDB. Repeats are interleaved so machine
   noise hits every engine alike.
2. ``memory``: peak RSS of this process tree (JVM + Python workers) during phase 1.
3. ``source``: the Kinesis source on kinesalite vs a single-threaded boto3 loop.
4. ``latency``: the ingest job in a subprocess, a producer at a steady rate, put -> visible p50/p95.

State lives under ``var/bench`` (``$STREAMLAKE_HOME/bench``); the dataset is reused across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from streamlake import home

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from bench.latency import LatencyResult
    from bench.memory import MemorySampler
    from bench.report import ProcessingResults, SourceResults
    from local.stack import LocalStack

PHASES = ("processing", "source", "latency", "memory")
REPO_ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("streamlake.bench")


class Progress:
    """Timestamped progress lines on stderr, so a long run shows what it is doing."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        print(f"[bench {minutes:3d}:{seconds:02d}] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark streamlake's processing path against bare Spark and DuckDB, the Kinesis source "
        "against a boto3 loop, put-to-lake latency and peak memory. Prints a table and writes it to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--events", type=int, default=1_000_000, help="events in the processing-path dataset")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (medians are reported)")
    p.add_argument("--source-events", type=int, default=200_000, help="events put on the emulator for the source")
    p.add_argument("--latency-seconds", type=float, default=60.0, help="how long the producer sends in the latency run")
    p.add_argument("--latency-rate", type=float, default=500.0, help="events per second in the latency run")
    p.add_argument("--seed", type=int, default=42, help="producer seed (the source dataset uses seed + 1)")
    p.add_argument("--files", type=int, default=8, help="raw Parquet files the dataset is split into")
    p.add_argument("--files-per-trigger", type=int, default=2, help="maxFilesPerTrigger of streamlake's file stream")
    p.add_argument("--only", action="append", choices=PHASES, help="run only this phase (repeatable)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "BENCHMARKS.md", help="the Markdown report to write")
    return p


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("events", "repeats", "source_events", "files", "files_per_trigger"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.latency_seconds <= 0 or args.latency_rate <= 0:
        p.error("--latency-seconds and --latency-rate must be > 0")


def run_processing(
    args: argparse.Namespace, bench: Path, spark: SparkSession, sampler: MemorySampler, say: Progress
) -> ProcessingResults:
    """Phase 1 (and 2): interleaved repeats of every engine on one dataset."""
    from bench import processing as bp
    from bench.data import generate_dataset
    from bench.memory import cpu_snapshot
    from bench.report import ProcessingResults

    ds = generate_dataset(bench, seed=args.seed, events=args.events, files=args.files, progress=say)
    config = bp.ingest_defaults()
    results = ProcessingResults(dataset=ds, files_per_trigger=args.files_per_trigger)
    work = bench / "work"
    say("processing: untimed warm-up of the JVM on one raw file")
    warm = bp.warmup_dir(ds, bench)
    bp.time_streamlake(spark, warm, 0, work / "warmup-sl", config=config, files_per_trigger=1)
    bp.time_bare_spark(spark, warm, 0, work / "warmup-bare")
    steps: list[tuple[str, Callable[[Path], bp.Timing]]] = [
        ("streamlake_full", lambda out: bp.time_streamlake(
            spark, ds.raw_dir, ds.events, out, config=config, mode="full", files_per_trigger=args.files_per_trigger)),
        ("streamlake_prepare", lambda out: bp.time_streamlake(
            spark, ds.raw_dir, ds.events, out, config=config, mode="prepare",
            files_per_trigger=args.files_per_trigger)),
        ("streamlake_scan", lambda out: bp.time_streamlake(
            spark, ds.raw_dir, ds.events, out, config=config, mode="scan", files_per_trigger=args.files_per_trigger)),
        ("bare_spark", lambda out: bp.time_bare_spark(spark, ds.raw_dir, ds.events, out)),
        ("bare_spark_parse", lambda out: bp.time_bare_spark(spark, ds.raw_dir, ds.events, out, write=False)),
        ("duckdb", lambda out: bp.time_duckdb(ds.ndjson, ds.events, out)),
    ]  # fmt: skip
    for r in range(args.repeats):
        for name, step in steps:
            say(f"processing: repeat {r + 1}/{args.repeats}: {name} on {ds.events:,} events")
            out = work / name
            before = cpu_snapshot()
            with sampler.phase(name):
                timing = step(out)
            use = cpu_snapshot().since(before)
            timing = dataclasses.replace(timing, cpu_seconds=use.tree, others_share=use.others_share)
            results.add(timing)
            say(
                f"processing: {name} {timing.seconds:.1f} s = {timing.rate:,.0f} events/s, {timing.files:,} files, "
                f"CPU {timing.cpu_us_per_event:.0f} µs/event, others took {use.others_share:.0%} of the CPU"
            )
            shutil.rmtree(out, ignore_errors=True)  # outputs are large; only the timing is kept
    return results


def run_source(
    args: argparse.Namespace, bench: Path, spark: SparkSession, stack: LocalStack, say: Progress
) -> SourceResults:
    """Phase 3: the Kinesis source vs a boto3 loop over the same stream, interleaved repeats."""
    import uuid

    from bench import processing as bp
    from bench import source as bs
    from bench.memory import cpu_snapshot
    from bench.report import SourceResults

    kinesis = stack.client("kinesis")
    stream = f"bench-source-{uuid.uuid4().hex[:8]}"
    say(f"source: putting {args.source_events:,} events on {stream} (4 shards)")
    produced = bs.produce(kinesis, stream, events=args.source_events, seed=args.seed + 1, progress=say)
    results = SourceResults(produced=produced)
    config = bp.ingest_defaults()
    for r in range(args.repeats):
        say(f"source: repeat {r + 1}/{args.repeats}: Kinesis source from TRIM_HORIZON to the tip")
        work = bench / "work" / "source" / f"run-{r}"
        shutil.rmtree(work, ignore_errors=True)
        before = cpu_snapshot()
        run = bs.time_kinesis_source(
            spark, stream=stream, endpoint_url=stack.kinesis_endpoint, region=stack.region,
            expected=produced.records, workdir=work, config=config,
        )  # fmt: skip
        results.others_share.append(cpu_snapshot().since(before).others_share)
        results.runs.append(run)
        say(f"source: {run.rows:,} rows in {run.seconds:.1f} s = {run.rate:,.0f}/s, {run.batches} batches")
        say(f"source: repeat {r + 1}/{args.repeats}: boto3 loop")
        loop = bs.time_boto3_loop(kinesis, stream)
        results.loops.append(loop)
        say(f"source: boto3 loop {loop.records:,} records in {loop.seconds:.1f} s = {loop.rate:,.0f}/s")
        say(f"source: repeat {r + 1}/{args.repeats}: boto3 loop within the Kinesis per-shard limits")
        paced = bs.time_boto3_loop(kinesis, stream, within_limits=True)
        results.paced_loops.append(paced)
        say(f"source: paced boto3 loop {paced.records:,} records in {paced.seconds:.1f} s = {paced.rate:,.0f}/s")
    return results


def run_latency(args: argparse.Namespace, bench: Path, stack: LocalStack, say: Progress) -> LatencyResult:
    """Phase 4: put -> visible latency of the ingest job run as a subprocess."""
    from bench.latency import measure_latency

    work = bench / "work" / "latency"
    shutil.rmtree(work, ignore_errors=True)
    result = measure_latency(
        stack, work, seconds=args.latency_seconds, rate=args.latency_rate, seed=args.seed + 2, progress=say
    )
    say(f"latency: p50 {result.p50:.2f} s, p95 {result.p95:.2f} s over {len(result.latencies):,} events")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    phases = set(args.only or PHASES)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bench.memory import MemorySampler
    from bench.report import Results, render

    say = Progress()
    bench = home.home() / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    results = Results(repeats=args.repeats, seed=args.seed)
    sampler = MemorySampler().start()
    spark: SparkSession | None = None
    try:
        if phases & {"processing", "memory", "source"}:
            from bench import processing as bp

            say("starting Spark (local[2])")
            spark = bp.build_bench_session(bp.ingest_defaults())
            spark.sparkContext.setLogLevel("ERROR")  # the per-query AQE warnings would drown the progress
        if phases & {"processing", "memory"}:
            assert spark is not None
            results.processing = run_processing(args, bench, spark, sampler, say)
            results.memory = dict(sampler.peaks)
        if phases & {"source", "latency"}:
            from local.stack import local_stack

            say("source/latency: starting the local stack (kinesalite + moto)")
            with local_stack(state_dir=bench / "stack", persistent_kinesis=False) as stack:
                if "source" in phases:
                    assert spark is not None
                    results.source = run_source(args, bench, spark, stack, say)
                if spark is not None:
                    spark.stop()  # the latency run has its own JVM; leave it both cores
                    spark = None
                if "latency" in phases:
                    results.latency = run_latency(args, bench, stack, say)
    finally:
        sampler.stop()
        if spark is not None:
            spark.stop()
    results.wall_seconds = time.monotonic() - say.started
    text = render(results, phases)
    args.out.write_text(text)
    print(text)
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
