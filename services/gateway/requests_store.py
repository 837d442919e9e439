"""The gateway's memory of each request: its idempotency key, the event it became, and where
that event went on the broker. Kept for INSATS_GATEWAY_REQUEST_RETENTION_DAYS (a TTL index)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.contracts.tenants import Tenant
from shared.expiry import ensure_expiry

# Event ids of requests are derived from the tenant and its idempotency key: the same request
# sent again is the very same event, which every service deduplicates even if the gateway's
# own record of it was lost.
_REQUEST_NAMESPACE = uuid.UUID("0b6b7f4e-3c55-4f0e-9a43-6a8f4a1f2d27")


def request_event_id(tenant: Tenant, idempotency_key: str) -> uuid.UUID:
    return uuid.uuid5(_REQUEST_NAMESPACE, f"{tenant.key}/{idempotency_key}")


@dataclass(frozen=True)
class StoredRequest:
    event_id: uuid.UUID
    tenant: Tenant
    event_type: str
    digest: str
    received_at: datetime
    topic: str | None
    origin: str | None  # topic:partition:offset, once the broker has it

    @property
    def published(self) -> bool:
        return self.origin is not None


class RequestStore:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.requests = collection

    async def ensure_indexes(self, retention: timedelta) -> None:
        await ensure_expiry(self.requests, "received_at", retention)

    async def claim(
        self, tenant: Tenant, key: str, event_type: str, digest: str, now: datetime
    ) -> StoredRequest:
        """The request under this key: the one stored before, or this one, now stored."""
        event_id = request_event_id(tenant, key)
        document = {
            "_id": str(event_id),
            "tenant": tenant.key,
            "type": event_type,
            "digest": digest,
            "received_at": now,
            "topic": None,
            "origin": None,
        }
        try:
            await self.requests.insert_one(document)
        except DuplicateKeyError:
            found = await self.requests.find_one({"_id": str(event_id)})
            if found is not None:
                return _stored(found)
        return _stored(document)

    async def published(self, event_id: uuid.UUID, topic: str, origin: str) -> None:
        await self.requests.update_one(
            {"_id": str(event_id)}, {"$set": {"topic": topic, "origin": origin}}
        )

    async def find(self, tenant: Tenant, event_id: uuid.UUID) -> StoredRequest | None:
        """A request of this tenant's; another tenant's is as unknown as one never made."""
        found = await self.requests.find_one({"_id": str(event_id), "tenant": tenant.key})
        return _stored(found) if found is not None else None


def _stored(document: dict[str, Any]) -> StoredRequest:
    return StoredRequest(
        event_id=uuid.UUID(document["_id"]),
        tenant=Tenant.from_key(document["tenant"]),
        event_type=document["type"],
        digest=document["digest"],
        received_at=document["received_at"],
        topic=document.get("topic"),
        origin=document.get("origin"),
    )
