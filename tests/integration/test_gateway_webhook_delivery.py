"""Webhook delivery with two gateway replicas on the real database and a real HTTP receiver:
one subscription is sent by one replica at a time, in the feed's order, each event once while
the receiver takes each; a replica that died holding a subscription is taken over once its
lease runs out, not before. A webhook that fails long enough is disabled where it stood and goes
on from there when enabled; the database holds no secret in clear; a registration sent again
under its Idempotency-Key is the one registered the first time."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import pytest
from pydantic import SecretStr

from services.gateway.feed_records import StreamRecord
from services.gateway.feed_store import FeedStore
from services.gateway.settings import GatewaySettings
from services.gateway.webhook_deliverer import WebhookDeliverer
from services.gateway.webhook_secrets import SecretBox, SecretUnreadable
from services.gateway.webhook_store import KeyReused, Subscription, WebhookStore
from shared.contracts.tenants import Tenant
from shared.persistence import DURABLE, mongo_client
from shared.settings import Settings
from tests.webhook_support import Receiver, receiving

HALMSTAD, KUNGSBACKA = Tenant.municipality("1380"), Tenant.municipality("1384")
LEASE_SECONDS = 2.0
BOX = SecretBox(SecretStr("a-test-key-of-at-least-thirty-two-characters"))
THREE_DAYS = 72 * 3_600.0


@dataclass
class Replica:
    feed: FeedStore
    webhooks: WebhookStore
    deliverer: WebhookDeliverer


# The tests' own offset to the deliverers' clock: three days pass in an instant.
CLOCK_OFFSET = [0.0]


def _clock() -> float:
    return time.time() + CLOCK_OFFSET[0]


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[list[Replica]]:
    """Two gateway replicas' stores and deliverers, each with its own client, on a clock the
    test can move forward."""
    CLOCK_OFFSET[0] = 0.0
    outbound = GatewaySettings(
        oidc_issuer="https://idp.invalid/realms/insats",
        gateway_webhook_allow_loopback=True,
        gateway_webhook_poll_seconds=0.02,
        gateway_webhook_backoff_initial_seconds=0.05,
        gateway_webhook_backoff_max_seconds=0.1,
        gateway_webhook_timeout_seconds=0.5,
        gateway_webhook_lease_seconds=LEASE_SECONDS,
        gateway_webhook_disable_after_failures=3,
    )
    clients = [mongo_client(settings), mongo_client(settings)]
    found = []
    for client in clients:
        db = client.get_database(settings.database_name("gateway"), write_concern=DURABLE)
        feed, webhooks = FeedStore(client, db), WebhookStore(db, BOX)
        deliverer = WebhookDeliverer(webhooks, feed, outbound, clock=_clock)
        found.append(Replica(feed, webhooks, deliverer))
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
        held = (
            await survivor.webhooks.create(
                HALMSTAD, f"{receiver.url}/h", cursor=0, limit=5, now=datetime.now(UTC)
            )
        ).subscription
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


async def _eventually_state(
    replica: Replica, wanted: Any, what: str, timeout: float = 30.0
) -> Subscription:
    deadline = time.monotonic() + timeout
    while True:
        [state] = await replica.webhooks.of_tenant(HALMSTAD)
        if wanted(state):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {state}")
        await asyncio.sleep(0.05)


async def test_a_webhook_failing_for_three_days_is_disabled_and_keeps_its_place(
    replicas: list[Replica],
) -> None:
    replica = replicas[0]
    records = _records(2)
    with receiving(failures=10**6) as receiver:
        registered = await replica.webhooks.create(
            HALMSTAD, f"{receiver.url}/h", cursor=0, limit=5, now=datetime.now(UTC)
        )
        await replica.feed.append(records)
        replica.deliverer.start()
        # More failures in a row than the bound, but for less than three days: still tried.
        failing = await _eventually_state(replica, lambda s: s.failures >= 5, "five failures")
        assert not failing.disabled
        assert failing.failing_since is not None

        CLOCK_OFFSET[0] = THREE_DAYS + 1
        disabled = await _eventually_state(replica, lambda s: s.disabled, "never disabled")
        sent = len(receiver.deliveries)
        await asyncio.sleep(0.5)  # a disabled webhook is not tried: nothing more arrives
        assert len(receiver.deliveries) == sent
        assert disabled.cursor == 0, "its place in the feed is kept"
        assert disabled.disabled_at is not None
        assert disabled.disabled_at - failing.failing_since >= timedelta(hours=72)
        assert disabled.disabled_reason is not None
        assert "in a row since" in disabled.disabled_reason
        assert disabled.last_error == "answered 500"

        # Only its own tenant enables it; then it goes on from the entry it failed at.
        assert await replica.webhooks.enable(KUNGSBACKA, registered.subscription.id, _now()) is None
        receiver.failures = 0
        enabled = await replica.webhooks.enable(HALMSTAD, registered.subscription.id, _now())
        assert enabled is not None
        assert (enabled.disabled, enabled.failures, enabled.failing_since) == (False, 0, None)
        assert enabled.cursor == 0
        replica.deliverer.wake()
        await _until_taken(receiver, len(records))

    taken = [d.event_id for d in receiver.deliveries if d.status == 200]
    assert taken == [str(r.event_id) for r in records]
    done = await _eventually_state(replica, lambda s: s.cursor == 2, "the cursor never moved")
    assert (done.failures, done.failing_since, done.last_error) == (0, None, None)


async def test_a_success_resets_the_failures_so_a_webhook_failing_now_and_then_stays_on(
    replicas: list[Replica],
) -> None:
    replica = replicas[0]
    records = _records(2)
    with receiving(failures=4) as receiver:
        await replica.webhooks.create(
            HALMSTAD, f"{receiver.url}/h", cursor=0, limit=5, now=datetime.now(UTC)
        )
        await replica.feed.append(records[:1])
        replica.deliverer.start()
        await _until_taken(receiver, 1)
        taken = await _eventually_state(replica, lambda s: s.cursor == 1, "first never taken")
        assert (taken.failures, taken.failing_since) == (0, None)

        # Three days later the receiver fails again: a fresh run of failures, far from the bound.
        CLOCK_OFFSET[0] = THREE_DAYS + 1
        receiver.failures = len(receiver.deliveries) + 2
        await replica.feed.append(records[1:])
        replica.deliverer.wake()
        await _until_taken(receiver, 2)

    done = await _eventually_state(replica, lambda s: s.cursor == 2, "second never taken")
    assert not done.disabled
    assert [d.status for d in receiver.deliveries] == [500] * 4 + [200] + [500] * 2 + [200]


async def test_the_database_holds_no_webhook_secret_in_clear_nor_one_that_opens_elsewhere(
    replicas: list[Replica],
) -> None:
    store = replicas[0].webhooks
    mine = await store.create(
        HALMSTAD, "https://a.example.se/h", cursor=0, limit=5, now=datetime.now(UTC)
    )
    theirs = await store.create(
        KUNGSBACKA, "https://b.example.se/h", cursor=0, limit=5, now=datetime.now(UTC)
    )

    stored = await store.webhooks.find_one({"_id": mine.subscription.id})
    assert stored is not None
    assert "secret" not in stored
    assert mine.secret.encode() not in bson.encode(stored)
    assert mine.secret not in repr(mine.subscription)
    assert await store.secret(mine.subscription) == mine.secret
    # Another key (a copy of the database elsewhere) opens nothing.
    elsewhere = WebhookStore(replicas[1].webhooks.webhooks.database, _box("another-key"))
    with pytest.raises(SecretUnreadable):
        await elsewhere.secret(mine.subscription)
    # Moved onto another tenant's subscription, a sealed secret does not open there.
    await store.webhooks.update_one(
        {"_id": theirs.subscription.id}, {"$set": {"secret_sealed": stored["secret_sealed"]}}
    )
    [moved] = await store.of_tenant(KUNGSBACKA)
    with pytest.raises(SecretUnreadable):
        await store.secret(moved)


async def test_a_secret_an_earlier_version_stored_in_clear_is_sealed_at_start_and_still_signs(
    replicas: list[Replica],
) -> None:
    store = replicas[0].webhooks
    registered = await store.create(
        HALMSTAD, "https://a.example.se/h", cursor=0, limit=5, now=datetime.now(UTC)
    )
    await store.webhooks.update_one(
        {"_id": registered.subscription.id},
        {"$set": {"secret": "whsec_from-before"}, "$unset": {"secret_sealed": ""}},
    )

    assert await store.seal_clear_secrets() == 1
    assert await replicas[1].webhooks.seal_clear_secrets() == 0

    stored = await store.webhooks.find_one({"_id": registered.subscription.id})
    assert stored is not None
    assert "secret" not in stored
    assert b"whsec_from-before" not in bson.encode(stored)
    [state] = await store.of_tenant(HALMSTAD)
    assert await store.secret(state) == "whsec_from-before"


async def test_registering_again_under_the_same_key_is_the_first_registration_once(
    replicas: list[Replica],
) -> None:
    store = replicas[0].webhooks
    now = datetime.now(UTC)

    async def register(
        tenant: Tenant = HALMSTAD, digest: str = "body-1", key: str = "hook-1"
    ) -> Any:
        return await store.create(
            tenant, "https://a.example.se/h", 0, 2, now, idempotency_key=key, digest=digest
        )

    # Sent five times at once, as a client retrying on a timeout might: one webhook.
    first, *again = await asyncio.gather(*(register() for _ in range(5)))
    assert len(await store.of_tenant(HALMSTAD)) == 1
    assert sum(not r.replayed for r in (first, *again)) == 1
    assert {r.subscription.id for r in again} == {first.subscription.id}
    assert {r.secret for r in again} == {first.secret}
    with pytest.raises(KeyReused):
        await register(digest="body-2")
    # At the limit, the same registration is still answered, not refused.
    await register(key="hook-2")
    replay = await register()
    assert replay.replayed
    assert replay.subscription.id == first.subscription.id
    # Another organisation's same key is its own registration.
    theirs = await register(tenant=KUNGSBACKA)
    assert not theirs.replayed
    assert theirs.subscription.id != first.subscription.id


def _box(key: str) -> SecretBox:
    return SecretBox(SecretStr(key * 8))


def _now() -> datetime:
    return datetime.fromtimestamp(_clock(), UTC)
