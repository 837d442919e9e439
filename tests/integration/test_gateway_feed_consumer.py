"""The gateway's feed consumer against the real broker and database: persist before committing,
so a replica whose database is away commits nothing and the next files every record once; and a
consumer whose task ended says so (the gateway's readiness reads it)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from scripts.harness import free_port
from services.gateway.feed_consumer import FeedConsumer
from services.gateway.feed_records import StreamRecord
from services.gateway.feed_store import FeedStore
from shared.contracts.answers import InputRejected
from shared.contracts.envelope import new_event
from shared.contracts.registry import encode_event
from shared.contracts.tenants import Tenant
from shared.contracts.vocabulary import InputRefusal
from shared.messaging.kafka import client_kwargs, ensure_topics
from shared.persistence import DURABLE, mongo_client
from shared.settings import Settings

HOTEL = Tenant.partner("hotellet")


@pytest.fixture
async def feed(settings: Settings) -> AsyncIterator[FeedStore]:
    client = mongo_client(settings)
    store = FeedStore(
        client, client.get_database(settings.database_name("gateway"), write_concern=DURABLE)
    )
    await store.ensure_indexes(timedelta(days=1))
    try:
        yield store
    finally:
        await client.close()


class _Counted(FeedStore):
    """A feed store that counts the batches handed to it: the consumer had the records."""

    attempts = 0

    async def append(self, records: Sequence[StreamRecord]) -> int:
        self.attempts += 1
        return await super().append(records)


def _answer(n: int) -> bytes:
    data = InputRejected(
        origin=f"t:0:{n}",
        input_id=str(uuid.uuid4()),
        input_type="insats.placement.change-reported.v1",
        tenant=HOTEL.key,
        reason=next(iter(InputRefusal)),
        message="refused",
        message_sv="avvisad",
        received_at=datetime.now(UTC),
    )
    return encode_event(new_event(data, source="/insats/placement", municipality=None))


async def _committed(settings: Settings, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_nothing_is_committed_while_the_database_is_away_and_everything_is_filed_after(
    settings: Settings, feed: FeedStore
) -> None:
    topic = settings.topic(HOTEL.answers_topic())
    await ensure_topics(settings, {topic: {}})
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        for n in range(5):
            await producer.send_and_wait(topic, _answer(n), partition=n % 3)
    finally:
        await producer.stop()
    # A replica whose database does not answer (nothing listens on that port).
    away = settings.model_copy(
        update={"mongodb_url": SecretStr(f"mongodb://127.0.0.1:{free_port()}/")}
    )
    away_client = mongo_client(away)
    unreachable = _Counted(away_client, away_client["gateway"])
    stranded = FeedConsumer(settings, unreachable)
    await stranded.start()
    try:

        async def in_hand() -> bool:
            return unreachable.attempts > 0

        await _until(in_hand, "the stranded replica never got the records")
        await asyncio.sleep(1)
        assert stranded.alive()
        assert await _committed(settings, stranded.group, topic) == 0
    finally:
        await stranded.stop(1.0)
        await away_client.close()

    consumer = FeedConsumer(settings, feed)
    await consumer.start()
    try:

        async def filed() -> bool:
            stored = len(await feed.page(HOTEL, 0, 10)) == 5
            return stored and await _committed(settings, consumer.group, topic) == 5

        await _until(filed, "the stream was not filed and committed")
        assert [e.seq for e in await feed.page(HOTEL, 0, 10)] == [1, 2, 3, 4, 5]
        assert consumer.alive()
        # Its task ends while the gateway serves (as only a bug could make it).
        assert consumer._task is not None
        consumer._task.cancel()
        await asyncio.sleep(0.05)
        assert not consumer.alive(), "a consumer whose task ended must not pass as alive"
    finally:
        await consumer.stop(1.0)
