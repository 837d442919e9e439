"""On the real broker with ACLs enforced (the local stack's SASL listener, StandardAuthorizer):
a partner reads its own stream and writes its own reports topic, and cannot read another
partner's stream, write another partner's reports, the shared topics or where municipalities
write."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)

from scripts.stack import Stack
from scripts.stack.access import Credentials, onboard_partner
from shared.contracts import topics
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.messaging.kafka import ensure_topics, tenant_topic_configs
from shared.settings import Settings


def _sasl(credentials: Credentials) -> dict[str, str]:
    return {
        "bootstrap_servers": credentials.bootstrap_servers,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": credentials.username,
        "sasl_plain_password": credentials.password,
    }


@pytest.fixture
async def two_partners(local_stack: Stack, settings: Settings) -> tuple[Credentials, Credentials]:
    names = {p: settings.topic(topics.partner_placements_topic(p)) for p in ("hotellet", "butiken")}
    for partner in ("hotellet", "butiken"):
        await ensure_topics(settings, tenant_topic_configs(settings, Tenant.partner(partner)))
    await ensure_topics(
        settings,
        {
            settings.topic(name): {}
            for name in (
                topics.PARTNER_REPORTS,
                topics.MUNICIPAL_REFERRALS,
                inbound_topic(Tenant.municipality("1380"), Channel.REFERRALS),
            )
        },
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for partner, topic in names.items():
            await producer.send_and_wait(
                topic, f"a placement at {partner}".encode(), key=b"pl-1", partition=0
            )
    finally:
        await producer.stop()
    return (
        onboard_partner(local_stack.kafka, "hotellet", settings.topic_prefix),
        onboard_partner(local_stack.kafka, "butiken", settings.topic_prefix),
    )


async def _read_one(credentials: Credentials, topic: str, group: str) -> bytes:
    """Subscribe as the partner's own consumer would; the broker's authorizer answers."""
    consumer = AIOKafkaConsumer(
        topic,
        **_sasl(credentials),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
    )
    try:
        await consumer.start()
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=1_000)
            for records in batch.values():
                return records[0].value or b""
        raise TimeoutError(f"nothing read from {topic}")
    finally:
        await consumer.stop()


async def test_a_partner_reads_its_own_stream_and_no_other(
    two_partners: tuple[Credentials, Credentials], settings: Settings
) -> None:
    hotel, _ = two_partners
    own = settings.topic(topics.partner_placements_topic("hotellet"))
    other = settings.topic(topics.partner_placements_topic("butiken"))
    assert await _read_one(hotel, own, "partner-hotellet.roster") == b"a placement at hotellet"
    with pytest.raises(TopicAuthorizationFailedError):
        await _read_one(hotel, other, "partner-hotellet.roster")
    with pytest.raises(GroupAuthorizationFailedError):
        await _read_one(hotel, own, "someone-elses-group")


async def test_a_partner_writes_its_own_reports_and_nothing_else(
    two_partners: tuple[Credentials, Credentials], settings: Settings
) -> None:
    hotel, _ = two_partners
    own = inbound_topic(Tenant.partner("hotellet"), Channel.PLACEMENT_REPORTS)
    producer = AIOKafkaProducer(**_sasl(hotel), request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(own), b"{}", key=b"p-1")
        for elsewhere in (
            inbound_topic(Tenant.partner("butiken"), Channel.PLACEMENT_REPORTS),
            topics.PARTNER_REPORTS,
            topics.MUNICIPAL_REFERRALS,
            inbound_topic(Tenant.municipality("1380"), Channel.REFERRALS),
        ):
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(settings.topic(elsewhere), b"{}", key=b"r-1")
    finally:
        await producer.stop()
