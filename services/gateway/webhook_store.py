"""Webhook subscriptions: where each tenant's feed is delivered, how far it got, and which
replica delivers it now.

A subscription's `cursor` is the last feed number delivered (or skipped as expired); it moves
only after the receiver answered 2xx. While a replica delivers a subscription it holds the
subscription's lease (`lease_owner` until `lease_expires_at`), and every write it makes names
itself as the owner: a replica whose lease another has taken over writes nothing and stops, so
at most one replica sends a subscription's events at a time, in order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.gateway.webhook_signature import new_secret
from shared.contracts.tenants import Tenant

Document = dict[str, Any]
_NEVER = datetime.min.replace(tzinfo=UTC)
_ERROR_CHARS = 200


class LimitReached(Exception):
    """The tenant has as many subscriptions as a tenant may."""


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant: Tenant
    url: str
    secret: str
    created_at: datetime
    cursor: int
    # The feed number the attempts count refers to: a new entry starts again at 1.
    attempt_seq: int | None
    attempts: int
    next_attempt_at: datetime
    failing_since: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Due:
    """A subscription that may be delivered now, if its tenant's feed has gone past `cursor`."""

    id: str
    tenant: Tenant
    cursor: int


class WebhookStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.webhooks = db["webhooks"]

    async def ensure_indexes(self) -> None:
        # A tenant's subscriptions take numbered slots: the unique index makes the limit hold
        # even when two registrations race, without a transaction.
        await self.webhooks.create_index([("tenant", ASCENDING), ("slot", ASCENDING)], unique=True)
        await self.webhooks.create_index([("next_attempt_at", ASCENDING)])

    async def create(
        self, tenant: Tenant, url: str, cursor: int, limit: int, now: datetime
    ) -> Subscription:
        """A new subscription delivering the tenant's entries after `cursor`, with its secret."""
        for _ in range(limit + 1):
            used = {
                int(doc["slot"])
                async for doc in self.webhooks.find({"tenant": tenant.key}, {"slot": 1})
            }
            free = [slot for slot in range(limit) if slot not in used]
            if not free:
                raise LimitReached
            document: Document = {
                "_id": str(uuid.uuid4()),
                "tenant": tenant.key,
                "slot": free[0],
                "url": url,
                # Kept to sign with; never listed, never logged.
                "secret": new_secret(),
                "created_at": now,
                "cursor": cursor,
                "attempt_seq": None,
                "attempts": 0,
                "next_attempt_at": now,
                "failing_since": None,
                "last_error": None,
                "lease_owner": None,
                "lease_expires_at": _NEVER,
            }
            try:
                await self.webhooks.insert_one(document)
            except DuplicateKeyError:
                continue  # another registration took the slot meanwhile: look again
            return _subscription(document)
        raise LimitReached

    async def of_tenant(self, tenant: Tenant) -> list[Subscription]:
        found = await self.webhooks.find({"tenant": tenant.key}).sort("created_at", 1).to_list()
        return [_subscription(doc) for doc in found]

    async def delete(self, tenant: Tenant, subscription_id: str) -> bool:
        """Another tenant's subscription is as unknown as one that never was."""
        result = await self.webhooks.delete_one({"_id": subscription_id, "tenant": tenant.key})
        return result.deleted_count == 1

    async def due(self, owner: str, now: datetime) -> list[Due]:
        """Every subscription whose next attempt is due and that no other replica holds, longest
        waiting first. All of them, not the first few: most have nothing new at any moment, and
        a limit would let those hide the ones that have (a few bytes each, read once a poll)."""
        found = (
            await self.webhooks.find(_claimable(owner, now), {"tenant": 1, "cursor": 1})
            .sort("next_attempt_at", 1)
            .to_list()
        )
        return [
            Due(str(doc["_id"]), Tenant.from_key(str(doc["tenant"])), int(doc["cursor"]))
            for doc in found
        ]

    async def claim(
        self, subscription_id: str, owner: str, now: datetime, until: datetime
    ) -> Subscription | None:
        found = await self.webhooks.find_one_and_update(
            {"_id": subscription_id, **_claimable(owner, now)},
            {"$set": {"lease_owner": owner, "lease_expires_at": until}},
            return_document=ReturnDocument.AFTER,
        )
        return _subscription(found) if found is not None else None

    async def attempting(
        self, held: Subscription, owner: str, seq: int, attempt: int, until: datetime
    ) -> Subscription | None:
        """Count the attempt before it is made (a crash mid-delivery still counts it), and hold
        the lease for it. None if the lease was lost or the subscription deleted."""
        return await self._update(
            held.id,
            owner,
            {"attempt_seq": seq, "attempts": attempt, "lease_expires_at": until},
        )

    async def delivered(self, held: Subscription, owner: str, seq: int) -> Subscription | None:
        return await self._update(
            held.id,
            owner,
            {
                "cursor": seq,
                "attempt_seq": None,
                "attempts": 0,
                "failing_since": None,
                "last_error": None,
            },
        )

    async def failed(
        self, held: Subscription, owner: str, error: str, retry_at: datetime, now: datetime
    ) -> None:
        await self._update(
            held.id,
            owner,
            {
                "next_attempt_at": retry_at,
                "failing_since": held.failing_since or now,
                "last_error": error[:_ERROR_CHARS],
            },
        )

    async def release(self, subscription_id: str, owner: str) -> None:
        """Let any replica take the subscription at its next attempt."""
        await self.webhooks.update_one(
            {"_id": subscription_id, "lease_owner": owner},
            {"$set": {"lease_owner": None, "lease_expires_at": _NEVER}},
        )

    async def _update(
        self, subscription_id: str, owner: str, changes: Document
    ) -> Subscription | None:
        found = await self.webhooks.find_one_and_update(
            {"_id": subscription_id, "lease_owner": owner},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )
        return _subscription(found) if found is not None else None


def _claimable(owner: str, now: datetime) -> Document:
    return {
        "next_attempt_at": {"$lte": now},
        "$or": [{"lease_owner": owner}, {"lease_expires_at": {"$lt": now}}],
    }


def _subscription(doc: Document) -> Subscription:
    return Subscription(
        id=str(doc["_id"]),
        tenant=Tenant.from_key(str(doc["tenant"])),
        url=str(doc["url"]),
        secret=str(doc["secret"]),
        created_at=doc["created_at"],
        cursor=int(doc["cursor"]),
        attempt_seq=doc.get("attempt_seq"),
        attempts=int(doc.get("attempts", 0)),
        next_attempt_at=doc["next_attempt_at"],
        failing_since=doc.get("failing_since"),
        last_error=doc.get("last_error"),
    )
