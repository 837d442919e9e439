"""A namespace reset on the real broker: a namespace used again (the demo's) starts from the first
record, because its consumer groups go with its topics."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from scripts.harness import consumer_groups, ensure_home_topics, reset_namespace
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


async def test_a_reset_deletes_the_namespaces_consumer_groups_with_their_offsets(
    settings: Settings,
) -> None:
    await ensure_home_topics(settings, [topics.INTAKE_EVENTS])
    await publish(settings, event(participant_enrolled("p-1")))
    group = settings.consumer_group("placement", "enrolments")
    consumer = AIOKafkaConsumer(
        settings.topic(topics.INTAKE_EVENTS),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_kwargs(settings),
    )
    await consumer.start()
    try:
        read = {}
        for _ in range(30):  # the group's first assignment takes a few seconds
            if read := await consumer.getmany(timeout_ms=1_000):
                break
        assert read
        await consumer.commit()
    finally:
        await consumer.stop()
    assert group in await _groups(settings)
    await reset_namespace(settings)
    assert group not in await _groups(settings)
