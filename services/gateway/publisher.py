"""Puts each accepted request on its tenant's own inbound topic, with the idempotent producer,
and waits for the broker's acknowledgement (acks=all) before the caller is told it arrived."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.contracts.envelope import Envelope
from shared.contracts.registry import encode_event
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.messaging.kafka import client_kwargs, ensure_topics, tenant_topic_configs
from shared.settings import Settings


class PublishFailed(Exception):
    """The broker did not take the record in time: the caller may send the request again."""


class EventPublisher:
    def __init__(self, settings: Settings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self.producer = AIOKafkaProducer(
            **client_kwargs(settings),
            enable_idempotence=True,
            acks="all",
            request_timeout_ms=int(timeout * 1000),
        )
        self._onboarded: set[Tenant] = set()
        self.started = False

    async def start(self) -> None:
        await self.producer.start()
        self.started = True

    async def stop(self) -> None:
        self.started = False
        await self.producer.stop()

    async def publish(self, envelope: Envelope[Any], tenant: Tenant, channel: Channel) -> str:
        """The record's topic:partition:offset, as the services' inboxes name it."""
        topic = self.settings.topic(inbound_topic(tenant, channel))
        try:
            async with asyncio.timeout(self.timeout):
                await self._topics_of(tenant)
                sent = await self.producer.send_and_wait(
                    topic,
                    encode_event(envelope),
                    key=envelope.subject.encode(),
                    headers=[
                        ("content-type", b"application/cloudevents+json"),
                        ("ce_id", str(envelope.id).encode()),
                        ("ce_type", envelope.type.encode()),
                    ],
                )
        except Exception as error:
            raise PublishFailed(type(error).__name__) from error
        return f"{sent.topic}:{sent.partition}:{sent.offset}"

    async def _topics_of(self, tenant: Tenant) -> None:
        """Where the deployment creates topics itself (the local stack), a tenant's topics are
        made on its first request, as onboarding would; where Strimzi owns them, they exist."""
        if not self.settings.create_topics or tenant in self._onboarded:
            return
        await ensure_topics(self.settings, tenant_topic_configs(self.settings, tenant))
        self._onboarded.add(tenant)
