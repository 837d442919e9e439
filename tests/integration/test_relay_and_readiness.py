"""The relay never stops, and readiness tells the truth: on the real broker and database, with a
service running in this process.

Records the relay cannot publish are put straight into the service's outbox, between records it
can: one too large for the broker, one for a topic the broker will not create, one whose
municipality view cannot be derived, an event of a type the service does not declare, a record
that is no event at all, and a dead letter addressed to another service's dead-letter topic.
The publishable ones go out exactly once, in order; the others are parked with their reason and
counted; the relay keeps running and the service stays ready. Then readiness is shown failing
for what it must catch: a relay task that has died, and an outbox whose oldest record waits too
long.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.errors import OutOfOrderSequenceNumber
from bson import ObjectId
from prometheus_client import generate_latest

from shared.contracts import topics
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.placement import PlacementOffered
from shared.messaging.dead_letters import H_CODE
from shared.messaging.service import ServiceRuntime
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import raw_records, running

DECLARED = ParticipantEnrolled.TYPE.encode()


def _record(
    topic: str, key: bytes, value: bytes, event_type: bytes | None = DECLARED, **extra: Any
) -> dict[str, Any]:
    headers = [["content-type", b"application/octet-stream"]]
    if event_type is not None:
        headers.append(["ce_type", event_type])
    return {
        "_id": ObjectId(),
        "topic": topic,
        "key": key,
        "value": value,
        "headers": headers,
        "created_at": datetime.now(UTC),
        **extra,
    }


async def _wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.2)


def _metric(runtime: ServiceRuntime, name: str, **labels: str) -> float:
    value = runtime.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_a_record_the_relay_cannot_publish_is_parked_and_the_rest_go_on(
    env: dict[str, str], settings: Settings
) -> None:
    small = {**env, "INSATS_RELAY_MAX_RECORD_BYTES": "20000"}
    target = settings.topic("insats.relay-test.out")
    view_topic = settings.topic(topics.municipality_events_topic("1380"))
    records = [
        _record(target, b"k", b"first"),
        _record(target, b"k", b"x" * 30_000),  # larger than the bound
        _record(settings.topic("insats.not a topic!"), b"k", b"nowhere"),  # an illegal name
        # The view of an event is derived from its bytes: these are no event at all.
        _record(target, b"k", b"not an event", view_topic=view_topic),
        # Placement's event type: intake does not declare it, so intake may not publish it.
        _record(target, b"k", b"undeclared", event_type=PlacementOffered.TYPE.encode()),
        _record(target, b"k", b"no type", event_type=None),
        {
            **_record(settings.topic(topics.dead_letter_topic("placement")), b"k", b"foreign"),
            "headers": [[H_CODE, b"INVALID"]],
        },
        _record(target, b"k", b"last"),
    ]
    async with running("intake", small) as runtime:
        client = mongo_client(settings)
        db = client[settings.database_name("intake")]
        try:
            await db["outbox"].insert_many(records)
            runtime.relay.wake()

            async def drained() -> bool:
                return await db["outbox"].count_documents({}) == 0

            await _wait_until(drained)
            parked = {
                doc.get("value", doc["_id"]): doc
                for doc in await db["outbox_parked"].find({}).to_list()
            }
            ready, checks = await runtime.ready()
        finally:
            await client.close()
        exposition = generate_latest(runtime.metrics.registry).decode()
    published = [value for _, value, _ in await raw_records(settings, "insats.relay-test.out")]
    # Each publishable record once, in order: none re-sent because a later one failed.
    assert published == [b"first", b"not an event", b"last"]
    assert parked[b"x" * 30_000]["reason"] == "TOO_LARGE"
    assert parked[b"nowhere"]["reason"] == "TOPIC_REFUSED"
    [view] = [doc for doc in parked.values() if str(doc["_id"]).startswith("view:")]
    assert view["reason"] == "VIEW_INVALID"
    assert view["topic"] == view_topic
    for value in (b"undeclared", b"no type", b"foreign"):
        assert parked[value]["reason"] == "UNDECLARED"
    assert "is not among the event types intake declares" in parked[b"undeclared"]["detail"]
    assert ready, checks
    assert checks["relay"] is True
    for reason in ("TOO_LARGE", "TOPIC_REFUSED", "VIEW_INVALID"):
        assert f'insats_outbox_parked_total{{reason="{reason}",service="intake"}} 1.0' in exposition
    assert 'insats_outbox_parked_total{reason="UNDECLARED",service="intake"} 3.0' in exposition


async def test_readiness_fails_when_the_relay_has_died_or_the_outbox_waits_too_long(
    env: dict[str, str], settings: Settings
) -> None:
    strict = {**env, "INSATS_READY_MAX_OUTBOX_AGE_SECONDS": "60"}
    async with running("intake", strict) as runtime:
        assert (await runtime.ready())[0]
        task = runtime.relay._task
        assert task is not None
        task.cancel()  # the relay's task ends, as if killed by a bug
        await asyncio.gather(task, return_exceptions=True)
        ready, checks = await runtime.ready()
        assert not ready
        assert checks["relay"] is False

        client = mongo_client(settings)
        try:
            stale = _record(settings.topic("insats.relay-test.out"), b"k", b"stale")
            stale["created_at"] = datetime.now(UTC) - timedelta(minutes=5)
            await client[settings.database_name("intake")]["outbox"].insert_one(stale)
        finally:
            await client.close()
        ready, checks = await runtime.ready()
        assert not ready
        assert checks["outbox_oldest_seconds"] >= 300


class _BrokerForgotTheProducer:
    """The relay's real producer, except that the broker answers its first `lost` records as a
    broker that restarted and lost the idempotent producer's session does: sequence out of order.
    Those records are not written."""

    def __init__(self, real: Any, lost: int) -> None:
        self.real = real
        self.lost = lost

    async def send(self, topic: str, **record: Any) -> asyncio.Future[Any]:
        if self.lost == 0:
            return await self.real.send(topic, **record)  # type: ignore[no-any-return]
        self.lost -= 1
        refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        refused.set_exception(OutOfOrderSequenceNumber())
        return refused

    async def stop(self) -> None:
        await self.real.stop()


async def test_records_the_broker_refuses_for_a_lost_producer_session_go_out_on_a_new_producer(
    env: dict[str, str], settings: Settings
) -> None:
    """After a broker restart the idempotent producer may be refused for good
    (OutOfOrderSequenceNumber): found in the broker-restart fault test, where 513 of intake's
    events were parked and never reached placement or outcomes. The records stay in the
    outbox, the relay starts a new producer, and each goes out exactly once, none parked."""
    target = settings.topic("insats.relay-test.session")
    records = [_record(target, b"k", f"record {n}".encode()) for n in range(5)]
    async with running("intake", env) as runtime:
        relay: Any = runtime.relay
        relay._producer = _BrokerForgotTheProducer(relay._producer, lost=3)
        client = mongo_client(settings)
        db = client[settings.database_name("intake")]
        try:
            await db["outbox"].insert_many(records)
            runtime.relay.wake()

            async def drained() -> bool:
                return await db["outbox"].count_documents({}) == 0

            await _wait_until(drained)
            assert await db["outbox_parked"].count_documents({}) == 0
        finally:
            await client.close()
        renewed = _metric(runtime, "insats_outbox_producer_renewed_total", service="intake")
    published = [value for _, value, _ in await raw_records(settings, "insats.relay-test.session")]
    assert sorted(published) == sorted(f"record {n}".encode() for n in range(5))
    assert renewed >= 1
