"""The rebuild benchmark: outcomes' read models rebuilt from a history shaped like a programme's,
against the raw stack, measured in the same run.

bench/e2e.py's history is what its pipeline leaves: an enrolment per referral, each journey
written once. A programme's real history touches each journey many times, so this one publishes,
for every participant: the enrolment, a placement's start and end (the exit), and the outcome
reported at exit, after 6 and after 12 months: six records, five of them updating a journey (or
follow-up) already written. For N records (10,000 and 100,000 by default):

- **baseline**: a plain aiokafka consumer reads the N records from the same topics and writes
  each with PyMongo bulk inserts, committing per batch (bench/e2e.py's `raw_ingest`);
- **in memory**: `insats outcomes rebuild`, folding in memory and bulk-inserting the read models;
- **in the database**: `insats outcomes rebuild --in-database`, folding through transactions.

The rates are of the replay, fold and write the command reports (without interpreter start and
the comparison that follows); the peak memory is the in-memory rebuild's.

    python -m bench.rebuild                  # the table (make bench runs it after bench.e2e)
    python -m bench.rebuild --sizes 1000     # a smoke test of the benchmark itself (CI)
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.e2e import raw_ingest, rebuild_both_ways, started_stack
from scripts.harness import (
    Namespace,
    ensure_home_topics,
    home_topic,
    reset_namespace,
    settings_for,
)
from shared.contracts import topics
from shared.contracts.envelope import Envelope, new_event
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import (
    AgreementKind,
    AgreementSigned,
    OutcomeReported,
    ProgrammeDefined,
)
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.contracts.registry import encode_event
from shared.contracts.vocabulary import (
    ActivityType,
    EndReason,
    FollowUpPoint,
    Gender,
    OutcomeSource,
    OutcomeStatus,
)
from shared.messaging.kafka import client_kwargs

PROGRAMME = "bench-rebuild"
MUNICIPALITY = "1380"
START = date(2026, 1, 5)
PER_PARTICIPANT = 6
FOLLOW_UPS = (
    (FollowUpPoint.AT_EXIT, 0),
    (FollowUpPoint.MONTHS_6, 182),
    (FollowUpPoint.MONTHS_12, 365),
)


@dataclass
class Result:
    records: int
    baseline_seconds: float
    in_memory_seconds: float
    in_database_seconds: float
    peak_mb: float

    def rate(self, seconds: float) -> float:
        return self.records / seconds


def _setting() -> list[Any]:
    programme = ProgrammeDefined(
        programme_id=PROGRAMME,
        name="Rebuild benchmark",
        owner="Halmstads kommun",
        municipalities=[MUNICIPALITY],
        period_start=date(2026, 1, 1),
        period_end=date(2028, 12, 31),
        capacity=100_000,
        planned_participants=1_000_000,
        goal_sysselsattning=0.6,
    )
    agreement = AgreementSigned(
        agreement_id="bench-agreement",
        partner_id="bench-partner",
        programme_id=PROGRAMME,
        places=100_000,
        activities=[ActivityType.PRAKTIK],
        period_start=date(2026, 1, 1),
        period_end=date(2028, 12, 31),
        kind=AgreementKind.MUNICIPAL,
    )
    return [programme, agreement]


def _journey(index: int) -> list[Any]:
    """One participant's six records: enrolment, placement start and exit, three outcomes."""
    pid = f"bench-{index:07d}"
    referred = START + timedelta(days=index % 200)
    started = referred + timedelta(days=20)
    ended = started + timedelta(days=90 + index % 60)
    placement = {
        "placement_id": f"pl-{pid}",
        "participant_id": pid,
        "programme_id": PROGRAMME,
        "partner_id": "bench-partner",
        "municipality": MUNICIPALITY,
        "start_date": started,
    }
    statuses = (OutcomeStatus.UNSUBSIDISED_WORK, OutcomeStatus.STUDIES, OutcomeStatus.JOB_SEEKING)
    outcomes = [
        OutcomeReported(
            report_id=f"{pid}-{point.value}",
            participant_id=pid,
            programme_id=PROGRAMME,
            municipality=MUNICIPALITY,
            follow_up=point,
            status=statuses[(index + offset) % len(statuses)],
            income_support=index % 3 == 0,
            source=OutcomeSource.CASEWORKER,
            observed_on=ended + timedelta(days=days),
        )
        for offset, (point, days) in enumerate(
            (
                (FollowUpPoint.AT_EXIT, 0),
                (FollowUpPoint.MONTHS_6, 182),
                (FollowUpPoint.MONTHS_12, 365),
            )
        )
    ]
    return [
        ParticipantEnrolled(
            participant_id=pid,
            referral_id=f"r-{pid}",
            programme_id=PROGRAMME,
            municipality=MUNICIPALITY,
            birth_year=1970 + index % 40,
            age_at_referral=18 + index % 45,
            gender=Gender.FEMALE if index % 2 else Gender.MALE,
            income_support=index % 3 == 0,
            target_groups=[],
            referral_date=referred,
        ),
        PlacementStarted(
            **placement,
            agreement_id="bench-agreement",
            activity=ActivityType.PRAKTIK,
            waited_days=20,
            decision="first in line",
        ),
        PlacementEnded(
            **placement, end_date=ended, reason=EndReason.COMPLETED, exits_programme=True
        ),
        *outcomes,
    ]


def history(records: int) -> list[Envelope[Any]]:
    """About `records` events: the programme and agreement, then whole participants."""
    data = _setting()
    for index in range(max(1, (records - len(data)) // PER_PARTICIPANT)):
        data += _journey(index)
    source = f"urn:kommun:{MUNICIPALITY}"
    return [new_event(d, source=source, municipality=MUNICIPALITY) for d in data]


async def publish(env: dict[str, str], events: list[Envelope[Any]]) -> None:
    settings = settings_for(env)
    producer = AIOKafkaProducer(
        **client_kwargs(settings), acks="all", linger_ms=5, enable_idempotence=True
    )
    await producer.start()
    try:
        pending = [
            await producer.send(
                settings.topic(home_topic(e)), encode_event(e), key=e.subject.encode()
            )
            for e in events
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def measure(env: dict[str, str], records: int) -> Result:
    settings = settings_for(env)
    await reset_namespace(settings)
    events = history(records)
    names = sorted({home_topic(e) for e in events})
    await ensure_home_topics(settings, [*topics.ALL_TOPICS, *names])
    await publish(env, events)
    baseline_seconds = await raw_ingest(settings, names, len(events))
    rebuilds = await rebuild_both_ways(env)
    await reset_namespace(settings)
    return Result(
        len(events),
        baseline_seconds,
        rebuilds.in_memory_seconds,
        rebuilds.in_database_seconds,
        rebuilds.peak_mb,
    )


def table(results: list[Result]) -> str:
    rows = [
        "| records | baseline records/s | rebuild in memory records/s | in memory / baseline "
        "| rebuild in the database records/s | in the database / baseline "
        "| peak RSS MB (in memory) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        base = r.rate(r.baseline_seconds)
        memory = r.rate(r.in_memory_seconds)
        database = r.rate(r.in_database_seconds)
        rows.append(
            f"| {r.records:,} | {base:,.0f} | {memory:,.0f} | {memory / base:.0%} "
            f"| {database:,.0f} | {database / base:.0%} | {r.peak_mb:.0f} |"
        )
    return "\n".join(rows)


async def main(sizes: list[int]) -> int:
    _, base_env = await started_stack()
    results = []
    for records in sizes:
        env = {**base_env, **Namespace(f"benchrebuild{records}").environment()}
        result = await measure(env, records)
        results.append(result)
        print(
            f"{result.records:,} records: baseline {result.rate(result.baseline_seconds):.0f}/s,"
            f" rebuild in memory {result.rate(result.in_memory_seconds):.0f}/s,"
            f" in the database {result.rate(result.in_database_seconds):.0f}/s",
            flush=True,
        )
    print(table(results))
    return 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    return asyncio.run(main(args.sizes))


if __name__ == "__main__":
    raise SystemExit(cli())
