"""An erasure takes back what has not gone out yet, against the real broker and database: where
an operator owns the topics and a partner's stream is not created yet, placement holds the
partner's records back; the person is erased meanwhile, and when the partner's topic appears,
it receives only the withdrawal of the place, never the person's id."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from scripts.harness import read_topic, wait_settled
from shared.contracts import topics
from shared.contracts.municipal import ErasureRequested
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.contracts.vocabulary import ConsentPurpose, ErasureReason
from shared.messaging.kafka import ensure_topics, tenant_topic_configs
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import event, events_on, partner_sees, publish, running
from tests.unit.factories import agreement, programme, referral

PARTNER = "erikshjalpen"
REFERRAL = referral(consents=[ConsentPurpose.SHARE_WITH_PARTNER])


async def _unsent(settings: Settings) -> list[dict[str, Any]]:
    """Placement's records not yet published: in its outbox, or parked by its relay."""
    client = mongo_client(settings)
    try:
        db = client[settings.database_name("placement")]
        return [
            doc
            for name in ("outbox", "outbox_parked")
            for doc in await db[name].find({}).to_list()
            if "value" in doc
        ]
    finally:
        await client.close()


async def test_records_held_for_a_partner_without_a_topic_are_not_sent_after_an_erasure(
    env: dict[str, str], settings: Settings
) -> None:
    env.update({"INSATS_CREATE_TOPICS": "false", "INSATS_RELAY_PARKED_RETRY_SECONDS": "1"})
    # What an operator's onboarding made: every topic but the partner's own stream.
    await ensure_topics(settings, {settings.topic(t): {} for t in topics.ALL_TOPICS})
    await ensure_topics(settings, tenant_topic_configs(settings, Tenant.municipality("1380")))
    reports = settings.topic(inbound_topic(Tenant.partner(PARTNER), Channel.PLACEMENT_REPORTS))
    await ensure_topics(settings, {reports: {}})
    async with running("intake", env), running("placement", env):
        await publish(settings, event(programme()), event(agreement(places=1)))
        await wait_settled(settings, services=["intake", "placement"])
        await publish(settings, event(REFERRAL))
        await wait_settled(settings, services=["intake", "placement"])
        [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
        pid, placement_id = offer["data"]["participant_id"], offer["data"]["placement_id"]
        # The partner's stream names the person by the partner's own id for them.
        shown = partner_sees(env, pid, PARTNER)
        held = [doc for doc in await _unsent(settings) if shown.encode() in bytes(doc["value"])]
        assert held, "the partner's record naming the person is held back"

        await publish(
            settings,
            event(
                ErasureRequested(
                    request_id="gdpr-1",
                    personnummer=REFERRAL.personnummer,
                    municipality="1380",
                    reason=ErasureReason.GDPR_ARTICLE_17,
                    requested_by="socialtjänsten/registrator",
                )
            ),
        )
        await wait_settled(settings, services=["intake", "placement"])
        left = [bytes(doc["value"]) for doc in await _unsent(settings)]
        assert not [value for value in left if pid.encode() in value or shown.encode() in value]
        # The partner's topic appears: what was held and still may go, goes.
        stream = topics.partner_placements_topic(PARTNER)
        await ensure_topics(settings, {settings.topic(stream): {}})
        deadline = time.monotonic() + 60
        while not (sent := await read_topic(settings, stream)):
            assert time.monotonic() < deadline, "nothing reached the partner's new topic"
            await asyncio.sleep(0.5)
        await wait_settled(settings, services=["intake", "placement"])
        sent = await read_topic(settings, stream)
    received = [json.loads(value) for _, value, _ in sent]
    assert all(pid not in json.dumps(record) for record in received)
    assert all(shown not in json.dumps(record) for record in received)
    [withdrawal] = received
    assert withdrawal["data"]["placement_id"] == placement_id
    assert withdrawal["data"].get("participant_id") is None
