"""Retention holds on the real broker: a quiet topic configured as the project configures its
topics with clear personnummer (retention with segments that roll, shared/messaging/kafka.py)
no longer holds a record once it is older than the limit. The limit here is seconds instead of
72 hours; the local broker checks retention every 5 s (scripts/stack/kafka.py)."""

from __future__ import annotations

import asyncio
import time

from scripts.harness import Publisher, read_topic
from shared.messaging.kafka import ensure_topics, short_retention
from shared.settings import Settings

LIMIT_MS = 3_000


async def test_a_record_older_than_its_topics_retention_is_gone_even_from_a_quiet_topic(
    settings: Settings,
) -> None:
    topic = "insats.retention-test.referrals"
    await ensure_topics(settings, {settings.topic(topic): short_retention(LIMIT_MS)})
    async with Publisher(settings) as publisher:
        for n in range(3):
            await publisher.send_raw(topic, f"19900517-234{n}".encode(), key=b"k")
        await publisher.flush()
    assert len(await read_topic(settings, topic)) == 3
    written = time.monotonic()
    # Nothing more is written: the active segment itself must go.
    while await read_topic(settings, topic):
        waited = time.monotonic() - written
        assert waited < 60, f"records still held {waited:.0f} s after a {LIMIT_MS} ms retention"
        await asyncio.sleep(1)
