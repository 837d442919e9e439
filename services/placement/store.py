"""Placement's collections. The programme document is the point every change to a programme's
places or queue writes to, so concurrent handlers on one programme serialise on it (a write
conflict makes one of them retry with the other's result) instead of both filling the same place.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, DeleteOne, UpdateOne

from services.placement.domain import ActivePlacement, AgreementPlaces, ProgrammeBook, WaitingEntry
from shared.contracts.municipal import PartnerRegistered, PriorityRule, ProgrammeDefined
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.contracts.vocabulary import ActivityType
from shared.persistence import ServiceDatabase


class PlacementStore:
    def __init__(self, db: ServiceDatabase) -> None:
        self.programmes = db.collection("programmes")
        self.partners = db.collection("partners")
        self.waiting = db.collection("waiting")
        self.placements = db.collection("placements")

    async def ensure_indexes(self) -> None:
        await self.waiting.create_index(
            [
                ("programme_id", ASCENDING),
                ("priority", ASCENDING),
                ("referral_date", ASCENDING),
                ("enrolled_at", ASCENDING),
                ("participant_id", ASCENDING),
            ]
        )
        await self.placements.create_index([("participant_id", ASCENDING)])
        await self.placements.create_index([("programme_id", ASCENDING), ("status", ASCENDING)])
        await self.placements.create_index([("partner_id", ASCENDING), ("status", ASCENDING)])

    async def load_books(
        self, programme_ids: Iterable[str], queue_depth: int, session: Any
    ) -> dict[str, ProgrammeBook]:
        ids = sorted(set(programme_ids))
        docs = {
            doc["_id"]: doc
            for doc in await self.programmes.find({"_id": {"$in": ids}}, session=session).to_list()
        }
        books = {}
        for programme_id in ids:
            doc = docs.get(programme_id, {})
            definition = (
                ProgrammeDefined.model_validate(doc["definition"])
                if doc.get("definition")
                else None
            )
            capacity = definition.capacity if definition else 0
            waiting = (
                await self.waiting.find({"programme_id": programme_id}, session=session)
                .sort(
                    [
                        ("priority", ASCENDING),
                        ("referral_date", ASCENDING),
                        ("enrolled_at", ASCENDING),
                        ("participant_id", ASCENDING),
                    ]
                )
                .limit(capacity + queue_depth)
                .to_list()
            )
            books[programme_id] = ProgrammeBook(
                programme_id=programme_id,
                definition=definition,
                agreements={
                    key: _agreement(value) for key, value in doc.get("agreements", {}).items()
                },
                active=doc.get("active", 0),
                waiting=[_entry(item) for item in waiting],
                waiting_total=doc.get("waiting_total", 0),
            )
        return books

    async def save_books(self, books: Iterable[ProgrammeBook], session: Any) -> None:
        for book in books:
            rule = book.rule
            await self.programmes.update_one(
                {"_id": book.programme_id},
                {
                    "$set": {
                        "definition": book.definition.model_dump(mode="json")
                        if book.definition
                        else None,
                        "active": book.active,
                        "waiting_total": book.waiting_total,
                        "agreements": {
                            key: _agreement_doc(value) for key, value in book.agreements.items()
                        },
                    },
                    # Touched on every change, so concurrent changes to one programme conflict.
                    "$inc": {"version": 1},
                },
                upsert=True,
                session=session,
            )
            operations: list[Any] = [
                UpdateOne(
                    {"_id": _waiting_id(entry)},
                    {"$set": _entry_doc(entry, rule)},
                    upsert=True,
                )
                for entry in book.added_to_queue
            ]
            operations += [
                DeleteOne({"_id": _waiting_id(entry)}) for entry in book.removed_from_queue
            ]
            if operations:
                await self.waiting.bulk_write(operations, session=session)
            book.added_to_queue.clear()
            book.removed_from_queue.clear()

    async def reprioritise(self, programme_id: str, rule: PriorityRule, session: Any) -> None:
        """A changed priority rule re-ranks everyone already waiting."""
        if rule is PriorityRule.INCOME_SUPPORT_FIRST:
            await self.waiting.update_many(
                {"programme_id": programme_id, "income_support": True},
                {"$set": {"priority": 0}},
                session=session,
            )
        else:
            await self.waiting.update_many(
                {"programme_id": programme_id}, {"$set": {"priority": 1}}, session=session
            )

    async def save_partners(self, partners: Iterable[PartnerRegistered], session: Any) -> None:
        operations = [
            UpdateOne({"_id": p.partner_id}, {"$set": p.model_dump(mode="json")}, upsert=True)
            for p in partners
        ]
        if operations:
            await self.partners.bulk_write(operations, session=session)

    async def load_placements(
        self, placement_ids: Iterable[str], session: Any
    ) -> dict[str, tuple[ActivePlacement, WaitingEntry]]:
        found = await self.placements.find(
            {"_id": {"$in": list(set(placement_ids))}}, session=session
        ).to_list()
        return {doc["_id"]: (_placement(doc), _entry(doc["entry"])) for doc in found}

    async def record_placements(
        self,
        started: list[tuple[PlacementStarted, WaitingEntry]],
        ended: list[PlacementEnded],
        session: Any,
    ) -> None:
        operations: list[Any] = [
            UpdateOne(
                {"_id": placement.placement_id},
                {
                    "$setOnInsert": {
                        **placement.model_dump(mode="json", exclude={"decision"}),
                        "status": "active",
                        "entry": _entry_doc(entry, PriorityRule.REFERRAL_DATE),
                    }
                },
                upsert=True,
            )
            for placement, entry in started
        ]
        operations += [
            UpdateOne(
                {"_id": end.placement_id},
                {
                    "$set": {
                        "status": "ended",
                        "end_date": end.end_date.isoformat(),
                        "end_reason": end.reason.value,
                    }
                },
            )
            for end in ended
        ]
        if operations:
            await self.placements.bulk_write(operations, session=session)


def _waiting_id(entry: WaitingEntry) -> str:
    return f"{entry.programme_id}:{entry.participant_id}"


def _entry_doc(entry: WaitingEntry, rule: PriorityRule) -> dict[str, Any]:
    return {
        "programme_id": entry.programme_id,
        "participant_id": entry.participant_id,
        "municipality": entry.municipality,
        "income_support": entry.income_support,
        "referral_date": entry.referral_date.isoformat(),
        "enrolled_at": entry.enrolled_at,
        "priority": entry.rank(rule)[0],
    }


def _entry(doc: dict[str, Any]) -> WaitingEntry:
    enrolled_at: datetime = doc["enrolled_at"]
    return WaitingEntry(
        participant_id=doc["participant_id"],
        programme_id=doc["programme_id"],
        municipality=doc["municipality"],
        income_support=doc["income_support"],
        referral_date=date.fromisoformat(doc["referral_date"]),
        enrolled_at=enrolled_at,
    )


def _agreement(doc: dict[str, Any]) -> AgreementPlaces:
    return AgreementPlaces(
        agreement_id=doc["agreement_id"],
        partner_id=doc["partner_id"],
        places=doc["places"],
        activities=[ActivityType(a) for a in doc["activities"]],
        period_start=date.fromisoformat(doc["period_start"]),
        period_end=date.fromisoformat(doc["period_end"]),
        active=doc.get("active", 0),
    )


def _agreement_doc(agreement: AgreementPlaces) -> dict[str, Any]:
    return {
        "agreement_id": agreement.agreement_id,
        "partner_id": agreement.partner_id,
        "places": agreement.places,
        "activities": [a.value for a in agreement.activities],
        "period_start": agreement.period_start.isoformat(),
        "period_end": agreement.period_end.isoformat(),
        "active": agreement.active,
    }


def _placement(doc: dict[str, Any]) -> ActivePlacement:
    return ActivePlacement(
        placement_id=doc["_id"],
        participant_id=doc["participant_id"],
        programme_id=doc["programme_id"],
        partner_id=doc["partner_id"],
        agreement_id=doc["agreement_id"],
        municipality=doc["municipality"],
        activity=ActivityType(doc["activity"]),
        start_date=date.fromisoformat(doc["start_date"]),
        status=doc["status"],
    )
