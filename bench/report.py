"""Turn the benchmark's measurements into the results table, the header and BENCHMARKS.md.

Every number in the output comes from the measurements passed in; the only constants here are the
targets the brief sets.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.data import Dataset
from bench.latency import LatencyResult
from bench.memory import TreeSample
from bench.processing import Timing
from bench.source import LoopRun, Produced, SourceRun
from bench.stats import (
    Row,
    fmt_bytes,
    fmt_rate,
    fmt_ratio,
    fmt_runs,
    fmt_seconds,
    markdown_table,
    median,
    ratio,
    target_row,
)

TARGET_VS_SPARK = 0.75
TARGET_FETCH_RATIO = 1.01
TARGET_VS_BOTO3 = 0.8
REPRODUCE = "make bench"


@dataclass
class ProcessingResults:
    dataset: Dataset
    files_per_trigger: int
    timings: dict[str, list[Timing]] = field(default_factory=dict)

    def add(self, t: Timing) -> None:
        self.timings.setdefault(t.engine, []).append(t)

    def rates(self, engine: str) -> list[float]:
        return [t.rate for t in self.timings.get(engine, [])]

    def rate(self, engine: str) -> float:
        return median(self.rates(engine))

    def seconds(self, engine: str) -> float:
        return median([t.seconds for t in self.timings.get(engine, [])])

    def us_per_event(self, engine: str) -> float:
        return self.seconds(engine) / self.dataset.events * 1e6

    def cpu_us_per_event(self, engine: str) -> float:
        return median([t.cpu_us_per_event for t in self.timings.get(engine, [])])

    def others_share(self) -> list[float]:
        return [t.others_share for runs in self.timings.values() for t in runs if not math.isnan(t.others_share)]

    def paired_ratios(self, a: str, b: str) -> list[float]:
        """``a / b`` per repeat: each pair ran back to back, so these show the noise of the ratio."""
        return [ratio(x.rate, y.rate) for x, y in zip(self.timings.get(a, []), self.timings.get(b, []), strict=False)]


@dataclass
class SourceResults:
    produced: Produced
    runs: list[SourceRun] = field(default_factory=list)
    loops: list[LoopRun] = field(default_factory=list)
    paced_loops: list[LoopRun] = field(default_factory=list)
    others_share: list[float] = field(default_factory=list)  # per Kinesis source run


@dataclass
class Results:
    processing: ProcessingResults | None = None
    source: SourceResults | None = None
    latency: LatencyResult | None = None
    memory: dict[str, TreeSample] = field(default_factory=dict)
    repeats: int = 0
    seed: int = 0
    wall_seconds: float = 0.0


# --- rows --------------------------------------------------------------------------------------


def processing_rows(p: ProcessingResults) -> list[Row]:
    sec = "Processing"
    ds = p.dataset
    rows: list[Row] = []
    full = p.timings.get("streamlake_full", [])
    batches = full[0].batches if full else 0
    for engine, label, how in (
        ("streamlake_full", "streamlake (real path) events/s", f"{batches} micro-batches (AvailableNow, "
         f"maxFilesPerTrigger={p.files_per_trigger})"),
        ("bare_spark", "bare Spark events/s", "one batch job"),
        ("duckdb", "DuckDB events/s", "read_ndjson -> COPY, 2 threads"),
    ):  # fmt: skip
        runs = p.timings.get(engine, [])
        if not runs:
            continue
        files = runs[-1].files
        cpu = p.cpu_us_per_event(engine)
        rows.append(
            Row(sec, label, fmt_rate(p.rate(engine)),
                notes=f"runs {fmt_runs(p.rates(engine))}; {how}; {files:,} files; CPU {cpu:.0f} µs/event")
        )  # fmt: skip
    if full and p.timings.get("bare_spark"):
        rows.append(
            target_row(
                sec,
                "streamlake / bare Spark",
                ratio(p.rate("streamlake_full"), p.rate("bare_spark")),
                target=TARGET_VS_SPARK,
                comparison=">=",
                notes="per repeat " + fmt_runs(p.paired_ratios("streamlake_full", "bare_spark"), "{:.2f}"),
            )
        )
    if full and p.timings.get("bare_spark"):
        by_cpu = ratio(p.cpu_us_per_event("bare_spark"), p.cpu_us_per_event("streamlake_full"))
        rows.append(
            Row(sec, "streamlake / bare Spark, by CPU time", fmt_ratio(by_cpu),
                notes="events per CPU-second of the process tree; insensitive to other processes taking a core")
        )  # fmt: skip
    if full and p.timings.get("duckdb"):
        value = ratio(p.rate("streamlake_full"), p.rate("duckdb"))
        rows.append(
            Row(sec, "streamlake / DuckDB", fmt_ratio(value),
                notes="per repeat " + fmt_runs(p.paired_ratios("streamlake_full", "duckdb"), "{:.2f}"))
        )  # fmt: skip
    rows.extend(stage_rows(p))
    if full:
        t = full[-1]
        quarantined = t.quarantined_rows or 0
        valid = t.valid_rows or 0
        exact = valid == ds.valid and quarantined == ds.bad
        rows.append(
            Row(sec, "streamlake output vs producer", "exact" if exact else "MISMATCH",
                notes=f"valid {valid:,} (expected {ds.valid:,}), quarantined {quarantined:,} (expected {ds.bad:,}), "
                      f"duplicates dropped {ds.events - valid - quarantined:,} (sent {ds.duplicates:,})",
                ok=exact)
        )  # fmt: skip
    return rows


def stage_rows(p: ProcessingResults) -> list[Row]:
    """Microseconds per event of each stage, from the differences of the no-op-sink runs."""
    needed = ("streamlake_scan", "streamlake_prepare", "streamlake_full")
    if not all(p.timings.get(n) for n in needed):
        return []
    scan, prep, full = (p.us_per_event(n) for n in needed)
    sec = "Stage cost"
    rows = [
        Row(sec, "scan + micro-batch overhead", f"{scan:.1f} µs/event", notes="file stream -> no-op sink"),
        Row(sec, "decode, parse, rules", f"{prep - scan:.1f} µs/event", notes="prepare -> no-op, minus scan"),
        Row(sec, "dedup, count, split, stage, publish, commit", f"{full - prep:.1f} µs/event",
            notes="LakeSink, minus prepare"),
        Row(sec, "streamlake total", f"{full:.1f} µs/event", notes="median wall time / events"),
    ]  # fmt: skip
    if p.timings.get("bare_spark_parse") and p.timings.get("bare_spark"):
        parse, bare = p.us_per_event("bare_spark_parse"), p.us_per_event("bare_spark")
        rows += [
            Row(sec, "bare Spark: read + from_json", f"{parse:.1f} µs/event", notes="same rows -> no-op sink"),
            Row(sec, "bare Spark: partitioned write", f"{bare - parse:.1f} µs/event",
                notes=f"{p.timings['bare_spark'][-1].files:,} files"),
        ]  # fmt: skip
    return rows


def source_rows(s: SourceResults) -> list[Row]:
    sec = "Source"
    rows: list[Row] = []
    if s.runs:
        fetch = median([r.fetched_per_emitted for r in s.runs])
        last = s.runs[-1]
        rows.append(
            target_row(sec, "records fetched / records emitted", fetch, target=TARGET_FETCH_RATIO, comparison="<=",
                       notes=f"{last.fetched:,} fetched, {last.emitted:,} emitted, {last.throttles} throttles")
        )  # fmt: skip
        calls = median([r.calls_per_shard_batch for r in s.runs])
        rows.append(
            Row(sec, "GetRecords calls per shard per batch", f"{calls:.2f}",
                notes=f"{last.calls} calls over {last.batches} batches x shards read ({last.shard_batches})")
        )  # fmt: skip
        exact = all(r.rows == s.produced.records for r in s.runs)
        rows.append(
            Row(sec, "rows delivered vs put", "exact" if exact else "MISMATCH",
                notes=f"{fmt_runs([r.rows for r in s.runs])} rows for {s.produced.records:,} put", ok=exact)
        )  # fmt: skip
        rows.append(
            Row(sec, "Kinesis source read rate", fmt_rate(median([r.rate for r in s.runs])),
                notes=f"runs {fmt_runs([r.rate for r in s.runs])}; query start to every shard caught up; "
                      f"other processes took {fmt_runs(s.others_share, '{:.0%}')} of the CPU")
        )  # fmt: skip
    if s.loops:
        rows.append(
            Row(sec, "boto3 loop read rate", fmt_rate(median([r.rate for r in s.loops])),
                notes=f"runs {fmt_runs([r.rate for r in s.loops])}; 1 thread, Limit=10000, "
                      f"{s.loops[-1].calls} calls")
        )  # fmt: skip
    if s.runs and s.loops:
        value = ratio(median([r.rate for r in s.runs]), median([r.rate for r in s.loops]))
        per = [ratio(a.rate, b.rate) for a, b in zip(s.runs, s.loops, strict=False)]
        rows.append(
            target_row(sec, "source / boto3 loop", value, target=TARGET_VS_BOTO3, comparison=">=",
                       notes="per repeat " + fmt_runs(per, "{:.2f}"))
        )  # fmt: skip
    if s.runs and s.paced_loops:
        paced = median([r.rate for r in s.paced_loops])
        rows.append(
            Row(sec, "boto3 loop within Kinesis limits", fmt_rate(paced),
                notes=f"same loop, calls spaced to 5/s and 2 MB/s per shard as on AWS; source / this = "
                      f"{fmt_ratio(ratio(median([r.rate for r in s.runs]), paced))}")
        )  # fmt: skip
    rows.append(
        Row(sec, "put rate into the emulator", fmt_rate(s.produced.records / s.produced.seconds),
            notes=f"{s.produced.records:,} events, {fmt_bytes(s.produced.bytes)}; the emulator's speed, not ours")
    )  # fmt: skip
    return rows


def latency_rows(lat: LatencyResult) -> list[Row]:
    sec = "Latency"
    seen = len(lat.latencies)
    batch = median([float(b) for b in lat.batch_ms]) / 1000 if lat.batch_ms else math.nan
    notes = (
        f"{seen:,} of {lat.sent:,} events at {lat.rate:,.0f}/s, 5 s trigger; median batch {fmt_seconds(batch)}; "
        f"other processes took {lat.others_share:.0%} of the CPU"
        + (f"; {lat.missing:,} never visible" if lat.missing else "")
    )
    return [
        Row(sec, "put -> visible in lake, p50", fmt_seconds(lat.p50), notes=notes),
        Row(sec, "put -> visible in lake, p95", fmt_seconds(lat.p95), ok=False if lat.missing else None,
            notes="visible = the batch marker (commit point) exists"),
    ]  # fmt: skip


def memory_rows(memory: dict[str, TreeSample]) -> list[Row]:
    rows = []
    for phase, label in (
        ("streamlake_full", "streamlake run"),
        ("bare_spark", "bare Spark run"),
        ("duckdb", "DuckDB run"),
    ):
        peak = memory.get(phase)
        if peak is None:
            continue
        rows.append(
            Row("Memory", f"peak RSS, {label}", fmt_bytes(peak.total),
                notes=f"process tree: JVM {fmt_bytes(peak.jvm)}, Python {fmt_bytes(peak.python)} "
                      f"({peak.processes} processes)")
        )  # fmt: skip
    return rows


def all_rows(r: Results, sections: set[str]) -> list[Row]:
    rows: list[Row] = []
    if r.processing and "processing" in sections:
        rows += processing_rows(r.processing)
    if r.source and "source" in sections:
        rows += source_rows(r.source)
    if r.latency and "latency" in sections:
        rows += latency_rows(r.latency)
    if r.memory and "memory" in sections:
        rows += memory_rows(r.memory)
    return rows


# --- text --------------------------------------------------------------------------------------


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20).stderr
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    first = out.splitlines()[0] if out else ""
    return first.split('"')[1] if '"' in first else first or "unknown"


def header(r: Results) -> str:
    import duckdb
    import pyspark

    lines = [
        "# Benchmarks",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; whole run {fmt_seconds(r.wall_seconds)}",
        f"- Machine: {os.cpu_count()} CPUs ({_cpu_model()}), {fmt_bytes(_mem_total())} RAM, "
        f"{platform.system()} {platform.release()}; a shared, noisy VM",
        f"- Software: Spark {pyspark.__version__} (local[2]), DuckDB {duckdb.__version__}, "
        f"Java {_java_version()}, Python {platform.python_version()}",
        f"- Rates and stage costs are medians of {r.repeats} interleaved repeats, every ratio compares runs of this "
        f"same invocation; latency percentiles are over every event of one run",
    ]
    if r.processing:
        ds = r.processing.dataset
        lines.append(
            f"- Processing dataset: {ds.events:,} producer events, seed {ds.seed} ({ds.valid:,} valid, {ds.bad:,} bad, "
            f"{ds.duplicates:,} producer retries; {fmt_bytes(ds.bytes)} of payloads) as raw Kinesis rows over "
            f"{ds.shards} shards in {ds.files} Parquet files"
        )
    if r.processing and r.processing.others_share():
        shares = r.processing.others_share()
        lines.append(
            f"- Other processes used a median {median(shares):.0%} (max {max(shares):.0%}) of the machine's CPU "
            f"during the timed processing runs"
        )
    if r.source:
        lines.append(f"- Source dataset: {r.source.produced.records:,} events, seed {r.seed + 1}, on kinesalite")
    return "\n".join(lines)


def interpretation(r: Results, sections: set[str]) -> str:
    """One paragraph on where the time goes, written from the measurements."""
    parts: list[str] = []
    p = r.processing if "processing" in sections else None
    if p and all(p.timings.get(n) for n in ("streamlake_scan", "streamlake_prepare", "streamlake_full")):
        scan, prep, full = (p.us_per_event(n) for n in ("streamlake_scan", "streamlake_prepare", "streamlake_full"))
        parts.append(
            f"Of streamlake's {full:.0f} µs per event on two cores, reading the raw rows costs {scan:.0f}, the pure "
            f"transforms (one JSON parse, typed casts, row rules) {prep - scan:.0f}, and the sink "
            f"{full - prep:.0f}: it ranks copies by key and marks duplicates against the lake's keys, counts the "
            f"batch, runs one Spark write per destination (the four tables, the quarantine and the dedup keys) "
            f"into staging, checks the counts, then publishes the files and writes the commit records."
        )
    if p and p.timings.get("bare_spark") and p.timings.get("streamlake_full"):
        sl_files, bare_files = p.timings["streamlake_full"][-1].files, p.timings["bare_spark"][-1].files
        text = (
            f"Bare Spark does less work per row but partitions bad rows by whatever event_time they claim, so it "
            f"writes {bare_files:,} files against streamlake's {sl_files:,} (bad rows go to a quarantine "
            f"partitioned by arrival date)"
        )
        if p.timings.get("bare_spark_parse"):
            parse, total = p.us_per_event("bare_spark_parse"), p.us_per_event("bare_spark")
            text += f": of its {total:.0f} µs per event, reading and parsing take {parse:.0f} and writing the rest"
        parts.append(text + ".")
    if p and p.timings.get("duckdb") and p.timings.get("streamlake_full"):
        parts.append(
            f"DuckDB is {ratio(p.rate('duckdb'), p.rate('streamlake_full')):.0f}x faster on this single-node job: "
            f"vectorised in-process JSON reading with no JVM, no micro-batch planning, no state store and no "
            f"validation or quarantine."
        )
    s = r.source if "source" in sections else None
    if s and s.runs and s.loops:
        source_rate = median([x.rate for x in s.runs])
        text = (
            f"The Kinesis source fetched each record once ({median([x.fetched_per_emitted for x in s.runs]):.3f} "
            f"fetched per emitted, {median([x.calls_per_shard_batch for x in s.runs]):.1f} GetRecords calls per "
            f"shard per batch). Its read rate is {ratio(source_rate, median([x.rate for x in s.loops])):.2f} of the "
            f"plain loop's on the emulator because each shard's reader holds itself to the real per-shard limit of "
            f"2 MB/s (kinesalite has none) and local[2] reads two shards at a time"
        )
        if s.paced_loops:
            paced = median([x.rate for x in s.paced_loops])
            text += f"; held to the same limits, the single-threaded loop reads {fmt_rate(paced)}"
        parts.append(text + ".")
    lat = r.latency if "latency" in sections else None
    if lat and lat.latencies:
        batch = median([float(b) for b in lat.batch_ms]) / 1000 if lat.batch_ms else math.nan
        parts.append(
            f"Latency is the wait for the next 5 s trigger plus one batch (median {fmt_seconds(batch)}), "
            f"giving p50 {fmt_seconds(lat.p50)} and p95 {fmt_seconds(lat.p95)}."
        )
    peak = r.memory.get("streamlake_full") if "memory" in sections else None
    if peak is not None:
        parts.append(
            f"Peak memory of the streamlake run is mostly the driver JVM ({fmt_bytes(peak.jvm)} of "
            f"{fmt_bytes(peak.total)}; its heap is sized by spark.driver.memory, not by the batch); the rest is the "
            f"Python driver and {max(0, peak.processes - 2)} Spark Python worker process(es)."
        )
    return " ".join(parts)


def render(r: Results, sections: set[str]) -> str:
    table = markdown_table(all_rows(r, sections))
    return "\n".join(
        [
            header(r),
            "",
            table,
            "",
            "Reproduce with:",
            "",
            "```",
            REPRODUCE,
            "```",
            "",
            "(`make bench ARGS='--events 200000 --repeats 1'` for a quick look; "
            "`python -m bench --help` lists the options.)",
            "",
            "## Interpretation",
            "",
            interpretation(r, sections) or "Nothing measured that needs interpreting.",
            "",
        ]
    )
