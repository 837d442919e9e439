"""What the portal's pages are folded from, kept as long as what it is about: per organisation,
the recent events of each placement (a partner's) and each resident (a municipality's).

The feed keeps a tenant's stream only for its retention (30 days by default), so pages folded
from it would lose a resident referred two months ago or a placement without news for a month.
So each event the feed stores for the portal's pages is also filed under its subject, in the
same transaction: the latest `KEPT_PER_SUBJECT` events of each, until the subject goes (a
participant erased, a placement withdrawn), when its document is deleted, so the portal forgets
them as the services do. A page reads one document per subject, not the whole stream.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, DeleteOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.portal.views import PARTNER_NOTICE, PARTNER_PLACEMENT, RESIDENT_EVENT
from shared.contracts.tenants import Tenant

Document = dict[str, Any]
KEPT_PER_SUBJECT = 200
# A page folds the most recently active subjects' events, at most this many subjects and, so that
# a page's memory stays bounded (a few hundred MB at the worst), about this many events.
MOST_SUBJECTS = 20_000
MOST_EVENTS = 200_000
_SHOWN_TYPES = frozenset({PARTNER_PLACEMENT, PARTNER_NOTICE, RESIDENT_EVENT})
_ERASED = "insats.participant.erased.v1"
_NOT_A_RESIDENT = frozenset({"insats.referral.rejected.v1", "insats.referral.rejected.v2"})


@dataclass(frozen=True)
class Filed:
    """Where an event goes: the subject it is kept under, or, with `forget`, the subject whose
    events are deleted (it is gone)."""

    subject: str
    forget: bool = False


def filed_under(event: Document) -> Filed | None:
    """The subject a stream's event is kept under for the portal; None if no page shows it."""
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    kind = event.get("type")
    if kind == PARTNER_PLACEMENT and isinstance(placement := data.get("placement_id"), str):
        # An update without a status withdraws the placement: its person was erased.
        return Filed(f"placement:{placement}", forget=data.get("status") is None)
    if kind == PARTNER_NOTICE and isinstance(placement := data.get("placement_id"), str):
        return Filed(f"placement:{placement}")
    if kind == RESIDENT_EVENT and isinstance(subject := data.get("subject_id"), str):
        source = data.get("source_type")
        if source in _NOT_A_RESIDENT:
            return None
        return Filed(f"resident:{subject}", forget=source == _ERASED)
    return None


class PortalViews:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.subjects: AsyncCollection[Document] = db["portal_subjects"]
        self.marks: AsyncCollection[Document] = db["portal_marks"]

    async def ensure_indexes(self) -> None:
        await self.subjects.create_index([("tenant", ASCENDING), ("last_seq", DESCENDING)])

    async def file(self, entries: Sequence[Document], session: AsyncClientSession | None) -> None:
        """File feed entries ({tenant, seq, type, value}) under their subjects, in seq order."""
        grouped: dict[str, tuple[str, list[Document]]] = {}
        forgotten: set[str] = set()
        for entry in sorted(entries, key=lambda e: (e["tenant"], e["seq"])):
            if entry.get("type") not in _SHOWN_TYPES:
                continue  # answers and notices no page shows: not parsed on the feed's path
            try:
                event = json.loads(entry["value"])
            except (ValueError, TypeError):
                continue
            where = filed_under(event) if isinstance(event, dict) else None
            if where is None:
                continue
            key = f"{entry['tenant']}|{where.subject}"
            if where.forget:
                # What came before goes with it; anything after starts the subject anew.
                grouped.pop(key, None)
                forgotten.add(key)
                continue
            grouped.setdefault(key, (entry["tenant"], []))[1].append(
                {"seq": entry["seq"], "value": entry["value"]}
            )
        writes: list[UpdateOne | DeleteOne] = [DeleteOne({"_id": key}) for key in forgotten]
        for key, (tenant, events) in grouped.items():
            writes.append(
                UpdateOne(
                    {"_id": key},
                    {
                        "$set": {"tenant": tenant},
                        "$max": {"last_seq": events[-1]["seq"]},
                        "$push": {
                            "events": {
                                "$each": events,
                                "$sort": {"seq": 1},
                                "$slice": -KEPT_PER_SUBJECT,
                            }
                        },
                    },
                    upsert=True,
                )
            )
        if writes:
            await self.subjects.bulk_write(writes, ordered=True, session=session)

    async def file_the_feed(self, feed: AsyncCollection[Document], batch: int = 2_000) -> int:
        """Once, when the views begin (a gateway of an earlier version, or the portal turned
        on later): what the feed still holds, filed as if it had just come. Another replica
        doing the same at once files entries twice, which reading leaves out."""
        if await self.marks.find_one({"_id": "filed-from-feed"}) is not None:
            return 0
        filed = 0
        cursor = feed.find({}, {"tenant": 1, "seq": 1, "type": 1, "value": 1}).sort(
            [("tenant", ASCENDING), ("seq", ASCENDING)]
        )
        chunk: list[Document] = []
        async for entry in cursor:
            chunk.append(entry)
            if len(chunk) == batch:
                await self.file(chunk, None)
                filed, chunk = filed + len(chunk), []
        if chunk:
            await self.file(chunk, None)
            filed += len(chunk)
        await self.marks.update_one(
            {"_id": "filed-from-feed"}, {"$set": {"done": True}}, upsert=True
        )
        return filed

    async def stream(self, tenant: Tenant) -> list[Document]:
        """The tenant's kept events, oldest first: what its pages fold."""
        cursor = (
            self.subjects.find({"tenant": tenant.key}, {"events": 1})
            .sort("last_seq", DESCENDING)
            .limit(MOST_SUBJECTS)
        )
        # Keyed by seq: an entry filed twice (two replicas filing the feed at once) counts once.
        kept: dict[int, Document] = {}
        async for doc in cursor:
            kept.update((int(e["seq"]), e) for e in doc.get("events", []))
            if len(kept) >= MOST_EVENTS:
                break
        events: list[Document] = []
        for _, event in sorted(kept.items()):
            try:
                document = json.loads(event["value"])
            except (ValueError, TypeError):
                continue
            if isinstance(document, dict):
                events.append(document)
        return events
