"""A stream of several thousand referrals through all three services, faults injected mid-stream,
and the exact accounting afterwards: every referral once in every read model, every poison
message in a dead-letter topic with its reason, nothing else there, nothing lost."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_incrementing,
)

from scripts.harness import Platform, read_topic, wait_settled
from services.intake.personnummer import format_with_check
from shared.contracts import topics
from shared.contracts.envelope import Envelope, new_event
from shared.contracts.municipal import ReferralReceived
from shared.contracts.registry import encode_event
from shared.contracts.tenants import Channel, inbound_topic
from shared.messaging.kafka import client_kwargs
from shared.persistence import mongo_client
from shared.services import SERVICES
from shared.settings import Settings
from tests.support import HALMSTAD, event
from tests.unit.factories import agreement, programme

REFERRALS = int(os.environ.get("INSATS_FAULT_REFERRALS", "3000"))
PROGRAMME = "fault-programme"


# Halmstad's own referral topic (unprefixed): the stream's municipality publishes there.
REFERRAL_TOPIC = inbound_topic(HALMSTAD, Channel.REFERRALS)


@dataclass
class Stream:
    valid: list[Envelope[ReferralReceived]]
    poison: list[tuple[str, bytes, bytes, str]]  # topic, key, value, expected dead-letter code
    capacity: int

    def records(self) -> list[tuple[str, bytes, bytes]]:
        """Everything to publish, poison spread through the valid referrals."""
        mixed: list[tuple[str, bytes, bytes]] = [
            (REFERRAL_TOPIC, e.subject.encode(), encode_event(e)) for e in self.valid
        ]
        step = max(1, len(mixed) // (len(self.poison) + 1))
        for index, (topic, key, value, _) in enumerate(self.poison):
            mixed.insert((index + 1) * step + index, (topic, key, value))
        return mixed


def build_stream(n: int = REFERRALS, seed: int = 7) -> Stream:
    rng = random.Random(seed)
    valid: list[Envelope[ReferralReceived]] = []
    poison: list[tuple[str, bytes, bytes, str]] = []
    for index in range(n):
        born = date(1970, 1, 1) + timedelta(days=rng.randint(0, 30 * 365))
        referral = ReferralReceived(
            referral_id=f"f-{index:06d}",
            personnummer=format_with_check(born, index % 1000),
            municipality="1380",
            programme_id=PROGRAMME,
            income_support=rng.random() < 0.6,
            referral_date=date(2026, 1, 1) + timedelta(days=index * 200 // n),
        )
        if index % 50 == 25:  # 2 %: poison of three kinds
            kind = (index // 50) % 3
            if kind == 0:
                poison.append(
                    (
                        REFERRAL_TOPIC,
                        referral.referral_id.encode(),
                        b'{"type": "insats.referral.received.v1", "data": {',
                        "INVALID_JSON",
                    )
                )
            elif kind == 1:
                broken = json.loads(encode_event(event(referral)))
                del broken["data"]["referral_date"]
                poison.append(
                    (
                        REFERRAL_TOPIC,
                        referral.referral_id.encode(),
                        json.dumps(broken).encode(),
                        "SCHEMA_VIOLATION",
                    )
                )
            else:
                bad = referral.model_copy(
                    update={
                        "personnummer": referral.personnummer[:-1]
                        + str((int(referral.personnummer[-1]) + 1) % 10)
                    }
                )
                poison.append(
                    (
                        REFERRAL_TOPIC,
                        bad.referral_id.encode(),
                        encode_event(event(bad)),
                        "INVALID_PERSONNUMMER",
                    )
                )
            continue
        valid.append(new_event(referral, source="urn:kommun:1380", municipality="1380"))
    # A bit over half the enrolled get a place; the rest wait: both paths are exercised.
    return Stream(valid=valid, poison=poison, capacity=len(valid) * 6 // 10)


async def set_up(settings: Settings, stream: Stream) -> None:
    from scripts.harness import Publisher
    from tests.support import publish

    async with Publisher(settings) as onboarding:
        await onboarding.tenant_topic(HALMSTAD, Channel.REFERRALS)

    await publish(
        settings,
        event(
            programme(
                programme_id=PROGRAMME,
                capacity=stream.capacity,
                planned_participants=len(stream.valid),
            )
        ),
        event(agreement(programme_id=PROGRAMME, places=stream.capacity)),
    )
    await wait_settled(settings)


Fault = Callable[[], Awaitable[None]]


async def publish_stream(
    settings: Settings, records: list[tuple[str, bytes, bytes]], faults: dict[float, Fault]
) -> int:
    """Publish as a municipal system would, retrying through broker outages; run each fault when
    that fraction of the stream has been sent. Returns the number of records sent."""
    producer = AIOKafkaProducer(
        **client_kwargs(settings),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=10_000,
    )
    await producer.start()
    pending = sorted(faults.items())
    sent = 0
    try:
        for start in range(0, len(records), 100):
            while pending and start >= pending[0][0] * len(records):
                _, fault = pending.pop(0)
                await fault()
            chunk = records[start : start + 100]
            await _send_chunk(producer, settings, chunk)
            sent += len(chunk)
            await asyncio.sleep(0.05)  # a steady stream rather than one burst
        for _, fault in pending:
            await fault()
    finally:
        await producer.stop()
    return sent


async def _send_chunk(
    producer: AIOKafkaProducer, settings: Settings, chunk: list[tuple[str, bytes, bytes]]
) -> None:
    # The broker is away: a municipal system retries. A resend is harmless, since the consumers
    # deduplicate on event id.
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(KafkaError),
        wait=wait_incrementing(start=0.5, increment=0.5, max=3),
        stop=stop_after_attempt(60),
    )
    try:
        async for attempt in retrying:
            with attempt:
                futures = [
                    await producer.send(settings.topic(topic), value, key=key)
                    for topic, key, value in chunk
                ]
                await asyncio.gather(*futures)
    except RetryError as exhausted:
        raise TimeoutError("the broker did not come back") from exhausted


@dataclass
class Figures:
    sent: int
    valid: int
    poison: int
    enrolled: int
    placed: int
    waiting: int
    journeys: int
    dead_lettered: Counter[str] = field(default_factory=Counter)
    other_dead_letters: list[tuple[str, str, str]] = field(default_factory=list)
    duplicates_skipped: float = 0.0
    applied: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return (
            (self.valid - self.enrolled)
            + (self.valid - self.journeys)
            + (self.valid - self.placed - self.waiting)
        )

    def line(self, name: str) -> str:
        return (
            f"[{name}] sent={self.sent} valid={self.valid} poison={self.poison} "
            f"enrolled={self.enrolled} placed={self.placed} waiting={self.waiting} "
            f"journeys={self.journeys} applied={self.applied} "
            f"duplicates_skipped={self.duplicates_skipped:.0f} "
            f"dead_lettered={dict(self.dead_lettered)} lost={self.lost}"
        )


async def account(settings: Settings, stream: Stream, sent: int, duplicates: float) -> Figures:
    client = mongo_client(settings)
    try:
        intake = client[settings.database_name("intake")]
        placement = client[settings.database_name("placement")]
        outcomes = client[settings.database_name("outcomes")]
        figures = Figures(
            sent=sent,
            valid=len(stream.valid),
            poison=len(stream.poison),
            enrolled=await intake["participants"].count_documents({}),
            placed=await placement["placements"].count_documents({"programme_id": PROGRAMME}),
            waiting=await placement["waiting"].count_documents({"programme_id": PROGRAMME}),
            journeys=await outcomes["journeys"].count_documents({"enrolled": True}),
            duplicates_skipped=duplicates,
            applied={
                name: await client[settings.database_name(name)]["inbox"].count_documents({})
                for name in SERVICES
            },
        )
        # Each participant has exactly one enrolment, and at most one placement: no double counting.
        doubles = await intake["participants"].count_documents({"enrolments.1": {"$exists": True}})
        assert doubles == 0, f"{doubles} participants enrolled twice"
        placed_people = {
            doc["participant_id"]
            for doc in await placement["placements"].find({}, {"participant_id": 1}).to_list()
        }
        assert len(placed_people) == figures.placed, "a participant was placed twice"
    finally:
        await client.close()
    expected = Counter(code for *_, code in stream.poison)
    for service in SERVICES:
        # Like every topic, the dead-letter topic is at least once: a relay that dies between
        # publishing and marking sent publishes again. A letter is identified by its origin.
        seen: set[bytes] = set()
        for _, _, headers in await read_topic(settings, topics.dead_letter_topic(service)):
            origin = headers.get("insats-dlq-origin", b"")
            if origin in seen:
                continue
            seen.add(origin)
            code = headers.get("insats-dlq-code", b"").decode()
            original = headers.get("insats-dlq-original-topic", b"").decode()
            from_stream = original == settings.topic(REFERRAL_TOPIC)
            if service == "intake" and from_stream and expected[code] > figures.dead_lettered[code]:
                figures.dead_lettered[code] += 1
            else:
                figures.other_dead_letters.append(
                    (service, code, original.removeprefix(settings.topic_prefix))
                )
    return figures


def assert_exact(figures: Figures, stream: Stream) -> None:
    assert figures.enrolled == len(stream.valid)
    assert figures.journeys == len(stream.valid)
    assert figures.placed == stream.capacity
    assert figures.waiting == len(stream.valid) - stream.capacity
    assert figures.dead_lettered == Counter(code for *_, code in stream.poison)
    assert figures.other_dead_letters == []
    assert figures.lost == 0


def scrape_duplicates(platform: Platform) -> float:
    """Duplicates the running services have skipped so far (counters restart with a process)."""
    total = 0.0
    for service in platform.services.values():
        status, body = service.health("/metrics")
        if status != 200:
            continue
        for line in body.splitlines():
            if line.startswith("insats_events_duplicate_total{"):
                total += float(line.rsplit(" ", 1)[1])
    return total
