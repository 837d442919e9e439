"""Connection settings for every Kafka client a service opens: FastStream's broker, the outbox
relay's producer and the admin client. SASL/SCRAM and TLS come from settings, as in production."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.contracts.tenants import CHANNELS, Channel, Tenant, channel_pattern, inbound_topic
from shared.messaging import lenient_records
from shared.settings import Settings

_HOUR_MS = 3_600_000


def inbound_topic_config(settings: Settings, channel: Channel) -> dict[str, str]:
    """How every inbound topic is configured, a tenant's own or a shared one: the broker, not the
    sender, stamps each record's time (intake dates a referral's receipt by it), and refuses a
    record larger than the bound. The referral topic holds clear personnummer: short retention,
    with segments that roll hourly so that a quiet topic's last records expire on time too."""
    config = {
        "message.timestamp.type": "LogAppendTime",
        "max.message.bytes": str(settings.inbound_max_message_bytes),
    }
    if channel is Channel.REFERRALS:
        config |= short_retention(settings.referral_retention_hours * _HOUR_MS)
    return config


def tenant_topic_configs(settings: Settings, tenant: Tenant) -> dict[str, dict[str, str]]:
    """The topics onboarding creates for a tenant (full names), with their configuration: each
    inbound topic it alone writes, and its own stream."""
    configs = {
        settings.topic(inbound_topic(tenant, channel)): inbound_topic_config(settings, channel)
        for channel in sorted(CHANNELS[tenant.kind])
    }
    configs[settings.topic(tenant.answers_topic())] = {}
    return configs


def short_retention(retention_ms: int) -> dict[str, str]:
    return {"retention.ms": str(retention_ms), "segment.ms": str(min(retention_ms, _HOUR_MS))}


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol not in {"SSL", "SASL_SSL"}:
        return None
    return ssl.create_default_context(cafile=settings.kafka_ssl_cafile)


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's producer, consumer and admin client."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if context := _ssl_context(settings):
        kwargs["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_username
        kwargs["sasl_plain_password"] = (
            settings.kafka_password.get_secret_value() if settings.kafka_password else None
        )
    return kwargs


def faststream_security(settings: Settings) -> BaseSecurity | None:
    context = _ssl_context(settings)
    if not settings.kafka_security_protocol.startswith("SASL"):
        return BaseSecurity(ssl_context=context, use_ssl=context is not None) if context else None
    username = settings.kafka_username or ""
    password = settings.kafka_password.get_secret_value() if settings.kafka_password else ""
    kind = {
        "SCRAM-SHA-512": SASLScram512,
        "SCRAM-SHA-256": SASLScram256,
        "PLAIN": SASLPlaintext,
    }[settings.kafka_sasl_mechanism]
    return kind(username=username, password=password, ssl_context=context)


async def channel_topics(settings: Settings, channel: Channel) -> list[str]:
    """Every existing topic of an inbound channel (full names): each tenant's own, and the
    shared one where a migration still reads it."""
    pattern = re.compile(
        channel_pattern(channel, settings.topic_prefix, shared=settings.shared_inbound_topics)
    )
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if pattern.match(t))
    finally:
        await admin.close()


async def ensure_topics(settings: Settings, topic_configs: dict[str, dict[str, str]]) -> list[str]:
    """Create the topics that do not exist yet; returns those created. Where an operator (such
    as Strimzi's KafkaTopic) owns the topics, INSATS_CREATE_TOPICS=false skips this."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topic_configs if name not in existing]
        if not missing:
            return []
        new_topics = [
            NewTopic(
                name=name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs=topic_configs[name],
            )
            for name in missing
        ]
        response = await admin.create_topics(new_topics)
        created = []
        for name, code, *_ in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                raise RuntimeError(f"could not create topic {name}: error code {code}")
    finally:
        await admin.close()
    await wait_for_topics(settings, list(topic_configs))
    return created


async def wait_for_topics(settings: Settings, names: list[str], timeout: float = 30.0) -> None:
    """Until every topic has partitions with leaders: consumers that subscribe earlier get no
    assignment until their next metadata refresh."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        layout = await topic_partitions(settings, names)
        if all(name in layout for name in names):
            return
        if asyncio.get_running_loop().time() > deadline:
            missing = sorted(set(names) - set(layout))
            raise TimeoutError(f"topics not available: {missing}")
        await asyncio.sleep(0.2)


async def topic_partitions(settings: Settings, names: list[str]) -> dict[str, list[int]]:
    """The partitions of each named topic that exists (absent topics are left out)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    found: dict[str, list[int]] = {}
    for topic in described:
        name = topic.get("topic", topic.get("name"))
        leaders = all(p.get("leader", -1) >= 0 for p in topic.get("partitions", []))
        if topic.get("error_code", 0) == 0 and topic.get("partitions") and leaders:
            found[name] = sorted(p["partition"] for p in topic["partitions"])
    return found


@dataclass(frozen=True)
class LogSpan:
    """The records of one partition a replay read: offsets `start` (the first still held) up
    to `end`, exclusive."""

    topic: str
    partition: int
    start: int
    end: int


class ReplayIncomplete(RuntimeError):
    """Records a replay was asked for are no longer held (retention deleted them)."""


async def replay_topic(
    settings: Settings,
    name: str,
    on_records: Callable[[list[ConsumerRecord[Any, Any]]], Awaitable[None]],
    max_records: int = 500,
    *,
    until: Mapping[int, tuple[int, int]] | None = None,
    before: datetime | None = None,
    spans: list[LogSpan] | None = None,
) -> int:
    """Every record of the topic `name` (full name, prefix included) up to its end as of now,
    partition by partition in order, without joining a group: nobody's offsets move. Records
    appended meanwhile are left for the next reader. Returns how many were handed on.

    `until` names the (start, end) offsets to read of each partition, as an earlier replay's
    spans give them: a partition not named is not read, and one whose records from `start` on
    are no longer all held raises ReplayIncomplete. `before` stops at the first record stamped
    at or after that time. `spans` receives what was read."""
    layout = await topic_partitions(settings, [name])
    if name not in layout:
        return 0
    lenient_records.install()
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    count = 0
    try:
        partitions = [TopicPartition(name, p) for p in layout[name]]
        # Before assigning: once assigned, the consumer's first fetch is in flight and the offset
        # request waits behind it (fetch_max_wait_ms, half a second on an empty topic).
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        if until is not None:
            read = {tp: until.get(tp.partition, (0, 0)) for tp in partitions}
            ends = {tp: min(ends[tp], read[tp][1]) for tp in partitions}
            lost = [
                tp.partition
                for tp in partitions
                if starts[tp] > read[tp][0] and read[tp][1] > read[tp][0]
            ]
            if lost:
                raise ReplayIncomplete(
                    f"{name}: partitions {lost} no longer hold their first records"
                )
        if before is not None:
            stamped = await consumer.offsets_for_times(
                {tp: int(before.timestamp() * 1000) for tp in partitions}
            )
            ends = {
                tp: min(ends[tp], found.offset if (found := stamped.get(tp)) else ends[tp])
                for tp in partitions
            }
        if spans is not None:
            spans.extend(
                LogSpan(name, tp.partition, starts[tp], max(starts[tp], ends[tp]))
                for tp in partitions
            )
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp] > starts[tp]}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1_000, max_records=max_records)
            for tp, records in fetched.items():
                wanted = [r for r in records if r.offset < ends[tp]]
                if wanted:
                    await on_records(wanted)
                    count += len(wanted)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return count


async def read_records(settings: Settings, name: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record of the topic `name` (full name) up to its end as of now."""
    found: list[ConsumerRecord[Any, Any]] = []

    async def keep(records: list[ConsumerRecord[Any, Any]]) -> None:
        found.extend(records)

    await replay_topic(settings, name, keep)
    return found
