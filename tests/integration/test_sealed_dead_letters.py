"""Intake's dead letters never lie in its database in clear, against the real broker and
database: where an operator owns the topics and intake's dead-letter topic is not created yet, a
bad referral's dead letter waits in intake's database sealed (no personnummer in any form in it);
once the topic exists, the relay publishes it sealed as it is, and the master key opens it to
the original bytes, which `insats dlq show` and `replay` need."""

from __future__ import annotations

import asyncio
import json
import time

from scripts.harness import Publisher, read_topic, wait_settled
from shared.contracts import topics
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.messaging.kafka import ensure_topics, tenant_topic_configs
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import opened_dead_letters, running
from tests.unit.factories import referral

PNR = referral().personnummer


async def test_a_dead_letter_waits_sealed_in_the_database_and_stays_sealed_on_its_topic(
    env: dict[str, str], settings: Settings
) -> None:
    env.update({"INSATS_CREATE_TOPICS": "false", "INSATS_RELAY_PARKED_RETRY_SECONDS": "1"})
    dead_letters = topics.dead_letter_topic("intake")
    await ensure_topics(
        settings, {settings.topic(t): {} for t in topics.ALL_TOPICS if t != dead_letters}
    )
    await ensure_topics(settings, tenant_topic_configs(settings, Tenant.municipality("1380")))
    # Not JSON: a broken case system's record, with a clear personnummer in it.
    broken = f'{{"personnummer": "{PNR}", "oops'.encode()
    async with running("intake", env):
        async with Publisher(settings) as publisher:
            referrals = inbound_topic(Tenant.municipality("1380"), Channel.REFERRALS)
            await publisher.send_raw(referrals, broken, key=b"1380-1")
            await publisher.flush()
        client = mongo_client(settings)
        try:
            db = client[settings.database_name("intake")]
            deadline = time.monotonic() + 60
            while not (held := await db["outbox_parked"].find({}).to_list()):
                assert time.monotonic() < deadline, "the dead letter was never held back"
                await asyncio.sleep(0.5)
            stored = json.dumps(
                [await db[name].find({}).to_list() for name in ("outbox", "outbox_parked")],
                default=repr,
            )
        finally:
            await client.close()
        assert [doc["sealed"]["key_id"] for doc in held] == ["v1"]  # the master key version
        for form in (PNR, PNR.replace("-", ""), PNR[2:], PNR[2:].replace("-", "")):
            assert form not in stored
        await ensure_topics(settings, {settings.topic(dead_letters): {}})
        deadline = time.monotonic() + 60
        while not (letters := await read_topic(settings, dead_letters)):
            assert time.monotonic() < deadline, "the dead letter never reached its topic"
            await asyncio.sleep(0.5)
        await wait_settled(settings, services=["intake"])
    [(_, value, headers)] = letters
    for form in (PNR, PNR.replace("-", ""), PNR[2:], PNR[2:].replace("-", "")):
        assert form.encode() not in value
    assert headers["insats-seal-key-id"] == b"v1"
    [(_, opened, _)] = await opened_dead_letters(env, settings)
    assert opened == broken
    assert headers["insats-dlq-code"] == b"INVALID_JSON"
