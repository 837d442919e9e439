"""Webhook subscriptions: where each tenant's feed is delivered, how far it got, and which
replica delivers it now.

A subscription's `cursor` is the last feed number delivered (or skipped as expired); it moves
only after the receiver answered 2xx. While a replica delivers a subscription it holds the
subscription's lease (`lease_owner` until `lease_expires_at`), and every write it makes names
itself as the owner: a replica whose lease another has taken over writes nothing and stops, so
at most one replica sends a subscription's events at a time, in order.

The signing secret is stored sealed (webhook_secrets.py), never in clear. A subscription
registered under an Idempotency-Key has an id derived from its tenant and key, so a registration
sent again finds the first one, even if it was cut short after the insert. One that kept failing
is disabled, not deleted: its cursor stays, and once enabled again it goes on from there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.gateway.webhook_secrets import SecretBox, SecretUnreadable
from services.gateway.webhook_signature import new_secret
from shared.contracts.tenants import Tenant

Document = dict[str, Any]
_NEVER = datetime.min.replace(tzinfo=UTC)
_ERROR_CHARS = 200
# Not the requests' namespace (requests_store.py): a webhook's key and an event's key are
# different requests even where a tenant chose the same string for both.
_WEBHOOK_NAMESPACE = uuid.UUID("5d0c1f7a-92b4-4e63-8a1e-3f6b2c9d4e80")


class LimitReached(Exception):
    """The tenant has as many subscriptions as a tenant may."""


class KeyReused(Exception):
    """The Idempotency-Key registered another webhook (another URL or starting point)."""


class WebhooksOff(Exception):
    """No key to seal secrets with (INSATS_GATEWAY_SECRET_KEY): no webhook is registered."""


def webhook_id(tenant: Tenant, idempotency_key: str) -> str:
    return str(uuid.uuid5(_WEBHOOK_NAMESPACE, f"{tenant.key}/{idempotency_key}"))


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant: Tenant
    url: str
    sealed_secret: bytes
    created_at: datetime
    cursor: int
    # The feed number the attempts count refers to: a new entry starts again at 1.
    attempt_seq: int | None
    attempts: int
    # Failed attempts since the last success, whichever entries they were of.
    failures: int
    next_attempt_at: datetime
    failing_since: datetime | None
    last_error: str | None
    disabled_at: datetime | None
    disabled_reason: str | None
    # What the registration asked for, where it had an Idempotency-Key: a digest of the body.
    request_digest: str | None
    # Stored by a gateway version before secrets were sealed, until it is sealed.
    clear_secret: str | None = field(default=None, repr=False)

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class Registered:
    subscription: Subscription
    secret: str
    replayed: bool  # registered before under the same key: this is that one


@dataclass(frozen=True)
class Due:
    """A subscription that may be delivered now, if its tenant's feed has gone past `cursor`."""

    id: str
    tenant: Tenant
    cursor: int


class WebhookStore:
    def __init__(self, db: AsyncDatabase[Document], box: SecretBox | None) -> None:
        self.webhooks = db["webhooks"]
        self._box = box

    @property
    def sealing(self) -> bool:
        """Whether webhooks are on: there is a key to seal and open their secrets with."""
        return self._box is not None

    async def ensure_indexes(self) -> None:
        # A tenant's subscriptions take numbered slots: the unique index makes the limit hold
        # even when two registrations race, without a transaction.
        await self.webhooks.create_index([("tenant", ASCENDING), ("slot", ASCENDING)], unique=True)
        await self.webhooks.create_index([("next_attempt_at", ASCENDING)])

    async def create(
        self,
        tenant: Tenant,
        url: str,
        cursor: int,
        limit: int,
        now: datetime,
        *,
        idempotency_key: str | None = None,
        digest: str | None = None,
    ) -> Registered:
        """A new subscription delivering the tenant's entries after `cursor`, with its secret;
        or, for a key used before with the same digest, the one registered then."""
        box = self._sealer()
        keyed = idempotency_key is not None
        subscription_id = (
            str(uuid.uuid4()) if idempotency_key is None else webhook_id(tenant, idempotency_key)
        )
        if keyed and (found := await self._registered(subscription_id, tenant, digest)):
            return found
        secret = new_secret()
        for _ in range(limit + 1):
            used = {
                int(doc["slot"])
                async for doc in self.webhooks.find({"tenant": tenant.key}, {"slot": 1})
            }
            free = [slot for slot in range(limit) if slot not in used]
            if not free:
                raise LimitReached
            document: Document = {
                "_id": subscription_id,
                "tenant": tenant.key,
                "slot": free[0],
                "url": url,
                # Kept to sign with, sealed; never listed, never logged.
                "secret_sealed": box.seal(secret, subscription_id, tenant),
                "request_digest": digest if keyed else None,
                "created_at": now,
                "cursor": cursor,
                "attempt_seq": None,
                "attempts": 0,
                "failures": 0,
                "next_attempt_at": now,
                "failing_since": None,
                "last_error": None,
                "disabled_at": None,
                "disabled_reason": None,
                "lease_owner": None,
                "lease_expires_at": _NEVER,
            }
            try:
                await self.webhooks.insert_one(document)
            except DuplicateKeyError:
                # The same key registered at the same moment, or another registration took the
                # slot meanwhile: the first is answered as a replay, the second looks again.
                if keyed and (found := await self._registered(subscription_id, tenant, digest)):
                    return found
                continue
            return Registered(_subscription(document), secret, replayed=False)
        raise LimitReached

    async def _registered(
        self, subscription_id: str, tenant: Tenant, digest: str | None
    ) -> Registered | None:
        found = await self.webhooks.find_one({"_id": subscription_id, "tenant": tenant.key})
        if found is None:
            return None
        if found.get("request_digest") != digest:
            raise KeyReused
        held = _subscription(found)
        return Registered(held, await self.secret(held), replayed=True)

    async def secret(self, held: Subscription) -> str:
        """The subscription's signing secret, opened; SecretUnreadable if it does not open
        (the gateway's key is not the one it was sealed under)."""
        box = self._sealer()
        if held.sealed_secret:
            return box.open(held.sealed_secret, held.id, held.tenant)
        if held.clear_secret is None:
            raise SecretUnreadable("no secret stored")
        # Stored by an older replica during a rolling upgrade: sealed now that it is met.
        await self._seal(held.id, held.tenant, held.clear_secret)
        return held.clear_secret

    async def seal_clear_secrets(self) -> int:
        """Seal every secret an earlier version stored in clear, and remove the clear one; how
        many were sealed. Safe beside other replicas doing the same: each is sealed once."""
        self._sealer()
        sealed = 0
        async for doc in self.webhooks.find(
            {"secret": {"$exists": True}}, {"secret": 1, "tenant": 1}
        ):
            tenant = Tenant.from_key(str(doc["tenant"]))
            sealed += await self._seal(str(doc["_id"]), tenant, str(doc["secret"]))
        return sealed

    async def _seal(self, subscription_id: str, tenant: Tenant, clear: str) -> int:
        result = await self.webhooks.update_one(
            {"_id": subscription_id, "secret": clear},
            {
                "$set": {"secret_sealed": self._sealer().seal(clear, subscription_id, tenant)},
                "$unset": {"secret": ""},
            },
        )
        return result.modified_count

    def _sealer(self) -> SecretBox:
        if self._box is None:
            raise WebhooksOff
        return self._box

    async def of_tenant(self, tenant: Tenant) -> list[Subscription]:
        found = await self.webhooks.find({"tenant": tenant.key}).sort("created_at", 1).to_list()
        return [_subscription(doc) for doc in found]

    async def enable(
        self, tenant: Tenant, subscription_id: str, now: datetime
    ) -> Subscription | None:
        """A disabled subscription enabled again, tried at once from its cursor with its failure
        count reset (else the next failure would disable it again at once); one enabled already
        is left as it is. None if the tenant has no such subscription."""
        found = await self.webhooks.find_one_and_update(
            {"_id": subscription_id, "tenant": tenant.key, "disabled_at": {"$ne": None}},
            {
                "$set": {
                    "disabled_at": None,
                    "disabled_reason": None,
                    "failing_since": None,
                    "failures": 0,
                    "next_attempt_at": now,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if found is None:
            found = await self.webhooks.find_one({"_id": subscription_id, "tenant": tenant.key})
        return _subscription(found) if found is not None else None

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
                "failures": 0,
                "failing_since": None,
                "last_error": None,
            },
        )

    async def passed(self, held: Subscription, owner: str, seq: int) -> Subscription | None:
        """The cursor past entries that expired from the feed undelivered: no receiver took
        them, so a failing subscription is still failing."""
        return await self._update(
            held.id, owner, {"cursor": seq, "attempt_seq": None, "attempts": 0}
        )

    async def failed(
        self,
        held: Subscription,
        owner: str,
        error: str,
        retry_at: datetime,
        now: datetime,
        *,
        disabled_reason: str | None = None,
    ) -> None:
        """One more failed attempt; with a reason, the subscription is disabled as well."""
        changes: Document = {
            "next_attempt_at": retry_at,
            "failures": held.failures + 1,
            "failing_since": held.failing_since or now,
            "last_error": error[:_ERROR_CHARS],
        }
        if disabled_reason is not None:
            changes |= {"disabled_at": now, "disabled_reason": disabled_reason[:_ERROR_CHARS]}
        await self._update(held.id, owner, changes)

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
        "disabled_at": None,
        "next_attempt_at": {"$lte": now},
        "$or": [{"lease_owner": owner}, {"lease_expires_at": {"$lt": now}}],
    }


def _subscription(doc: Document) -> Subscription:
    return Subscription(
        id=str(doc["_id"]),
        tenant=Tenant.from_key(str(doc["tenant"])),
        url=str(doc["url"]),
        sealed_secret=bytes(doc.get("secret_sealed") or b""),
        created_at=doc["created_at"],
        cursor=int(doc["cursor"]),
        attempt_seq=doc.get("attempt_seq"),
        attempts=int(doc.get("attempts", 0)),
        failures=int(doc.get("failures", 0)),
        next_attempt_at=doc["next_attempt_at"],
        failing_since=doc.get("failing_since"),
        last_error=doc.get("last_error"),
        disabled_at=doc.get("disabled_at"),
        disabled_reason=doc.get("disabled_reason"),
        request_digest=doc.get("request_digest"),
        clear_secret=doc.get("secret"),
    )
