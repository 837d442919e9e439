"""Webhook delivery with two gateway replicas on the real database and a real HTTP receiver:
one subscription is sent by one replica at a time, in the feed's order, each event once while
the receiver takes each; a replica that died holding a subscription is taken over once its
lease runs out, not before."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway.feed_records import StreamRecord
from services.gateway.feed_store import FeedStore
from services.gateway.settings import GatewaySettings
from services.gateway.webhook_deliverer import WebhookDeliverer
from services.gateway.webhook_store import Subscription, WebhookStore
from shared.contracts.tenants import Tenant
from shared.persistence import DURABLE, mongo_client
from shared.settings import Settings
from tests.webhook_support import Receiver, receiving

HALMSTAD = Tenant.municipality("1380")
LEASE_SECONDS = 2.0


@dataclass
class Replica:
    feed: FeedStore
    webhooks: WebhookStore
    deliverer: WebhookDeliverer


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[list[Replica]]:
    """Two gateway replicas' stores and deliverers, each with its own client."""
    outbound = GatewaySettings(
        oidc_issuer="https://idp.invalid/realms/insats",
        gateway_webhook_allow_loopback=True,
        gateway_webhook_poll_seconds=0.02,
        gateway_webhook_backoff_initial_seconds=0.05,
        gateway_webhook_timeout_seconds=0.5,
        gateway_webhook_lease_seconds=LEASE_SECONDS,
    )
    clients = [mongo_client(settings), mongo_client(settings)]
    found = []
    for client in clients:
        db = client.get_database(settings.database_name("gateway"), write_concern=DURABLE)
        feed, webhooks = FeedStore(client, db), WebhookStore(db)
        found.append(Replica(feed, webhooks, WebhookDeliverer(webhooks, feed, outbound)))
    await found[0].feed.ensure_indexes(timedelta(days=1))
    await found[0].webhooks.ensure_indexes()
    try:
        yield found
    finally:
        for replica in found:
            await replica.deliverer.stop(1.0)
        for client in clients:
            await client.close()


def _records(count: int) -> list[StreamRecord]:
    ids = [uuid.uuid4() for _ in range(count)]
    return [
        StreamRecord(HALMSTAD, i, "insats.resident-event.v1", json.dumps({"id": str(i)}), "t:0:0")
        for i in ids
    ]


def _count_claims(replica: Replica) -> list[int]:
    """How often this replica took the lease of a subscription (one counter, in a list)."""
    count = [0]
    claim = replica.webhooks.claim

    async def counted(*args: Any, **kwargs: Any) -> Subscription | None:
        held = await claim(*args, **kwargs)
        count[0] += held is not None
        return held

    replica.webhooks.claim = counted  # type: ignore[method-assign]
    return count


async def _until_taken(receiver: Receiver, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await receiver.taken(count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(receiver.deliveries)} of {count} delivered")
        await asyncio.sleep(0.05)


async def test_two_replicas_send_a_subscription_one_request_at_a_time_each_event_once_in_order(
    replicas: list[Replica],
) -> None:
    records = _records(30)
    with receiving(delay=0.02) as receiver:
        await replicas[0].webhooks.create(
            HALMSTAD, f"{receiver.url}/h", cursor=0, limit=5, now=datetime.now(UTC)
        )
        claims = [_count_claims(replica) for replica in replicas]
        for replica in replicas:
            replica.deliverer.start()
        # Bursts, each stored by one replica or the other, some while the last is still being
        # delivered and some after its deliverer let the lease go.
        for burst, start in enumerate(range(0, len(records), 3)):
            replica = replicas[burst % 2]
            await replica.feed.append(records[start : start + 3])
            replica.deliverer.wake()
            if burst % 3 == 2:
                await _until_taken(receiver, start + 3)
                await asyncio.sleep(0.1)
        await _until_taken(receiver, len(records))
        await asyncio.sleep(0.5)  # anything sent twice would arrive in this time

    assert [d.event_id for d in receiver.deliveries] == [str(r.event_id) for r in records]
    assert {d.attempt for d in receiver.deliveries} == {1}
    assert receiver.most_at_once == 1
    assert all(count[0] > 0 for count in claims), "both replicas delivered some of it"
    [state] = await replicas[1].webhooks.of_tenant(HALMSTAD)
    assert state.cursor == len(records)


async def test_a_subscription_held_by_a_replica_that_died_is_taken_over_when_its_lease_ends(
    replicas: list[Replica],
) -> None:
    [record] = _records(1)
    survivor = replicas[1]
    with receiving() as receiver:
        held = await survivor.webhooks.create(
            HALMSTAD, f"{receiver.url}/h", cursor=0, limit=5, now=datetime.now(UTC)
        )
        await survivor.feed.append([record])
        lease_ends = time.monotonic() + LEASE_SECONDS
        await survivor.webhooks.webhooks.update_one(
            {"_id": held.id},
            {
                "$set": {
                    "lease_owner": "a-replica-that-died",
                    "lease_expires_at": datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS),
                }
            },
        )
        survivor.deliverer.start()
        await _until_taken(receiver, 1)

    [delivery] = receiver.deliveries
    assert delivery.event_id == str(record.event_id)
    assert delivery.at >= lease_ends - 0.1
