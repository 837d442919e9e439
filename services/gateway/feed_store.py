"""Each tenant's feed: its stream's events in the order the gateway stored them, numbered.

One entry per (tenant, event id): a record delivered again is recognised and not stored twice.
Each tenant's entries carry a sequence number `seq` (1, 2, 3, ...) that callers page by.

The number comes from a counter document per tenant, incremented in the same transaction as the
entries are inserted. Two replicas storing the same tenant's events at once (each has some of
its topic's partitions) both write that counter, so the database lets only one of them commit
and the other retries with the counter as the first left it. Hence every number is given once,
and the numbers become visible in increasing order: no transaction can commit seq 7 while seq 6
is still uncommitted, so a reader that has seen 7 will never later find a 6 it skipped. A number
taken by a transaction that then aborted is never seen, as the counter's increment aborts too;
so a tenant's feed has no gaps but those the retention leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

from services.gateway.feed_records import StreamRecord
from shared.contracts.tenants import Tenant
from shared.expiry import ensure_expiry
from shared.persistence import DURABLE, is_duplicate_key, is_infrastructure_error

Document = dict[str, Any]
# Conflicts between replicas, and a duplicate found only at insert, are settled by trying the
# whole batch again; the consumer backs off beyond these.
_ATTEMPTS = 8


@dataclass(frozen=True)
class FeedEntry:
    seq: int
    event_id: str
    event_type: str
    value: str  # the envelope as published
    stored_at: datetime


def _entry_id(tenant: Tenant, event_id: str) -> str:
    return f"{tenant.key}/{event_id}"


# Also told, in the transaction that stores them, of the entries just stored (the portal's
# views, which outlive the feed's retention).
AlsoStored = Callable[[Sequence[Document], AsyncClientSession], Awaitable[None]]


class FeedStore:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        also: AlsoStored | None = None,
    ) -> None:
        self.client = client
        self.feed = db["feed"]
        self.also = also
        # Never expire: a counter that started again would give numbers callers have seen.
        self.counters = db["feed_counters"]

    async def ensure_indexes(self, retention: timedelta) -> None:
        # Pages are read by (tenant, seq); unique, so a number can never be given twice even if
        # the counter's reasoning above were wrong.
        await self.feed.create_index([("tenant", ASCENDING), ("seq", ASCENDING)], unique=True)
        await ensure_expiry(self.feed, "stored_at", retention)

    async def append(self, records: Sequence[StreamRecord]) -> int:
        """Store the records not stored before, in order; how many were new."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self.client.start_session() as session:
                    stored: int = await session.with_transaction(
                        lambda s: self._append(records, s),
                        read_concern=ReadConcern("snapshot"),
                        write_concern=DURABLE,
                        max_commit_time_ms=30_000,
                    )
                    return stored
            except Exception as error:
                retry = is_duplicate_key(error) or is_infrastructure_error(error)
                if not retry or attempt == _ATTEMPTS:
                    raise
                await asyncio.sleep(0.02 * attempt)
        raise AssertionError("unreachable")

    async def _append(self, records: Sequence[StreamRecord], session: AsyncClientSession) -> int:
        ids = [_entry_id(r.tenant, str(r.event_id)) for r in records]
        known = {
            doc["_id"]
            async for doc in self.feed.find({"_id": {"$in": ids}}, {"_id": 1}, session=session)
        }
        fresh: dict[Tenant, list[tuple[str, StreamRecord]]] = {}
        for entry_id, record in zip(ids, records, strict=True):
            if entry_id not in known:
                known.add(entry_id)  # the same event twice within one batch
                fresh.setdefault(record.tenant, []).append((entry_id, record))
        now = datetime.now(UTC)
        documents: list[Document] = []
        for tenant, entries in fresh.items():
            counter = await self.counters.find_one_and_update(
                {"_id": tenant.key},
                {"$inc": {"seq": len(entries)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            assert counter is not None  # upserted
            first = int(counter["seq"]) - len(entries) + 1
            documents.extend(
                {
                    "_id": entry_id,
                    "tenant": tenant.key,
                    "seq": first + index,
                    "type": record.event_type,
                    "value": record.value,
                    "origin": record.origin,
                    "stored_at": now,
                }
                for index, (entry_id, record) in enumerate(entries)
            )
        if documents:
            await self.feed.insert_many(documents, ordered=True, session=session)
            if self.also is not None:
                await self.also(documents, session)
        return len(documents)

    async def page(self, tenant: Tenant, after: int, limit: int) -> list[FeedEntry]:
        """The tenant's entries numbered above `after`, oldest first, at most `limit`."""
        found = (
            await self.feed.find({"tenant": tenant.key, "seq": {"$gt": after}})
            .sort("seq", ASCENDING)
            .limit(limit)
            .to_list()
        )
        return [_entry(doc) for doc in found]

    async def heads(self, tenants: Sequence[Tenant]) -> dict[Tenant, int]:
        """The last number given to each tenant's entries (0 for none yet)."""
        keys = {tenant.key: tenant for tenant in tenants}
        found = await self.counters.find({"_id": {"$in": list(keys)}}).to_list()
        heads = dict.fromkeys(tenants, 0)
        heads.update({keys[doc["_id"]]: int(doc["seq"]) for doc in found})
        return heads


def _entry(doc: Document) -> FeedEntry:
    stored_at: datetime = doc["stored_at"]
    return FeedEntry(
        seq=int(doc["seq"]),
        event_id=str(doc["_id"]).rpartition("/")[2],
        event_type=str(doc["type"]),
        value=str(doc["value"]),
        stored_at=stored_at,
    )
