"""A namespace reset on the real broker: a namespace used again (the demo's) starts from the first
record, because its consumer groups go with its topics."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from scripts.harness import (
    consumer_groups,
    delete_consumer_groups,
    ensure_home_topics,
    reset_namespace,
)
from shared.contracts import topics
from shared.messaging.kafka import client_kwargs
from shared.settings import Settings
from tests.support import event, publish
from tests.unit.factories import participant_enrolled


async def _groups(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        return {
            g for g in await consumer_groups(admin) if g.startswith(settings.consumer_group_prefix)
        }
    finally:
        await admin.close()


async def _member_of(settings: Settings, group: str) -> AIOKafkaConsumer:
    """A consumer in `group` that has read and committed the first record."""
    await ensure_home_topics(settings, [topics.INTAKE_EVENTS])
    await publish(settings, event(participant_enrolled("p-1")))
    consumer = AIOKafkaConsumer(
        settings.topic(topics.INTAKE_EVENTS),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_kwargs(settings),
    )
    await consumer.start()
    read = {}
    for _ in range(30):  # the group's first assignment takes a few seconds
        if read := await consumer.getmany(timeout_ms=1_000):
            break
    assert read
    await consumer.commit()
    return consumer


async def test_a_reset_deletes_the_namespaces_consumer_groups_with_their_offsets(
    settings: Settings,
) -> None:
    group = settings.consumer_group("placement", "enrolments")
    await (await _member_of(settings, group)).stop()
    assert group in await _groups(settings)
    await reset_namespace(settings)
    assert group not in await _groups(settings)


async def test_a_group_is_deleted_once_its_last_member_has_left(settings: Settings) -> None:
    group = settings.consumer_group("outcomes", "placement-events")
    consumer = await _member_of(settings, group)
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        # While a member is in the group it stays, and is said to.
        assert await delete_consumer_groups(admin, [group], timeout=1) == {group}
        deleting = asyncio.create_task(delete_consumer_groups(admin, [group], timeout=30))
        await asyncio.sleep(2)
        assert not deleting.done()
        await consumer.stop()
        assert await asyncio.wait_for(deleting, 30) == set()
    finally:
        await admin.close()
    assert group not in await _groups(settings)
