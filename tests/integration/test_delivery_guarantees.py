"""The shared consumer runtime against the real broker and database, through a probe service.

The probe subscribes like any service (same runtime, same ack policy, same inbox and outbox) with
a handler the tests steer: it records what it applied, fails for chosen messages, or makes the
database look unreachable. This proves the guarantees once for all three services.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date

from aiokafka.admin import AIOKafkaAdminClient
from pymongo.errors import AutoReconnect

from scripts.harness import settings_for
from shared.contracts.partner import PlacementEndReported
from shared.contracts.tenants import Channel
from shared.contracts.vocabulary import EndReason
from shared.messaging.consumer import HandlerContext, Subscription
from shared.messaging.dead_letters import DeadLetter
from shared.messaging.dlq_admin import read_dead_letters, replay
from shared.messaging.kafka import client_kwargs
from shared.messaging.records import Received
from shared.messaging.service import ServiceRuntime
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import event, publish, tenant_topic

PROBE = "probe"


@dataclass
class Steering:
    poison: set[str] = field(default_factory=set)  # placement ids that always fail
    flaky: dict[str, int] = field(default_factory=dict)  # placement id -> failures left
    database_down: bool = False
    slow_seconds: float = 0.0
    calls: int = 0


def report(participant: str, placement: str) -> PlacementEndReported:
    return PlacementEndReported(
        placement_id=placement,
        participant_id=participant,
        reason=EndReason.COMPLETED,
        end_date=date(2026, 5, 1),
    )


@asynccontextmanager
async def probe(env: dict[str, str], steering: Steering) -> AsyncIterator[ServiceRuntime]:
    settings = settings_for({**env, "INSATS_INFRASTRUCTURE_RETRY_SECONDS": "1"})
    runtime = ServiceRuntime(PROBE, settings, configure_logs=False)
    applied = runtime.db.collection("applied")

    async def handle(batch: Sequence[Received], ctx: HandlerContext) -> None:
        steering.calls += 1
        if steering.slow_seconds:
            await asyncio.sleep(steering.slow_seconds)
        documents = []
        for item in batch:
            data: PlacementEndReported = item.event.data
            if steering.database_down:
                raise AutoReconnect("simulated: database unreachable")
            if data.placement_id in steering.poison:
                raise ValueError(f"simulated bug on {data.placement_id}")
            if steering.flaky.get(data.placement_id, 0) > 0:
                steering.flaky[data.placement_id] -= 1
                raise RuntimeError(f"simulated transient failure on {data.placement_id}")
            documents.append(
                {
                    "participant": data.participant_id,
                    "placement": data.placement_id,
                    "event_id": str(item.event.id),
                    "at": time.monotonic_ns(),
                }
            )
        if documents:
            await applied.insert_many(documents, session=ctx.session)

    runtime.subscribe(
        Subscription(
            name="reports",
            channel=Channel.PLACEMENT_REPORTS,
            accepts=frozenset({PlacementEndReported.TYPE}),
            handler=handle,
        )
    )
    app = runtime.asgi_app()
    async with app.start_lifespan_context():
        await until(lambda: _ready(runtime))
        yield runtime


async def _ready(runtime: ServiceRuntime) -> bool:
    return (await runtime.ready())[0]


async def applied_rows(settings: Settings) -> list[dict[str, object]]:
    client = mongo_client(settings)
    try:
        return await client[settings.database_name(PROBE)]["applied"].find({}).sort("at").to_list()
    finally:
        await client.close()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.2)


async def committed_behind(settings: Settings) -> int:
    """How far the probe's committed offsets are behind the end of its topic."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from shared.messaging.kafka import topic_partitions

    topic = settings.topic(tenant_topic(Channel.PLACEMENT_REPORTS))
    layout = await topic_partitions(settings, [topic])
    partitions = [TopicPartition(topic, p) for p in layout[topic]]
    consumer = AIOKafkaConsumer(**client_kwargs(settings))
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await consumer.start()
    await admin.start()
    try:
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(
            settings.consumer_group(PROBE, "reports")
        )
        return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions)
    finally:
        await consumer.stop()
        await admin.close()


async def dead_letters(settings: Settings) -> list[DeadLetter]:
    return await read_dead_letters(settings, [PROBE])


async def test_one_participants_events_are_applied_in_the_order_published(
    env: dict[str, str], settings: Settings
) -> None:
    steering = Steering()
    events = [event(report(f"p{n % 5}", f"{n % 5}-{n // 5:03d}")) for n in range(250)]
    async with probe(env, steering):
        await publish(settings, *events)
        await until(lambda: _count(settings, 250))
    rows = await applied_rows(settings)
    for participant in (f"p{n}" for n in range(5)):
        mine = [str(row["placement"]) for row in rows if row["participant"] == participant]
        assert mine == sorted(mine), f"{participant}'s events out of order"
        assert len(mine) == 50


async def _count(settings: Settings, expected: int) -> bool:
    return len(await applied_rows(settings)) >= expected


async def test_redelivered_and_republished_events_are_applied_once(
    env: dict[str, str], settings: Settings
) -> None:
    steering = Steering()
    once = [event(report(f"p{n}", f"pl-{n}")) for n in range(20)]
    async with probe(env, steering):
        await publish(settings, *once, *reversed(once), *once[:5])
        await until(lambda: _settled(settings))
    rows = await applied_rows(settings)
    assert sorted(str(r["event_id"]) for r in rows) == sorted(str(e.id) for e in once)


async def _settled(settings: Settings) -> bool:
    client = mongo_client(settings)
    try:
        unsent = await client[settings.database_name(PROBE)]["outbox"].count_documents({})
    finally:
        await client.close()
    return unsent == 0 and await committed_behind(settings) == 0


async def test_a_poison_message_is_retried_then_dead_lettered_and_blocks_no_one(
    env: dict[str, str], settings: Settings
) -> None:
    steering = Steering(poison={"pl-poison"})
    good = [event(report(f"p{n}", f"pl-{n}")) for n in range(10)]
    poison = event(report("p3", "pl-poison"))
    after = event(report("p3", "pl-after"))
    async with probe(env, steering) as runtime:
        await publish(settings, *good[:5], poison, after, *good[5:])
        await until(lambda: _settled(settings))
        retries = _sample(runtime, "insats_handler_retries_total")
    rows = await applied_rows(settings)
    assert {r["placement"] for r in rows} == {f"pl-{n}" for n in range(10)} | {"pl-after"}
    [letter] = await dead_letters(settings)
    assert letter.code == "HANDLER_ERROR"
    assert letter.attempts == settings.retry_attempts
    # The reason names the failure and where it happened, never the exception's text: that
    # often repeats the input ("simulated bug on pl-poison"), which may hold personal data.
    assert letter.reason.startswith("ValueError at test_delivery_guarantees.py:")
    assert "pl-poison" not in letter.reason
    assert letter.value == _encoded(poison)
    assert letter.original_topic == settings.topic(tenant_topic(Channel.PLACEMENT_REPORTS))
    assert retries == settings.retry_attempts - 1


def _encoded(envelope: object) -> bytes:
    from shared.contracts.registry import encode_event

    return encode_event(envelope)  # type: ignore[arg-type]


def _sample(runtime: ServiceRuntime, name: str) -> float:
    value = runtime.metrics.registry.get_sample_value(
        name, {"service": PROBE, "subscriber": "reports"}
    )
    return value or 0.0


async def test_a_transient_failure_is_retried_and_applied_once(
    env: dict[str, str], settings: Settings
) -> None:
    steering = Steering(flaky={"pl-flaky": 2})
    async with probe(env, steering):
        await publish(settings, event(report("p1", "pl-flaky")), event(report("p2", "pl-fine")))
        await until(lambda: _settled(settings))
    assert sorted(str(r["placement"]) for r in await applied_rows(settings)) == [
        "pl-fine",
        "pl-flaky",
    ]
    assert await dead_letters(settings) == []


async def test_offsets_are_not_committed_while_the_database_is_down(
    env: dict[str, str], settings: Settings
) -> None:
    steering = Steering(database_down=True)
    async with probe(env, steering):
        await publish(settings, *(event(report(f"p{n}", f"pl-{n}")) for n in range(6)))
        # Several fetch-apply-fail rounds (each waits out the retry window, then hands the batch
        # back to the broker): nothing applied, nothing committed, nothing dead-lettered.
        await until(lambda: _calls_at_least(steering, 4), timeout=60)
        await asyncio.sleep(2.5)  # at least two retry windows: the batch went back to the broker
        assert await committed_behind(settings) == 6
        assert await applied_rows(settings) == []
        steering.database_down = False
        await until(lambda: _settled(settings))
    assert len(await applied_rows(settings)) == 6
    assert await dead_letters(settings) == []


async def _calls_at_least(steering: Steering, n: int) -> bool:
    return steering.calls >= n


async def test_a_dead_letter_replayed_after_the_fix_is_applied(
    env: dict[str, str], settings: Settings
) -> None:
    steering = Steering(poison={"pl-bug"})
    async with probe(env, steering):
        await publish(settings, event(report("p1", "pl-bug")))
        await until(lambda: _settled(settings))
        assert await applied_rows(settings) == []
        steering.poison.clear()  # the fix is deployed
        letters = await dead_letters(settings)
        assert await replay(settings, letters) == 1
        await until(lambda: _count(settings, 1))
    [row] = await applied_rows(settings)
    assert row["placement"] == "pl-bug"


async def test_unreadable_messages_on_an_inbound_topic_are_dead_lettered_with_their_reason(
    env: dict[str, str], settings: Settings
) -> None:
    from scripts.harness import Publisher

    async with probe(env, Steering()):
        async with Publisher(settings) as raw:
            await raw.send_raw(tenant_topic(Channel.PLACEMENT_REPORTS), b"\x00\x01 not json", b"k1")
            await raw.send_raw(
                tenant_topic(Channel.PLACEMENT_REPORTS),
                b'{"type": "insats.placement.end-reported.v1"}',
                b"k2",
            )
            await raw.send_raw(
                tenant_topic(Channel.PLACEMENT_REPORTS),
                b'{"type": "insats.something.else.v1"}',
                b"k3",
            )
            await raw.flush()
        await publish(settings, event(report("p1", "pl-1")))
        await until(lambda: _settled(settings))
    codes = sorted(letter.code for letter in await dead_letters(settings))
    assert codes == ["INVALID_JSON", "SCHEMA_VIOLATION", "UNKNOWN_EVENT_TYPE"]
    assert len(await applied_rows(settings)) == 1


async def test_shutdown_finishes_the_batch_in_flight_and_commits_it(
    env: dict[str, str], settings: Settings
) -> None:
    steering = Steering(slow_seconds=1.5)
    async with probe(env, steering):
        await publish(settings, *(event(report(f"p{n}", f"pl-{n}")) for n in range(5)))
        await until(lambda: _calls_at_least(steering, 1))
        # Leaving the context is the SIGTERM path: drain, commit, flush the outbox, stop.
    applied = len(await applied_rows(settings))
    assert applied >= 1
    assert await committed_behind(settings) == 5 - applied
