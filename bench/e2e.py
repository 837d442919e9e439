"""The end-to-end benchmark: Insats against the raw stack it runs on, measured in the same run.

For each N (1,000, 10,000, 100,000 by default):

- **baseline**: a plain aiokafka consumer reads the N referrals and writes them with PyMongo bulk
  writes, committing after each batch — the ceiling of this broker and database;
- **pipeline**: the same N referrals, published as raw JSON, flow through intake, placement and
  outcomes (as processes, with every guarantee on: transactions, inbox, outbox, idempotent
  producer, manual commits) until every consumer group has caught up and every outbox is empty;
- **rebuild**: `insats outcomes rebuild`, outcomes' read models replayed from the topics into
  fresh collections; its rate is of the replay, fold and write it reports (the command's wall
  time, with interpreter start and the comparison of indicators, is printed beside it), and its
  peak memory, since it folds in memory.

Then, at a fixed offered load (200 referrals/s by default), the latency from a referral's
publication to the placement offer it causes (p50, p95, p99), from the records' own timestamps.
Peak memory is each service process's high-water mark (VmHWM). Where the time goes is measured
too: the CPU each process (the three services, the database server, the broker) used during the
pipeline run, as a share of one core; with --profile, py-spy samples each service and the
database server (a Python process) and `bench/profile_summary.py` prints their hottest functions.

    python -m bench.e2e                      # the full table (make bench)
    python -m bench.e2e --sizes 1000 --quick # a smoke test of the benchmark itself (CI)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import InsertOne

from bench.raw_pipeline import raw_pipeline
from scripts.harness import (
    Namespace,
    Platform,
    ensure_home_topics,
    read_topic,
    reset_namespace,
    settings_for,
    wait_settled,
)
from scripts.stack import Stack
from services.intake.personnummer import format_with_check
from services.outcomes.rebuild import REBUILD
from shared.contracts import topics
from shared.contracts.envelope import new_event
from shared.contracts.municipal import (
    AgreementKind,
    AgreementSigned,
    ProgrammeDefined,
    ReferralReceived,
)
from shared.contracts.registry import encode_event
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.contracts.vocabulary import ActivityType
from shared.messaging.kafka import client_kwargs, read_records
from shared.persistence import mongo_client
from shared.services import SERVICES
from shared.settings import Settings

PROGRAMME = "bench-programme"
OUT = Path(".local/bench")


@dataclass
class Run:
    n: int
    baseline_seconds: float = 0.0
    raw_pipeline_seconds: float = 0.0  # the design's hops done by hand (bench/raw_pipeline.py)
    pipeline_seconds: float = 0.0
    rebuild_seconds: float = 0.0  # the command, start to exit (with its comparison)
    rebuild_fold_seconds: float = 0.0  # what the command reports: replay, fold and write
    rebuild_records: int = 0
    rebuild_peak_mb: float = 0.0
    rebuild_in_database_seconds: float = 0.0  # the same, folding in the database
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    cpu_share: dict[str, float] = field(default_factory=dict)
    # Database commands (round trips) per referral, per service, and by command.
    commands: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def baseline_rate(self) -> float:
        return self.n / self.baseline_seconds

    @property
    def pipeline_rate(self) -> float:
        return self.n / self.pipeline_seconds

    @property
    def raw_pipeline_rate(self) -> float:
        return self.n / self.raw_pipeline_seconds if self.raw_pipeline_seconds else 0.0

    @property
    def rebuild_rate(self) -> float:
        seconds = self.rebuild_fold_seconds
        return self.rebuild_records / seconds if seconds else 0.0

    @property
    def rebuild_in_database_rate(self) -> float:
        seconds = self.rebuild_in_database_seconds
        return self.rebuild_records / seconds if seconds else 0.0


# Every referral comes from Halmstad, on its own referral topic (unprefixed).
HALMSTAD = Tenant.municipality("1380")
# Referrals are dated in the weeks before the run: intake refuses one older than
# INSATS_REFERRAL_MAX_AGE_DAYS (90) when it arrives, and a benchmark of refusals measures nothing.
TODAY = date.today()
REFERRAL_TOPIC = inbound_topic(HALMSTAD, Channel.REFERRALS)


def referrals(n: int) -> list[tuple[bytes, bytes]]:
    """N valid referrals as (key, JSON bytes), encoded once, before any clock starts."""
    records = []
    for index in range(n):
        born = date(1970, 1, 1) + timedelta(days=(index * 7919) % (30 * 365))
        referral = ReferralReceived(
            referral_id=f"b-{index:07d}",
            personnummer=format_with_check(born, index % 1000),
            municipality="1380",
            programme_id=PROGRAMME,
            income_support=index % 3 != 0,
            referral_date=TODAY - timedelta(days=index % 60),
        )
        envelope = new_event(referral, source="urn:kommun:1380", municipality="1380")
        records.append((envelope.subject.encode(), encode_event(envelope)))
    return records


async def publish(
    settings: Settings, records: list[tuple[bytes, bytes]], rate: float | None = None
) -> None:
    producer = AIOKafkaProducer(
        **client_kwargs(settings), acks="all", linger_ms=5, enable_idempotence=True
    )
    await ensure_home_topics(settings, [REFERRAL_TOPIC])
    await producer.start()
    topic = settings.topic(REFERRAL_TOPIC)
    started = time.perf_counter()
    try:
        pending = []
        for index, (key, value) in enumerate(records):
            if rate is not None:
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 2_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def baseline(settings: Settings, records: list[tuple[bytes, bytes]]) -> float:
    """Read the referrals with a plain consumer and bulk-write them, committing per batch."""
    await publish(settings, records)
    return await raw_ingest(settings, [REFERRAL_TOPIC], len(records))


async def raw_ingest(settings: Settings, names: list[str], expected: int) -> float:
    """The ceiling of this broker and database: a plain aiokafka consumer reads `expected`
    records of the topics `names` and writes each as a document with PyMongo bulk inserts,
    committing its offsets after each batch. Returns the seconds it took."""
    consumer = AIOKafkaConsumer(
        *(settings.topic(name) for name in names),
        **client_kwargs(settings),
        group_id=f"{settings.consumer_group_prefix}-baseline",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    client = mongo_client(settings)
    collection = client[settings.database_name("baseline")]["records"]
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            documents = [
                InsertOne(
                    {
                        "_id": f"{record.topic}:{record.partition}:{record.offset}",
                        "key": record.key,
                        "value": record.value,
                    }
                )
                for partition in batch.values()
                for record in partition
            ]
            if documents:
                await collection.bulk_write(documents, ordered=False)
                await consumer.commit()
                seen += len(documents)
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await client.close()


async def set_up(settings: Settings, capacity: int) -> None:
    from scripts.harness import Publisher

    programme = ProgrammeDefined(
        programme_id=PROGRAMME,
        name="Benchmark",
        owner="Halmstads kommun",
        municipalities=["1380"],
        period_start=TODAY - timedelta(days=365),
        period_end=TODAY + timedelta(days=365),
        capacity=capacity,
        planned_participants=capacity,
        goal_sysselsattning=0.6,
    )
    agreement = AgreementSigned(
        agreement_id="bench-agreement",
        partner_id="bench-partner",
        programme_id=PROGRAMME,
        places=capacity,
        activities=[ActivityType.PRAKTIK],
        period_start=TODAY - timedelta(days=365),
        period_end=TODAY + timedelta(days=365),
        kind=AgreementKind.MUNICIPAL,
    )
    async with Publisher(settings) as publisher:
        for data in (programme, agreement):
            await publisher.send(new_event(data, source="urn:kommun:1380", municipality="1380"))
        await publisher.flush()
    await wait_settled(settings)


async def _every_referral_enrolled(settings: Settings, n: int) -> None:
    """The pipeline's figures are of enrolments: a run in which intake refused referrals (a
    bound moved, a date drifted out of range) would measure something cheaper, so it fails."""
    client = mongo_client(settings)
    try:
        participants = client[settings.database_name("intake")]["participants"]
        enrolled = await participants.count_documents({})
    finally:
        await client.close()
    if enrolled != n:
        raise RuntimeError(
            f"only {enrolled} of {n} referrals were enrolled: see intake's rejections in "
            f"{OUT}/logs-{n}; the figures would not be of the pipeline's work"
        )


def peak_rss_mb(platform: Platform) -> dict[str, float]:
    peaks = {}
    for name, service in platform.services.items():
        if service.process is None:
            continue
        # VmHWM, the most resident memory the process has held: psutil reports only the current.
        for line in Path(f"/proc/{service.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[name] = int(line.split()[1]) / 1024
    return peaks


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds a process has used so far."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def process_ids(platform: Platform, infrastructure: dict[str, int]) -> dict[str, int]:
    pids = dict(infrastructure)
    for name, service in platform.services.items():
        if service.process is not None:
            pids[name] = service.process.pid
    return pids


def cpu_used(pids: dict[str, int]) -> dict[str, float]:
    used = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return {name: seconds for name, seconds in used.items() if seconds is not None}


async def pipeline(
    env: dict[str, str],
    records: list[tuple[bytes, bytes]],
    run: Run,
    profile: bool,
    infrastructure: dict[str, int],
) -> None:
    settings = settings_for(env)
    # Onboarded before the services start, as in production: their pattern subscriptions find
    # the tenant's topics at once, not at their next metadata refresh (30 s).
    await ensure_home_topics(settings, list(HALMSTAD.writes()))
    platform = Platform(env, OUT / f"logs-{run.n}")
    platform.start()
    try:
        await platform.wait_ready()
        # Capacity for a tenth: most wait, as in a real programme with a queue.
        await set_up(settings, capacity=max(10, run.n // 10))
        pids = process_ids(platform, infrastructure)
        profilers = _profile(pids, run.n) if profile else []
        cpu_before = cpu_used(pids)
        commands_before = await asyncio.to_thread(database_commands, platform)
        started = time.perf_counter()
        await publish(settings, records)
        await wait_settled(settings, timeout=max(300, run.n / 20), quiet_for=0.5, poll=0.2)
        run.pipeline_seconds = time.perf_counter() - started
        await _every_referral_enrolled(settings, run.n)
        cpu_after = cpu_used(pids)
        commands_after = await asyncio.to_thread(database_commands, platform)
        run.commands = {
            name: commands_after[name] - commands_before.get(name, Counter())
            for name in commands_after
        }
        run.cpu_share = {
            name: (cpu_after[name] - cpu_before[name]) / run.pipeline_seconds
            for name in cpu_after
            if name in cpu_before
        }
        for profiler in profilers:
            profiler.wait()
        run.peak_rss_mb = peak_rss_mb(platform)
    finally:
        platform.stop()
    rebuilds = await rebuild_both_ways(env)
    run.rebuild_seconds = rebuilds.command_seconds
    run.rebuild_fold_seconds = rebuilds.in_memory_seconds
    run.rebuild_peak_mb = rebuilds.peak_mb
    run.rebuild_in_database_seconds = rebuilds.in_database_seconds
    for name in (
        inbound_topic(HALMSTAD, Channel.PROGRAMMES),
        inbound_topic(HALMSTAD, Channel.PARTNERS),
        topics.INTAKE_EVENTS,
        topics.INTAKE_SPECIAL_CATEGORIES,
        topics.PLACEMENT_EVENTS,
        inbound_topic(HALMSTAD, Channel.OUTCOME_REPORTS),
    ):
        run.rebuild_records += len(await read_topic(settings, name))


@dataclass(frozen=True)
class Rebuilds:
    command_seconds: float  # the in-memory command, start to exit
    in_memory_seconds: float  # the replay, fold and write it reports
    peak_mb: float  # its peak RSS
    in_database_seconds: float  # the same, reported by the rebuild folding in the database


async def rebuild_both_ways(env: dict[str, str]) -> Rebuilds:
    """The rebuild folding in memory, then in the database for comparison. The first one's
    database is dropped outside the second's clock (dropping a large database takes a while)."""
    command_seconds, in_memory_seconds, peak_mb = rebuild_command(env)
    settings = settings_for(env)
    client = mongo_client(settings)
    try:
        await client.drop_database(settings.database_name(REBUILD))
    finally:
        await client.close()
    _, in_database_seconds, _ = rebuild_command(env, "--in-database")
    return Rebuilds(command_seconds, in_memory_seconds, peak_mb, in_database_seconds)


def rebuild_command(env: dict[str, str], *options: str) -> tuple[float, float, float]:
    """`insats outcomes rebuild` as an operator runs it: its wall time, the replay-and-write time
    it reports (without interpreter start and the comparison that follows), and its peak RSS."""
    log_path = OUT / f"rebuild{''.join(options)}.log"
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts", "outcomes", "rebuild", *options],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # wait4, not wait: the rusage of this one child, whose ru_maxrss is its peak RSS in KiB.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    output = log_path.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"rebuild failed:\n{output}")
    reported = re.search(r"rebuilt into \S+\s+in\s+([\d.]+)\s+s;", output)
    if reported is None:
        raise RuntimeError(f"the rebuild did not report its time:\n{output}")
    return seconds, float(reported.group(1)), usage.ru_maxrss / 1024


def database_commands(platform: Platform) -> dict[str, Counter[str]]:
    """Each service's database commands so far, by command, from its own /metrics."""
    found: dict[str, Counter[str]] = {}
    for name, process in platform.services.items():
        _, body = process.health("/metrics")
        counted: Counter[str] = Counter()
        for line in body.splitlines():
            if line.startswith("insats_database_commands_total{"):
                labels, value = line.rsplit(" ", 1)
                command = labels.split('command="', 1)[1].split('"', 1)[0]
                counted[command] += int(float(value))
        found[name] = counted
    return found


def _is_python(pid: int) -> bool:
    try:
        command = psutil.Process(pid).cmdline()[:1]
    except psutil.Error:
        return False
    return bool(command) and ("python" in command[0] or command[0].endswith("secantusd-py"))


def _profile(pids: dict[str, int], n: int) -> list[subprocess.Popen[bytes]]:
    """py-spy on each service (and on the database server, when it is the Python one) while the
    stream flows: where the time goes, not a guess. The broker is a JVM and secantusd-rs native
    code, out of py-spy's reach; their CPU shares are measured all the same."""
    seconds = max(5, min(60, n // 300))
    processes = []
    for name, pid in pids.items():
        if name == "broker" or (name == "database" and not _is_python(pid)):
            continue
        processes.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(seconds),
                    "--format",
                    "speedscope",
                    "--nonblocking",
                    "--output",
                    str(OUT / f"profile-{name}-{n}.json"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return processes


@dataclass
class Latency:
    """Seconds from each referral's publication to its offer, and the two hops in between."""

    total: list[float] = field(default_factory=list)
    intake: list[float] = field(default_factory=list)  # referral -> ParticipantEnrolled
    placement: list[float] = field(default_factory=list)  # ParticipantEnrolled -> offer


async def latency(env: dict[str, str], n: int, rate: float) -> Latency:
    """Publish at a fixed rate; the time from each referral's publication to its offer."""
    settings = settings_for(env)
    await ensure_home_topics(settings, list(HALMSTAD.writes()))
    platform = Platform(env, OUT / "logs-latency")
    platform.start()
    try:
        await platform.wait_ready()
        await set_up(settings, capacity=n)  # a place for everyone: every referral gets an offer
        await publish(settings, referrals(n), rate=rate)
        await wait_settled(settings, timeout=300, quiet_for=0.5, poll=0.2)
    finally:
        platform.stop()
    published = {}
    consumer_records = await _records_with_timestamps(settings, REFERRAL_TOPIC)
    for value, timestamp in consumer_records:
        published[json.loads(value)["id"]] = timestamp
    enrolled: dict[str, tuple[str, int]] = {}  # participant -> (the referral's id, enrolled at)
    for value, timestamp in await _records_with_timestamps(settings, topics.INTAKE_EVENTS):
        event = json.loads(value)
        if event["type"] == "insats.participant.enrolled.v1":
            enrolled[event["data"]["participant_id"]] = (event["causationid"], timestamp)
    measured = Latency()
    for value, timestamp in await _records_with_timestamps(settings, topics.PLACEMENT_EVENTS):
        event = json.loads(value)
        if event["type"] == "insats.placement.offered.v1":
            cause, enrolled_at = enrolled.get(event["data"]["participant_id"], ("", 0))
            if cause in published:
                measured.total.append((timestamp - published[cause]) / 1000)
                measured.intake.append((enrolled_at - published[cause]) / 1000)
                measured.placement.append((timestamp - enrolled_at) / 1000)
    if len(measured.total) != n:
        # Latency of the referrals that got through says nothing of the ones that did not.
        raise RuntimeError(f"{len(measured.total)} of {n} referrals were offered a place")
    return measured


async def _records_with_timestamps(settings: Settings, topic: str) -> list[tuple[bytes, int]]:
    return [
        (r.value or b"", r.timestamp) for r in await read_records(settings, settings.topic(topic))
    ]


def _percentiles(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values) * 1000:.0f} ms, "
        f"p95 {percentile(values, 0.95) * 1000:.0f} ms, "
        f"p99 {percentile(values, 0.99) * 1000:.0f} ms"
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def started_stack() -> tuple[Stack, dict[str, str]]:
    """The local stack, started if it is not running, and the environment of a benchmark run:
    fresh keys, logs as JSON, warnings only."""
    OUT.mkdir(parents=True, exist_ok=True)
    stack = Stack()
    await stack.start()
    return stack, {
        **stack.environment(),
        "INSATS_PSEUDONYM_KEY": secrets.token_hex(32),
        "INSATS_AUDIENCE_KEY": secrets.token_hex(32),
        "INSATS_IDENTITY_MASTER_KEY": secrets.token_hex(32),
        "INSATS_LOG_FORMAT": "json",
        "INSATS_LOG_LEVEL": "WARNING",
    }


async def main(sizes: list[int], rate: float, latency_n: int, profile: bool) -> int:
    stack, base_env = await started_stack()
    # The processes this checkout started (a server found already running is not ours to sample).
    infrastructure = {
        name: pid
        for name, pid in (
            ("database", stack.mongo.process.pid()),
            ("broker", stack.kafka.process.pid()),
        )
        if pid is not None
    }
    runs = []
    for n in sizes:
        env = {**base_env, **Namespace(f"bench{n}").environment()}
        settings = settings_for(env)
        await reset_namespace(settings)
        await ensure_home_topics(settings, [*topics.ALL_TOPICS, REFERRAL_TOPIC])
        records = referrals(n)
        run = Run(n)
        run.baseline_seconds = await baseline(settings, records)
        raw_env = {**base_env, **Namespace(f"bench{n}r").environment()}
        raw_settings = settings_for(raw_env)
        await reset_namespace(raw_settings)
        await publish(raw_settings, records)
        run.raw_pipeline_seconds = await raw_pipeline(
            raw_settings, REFERRAL_TOPIC, n, capacity=max(10, n // 10)
        )
        await reset_namespace(raw_settings)
        # The pipeline reads the same referrals again, into its own namespace's topics.
        env = {**base_env, **Namespace(f"bench{n}p").environment()}
        await reset_namespace(settings_for(env))
        await pipeline(env, records, run, profile, infrastructure)
        runs.append(run)
        print(_line(run), flush=True)
        await reset_namespace(settings)
        await reset_namespace(settings_for(env))
    env = {**base_env, **Namespace("benchlat").environment()}
    await reset_namespace(settings_for(env))
    delays = await latency(env, latency_n, rate)
    await reset_namespace(settings_for(env))
    print(_table(runs, delays, rate, latency_n))
    return 0


def _line(run: Run) -> str:
    return (
        f"N={run.n}: baseline {run.baseline_rate:.0f}/s, raw pipeline "
        f"{run.raw_pipeline_rate:.0f}/s, pipeline {run.pipeline_rate:.0f}/s "
        f"({run.pipeline_rate / run.baseline_rate:.0%} of the baseline, "
        f"{run.pipeline_rate / run.raw_pipeline_rate:.0%} of the raw pipeline), "
        f"rebuild {run.rebuild_rate:.0f} records/s "
        f"({run.rebuild_rate / run.baseline_rate:.0%}; the command {run.rebuild_seconds:.1f} s; "
        f"in the database {run.rebuild_in_database_rate:.0f} records/s)"
    )


def _table(runs: list[Run], delays: Latency, rate: float, n: int) -> str:
    rows = [
        "| N | baseline events/s | raw pipeline events/s | pipeline events/s "
        "| pipeline / baseline | pipeline / raw pipeline "
        "| µs per event (pipeline) | rebuild records/s | rebuild / baseline "
        "| rebuild command s | rebuild in database records/s "
        "| peak RSS MB (intake, placement, outcomes; rebuild) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        peaks = ", ".join(f"{run.peak_rss_mb.get(s, 0):.0f}" for s in SERVICES)
        rows.append(
            f"| {run.n:,} | {run.baseline_rate:,.0f} | {run.raw_pipeline_rate:,.0f} "
            f"| {run.pipeline_rate:,.0f} | {run.pipeline_rate / run.baseline_rate:.0%} "
            f"| {run.pipeline_rate / run.raw_pipeline_rate:.0%} | {1e6 / run.pipeline_rate:,.0f} "
            f"| {run.rebuild_rate:,.0f} | {run.rebuild_rate / run.baseline_rate:.0%} "
            f"| {run.rebuild_seconds:.1f} | {run.rebuild_in_database_rate:,.0f} "
            f"| {peaks}; {run.rebuild_peak_mb:.0f} |"
        )
    rows.append("")
    rows.append(
        "CPU used during the pipeline run, in cores "
        "(intake, placement, outcomes, database, broker; 2 cores in all):"
    )
    for run in runs:
        shares = ", ".join(
            f"{run.cpu_share[name]:.2f}" if name in run.cpu_share else "-"
            for name in ("intake", "placement", "outcomes", "database", "broker")
        )
        rows.append(f"- N={run.n:,}: {shares}")
    rows.append("")
    rows.append(
        "Database round trips per referral during the pipeline run (the services' own count; "
        "the relays' and jobs' polls included), with the commands that make them:"
    )
    for run in runs:
        for name, counted in sorted(run.commands.items()):
            top = ", ".join(
                f"{command} {count / run.n:.2f}" for command, count in counted.most_common(4)
            )
            rows.append(f"- N={run.n:,}, {name}: {sum(counted.values()) / run.n:.2f} ({top})")
    if delays.total:
        rows.append("")
        rows.append(
            f"Publish-to-offer latency at {rate:.0f} referrals/s offered "
            f"({len(delays.total)} of {n}): {_percentiles(delays.total)}"
        )
        rows.append(f"- referral to enrolment (intake): {_percentiles(delays.intake)}")
        rows.append(f"- enrolment to offer (placement): {_percentiles(delays.placement)}")
    return "\n".join(rows)


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--rate", type=float, default=200.0, help="offered load for the latency run"
    )
    parser.add_argument("--latency-n", type=int, default=3_000)
    parser.add_argument("--quick", action="store_true", help="a short latency run, for CI")
    parser.add_argument("--profile", action="store_true", help="py-spy each service while it runs")
    args = parser.parse_args(argv)
    latency_n = 400 if args.quick else args.latency_n
    return asyncio.run(main(args.sizes, args.rate, latency_n, args.profile))


if __name__ == "__main__":
    raise SystemExit(cli())
