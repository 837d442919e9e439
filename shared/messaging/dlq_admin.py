"""Operator tools for dead letters: read them, and replay them to their topic after a fix.

Reading uses a consumer without a group (it assigns the partitions itself and commits nothing),
so looking at the dead-letter topic never moves anyone's offsets.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from shared.contracts import topics
from shared.messaging.dead_letters import DeadLetter
from shared.messaging.kafka import client_kwargs, read_records
from shared.services import SERVICES
from shared.settings import Settings


async def read_dead_letters(
    settings: Settings, services: Iterable[str] = SERVICES
) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    for topic in (settings.topic(topics.dead_letter_topic(service)) for service in services):
        letters += [
            DeadLetter(
                dlq_topic=topic,
                partition=record.partition,
                offset=record.offset,
                timestamp_ms=record.timestamp,
                key=record.key,
                value=record.value or b"",
                headers=tuple(record.headers or ()),
            )
            for record in await read_records(settings, topic)
        ]
    return _once_per_origin(letters)


def _once_per_origin(letters: list[DeadLetter]) -> list[DeadLetter]:
    """The relay publishes at least once, so a letter may stand twice on the topic; it is the
    same failure of the same original record, shown and replayed once."""
    unique: dict[tuple[str, str, int], DeadLetter] = {}
    for letter in letters:
        unique.setdefault((letter.origin, letter.code, letter.attempts), letter)
    return list(unique.values())


async def replay(settings: Settings, letters: Iterable[DeadLetter]) -> int:
    """Publish each letter's original key, bytes and headers to its original topic."""
    producer = AIOKafkaProducer(**client_kwargs(settings), enable_idempotence=True, acks="all")
    await producer.start()
    count = 0
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic,
                value=letter.value,
                key=letter.key,
                headers=letter.replay_headers(),
            )
            count += 1
    finally:
        await producer.stop()
    return count
