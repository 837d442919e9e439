"""Outcomes' read models: journeys per participant and programme, follow-up answers, counters.

Updates are upserts on separate fields, so the result does not depend on the order in which the
three services' topics happen to be consumed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from pymongo import ASCENDING, UpdateOne

from services.outcomes.domain import Journey
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import ProgrammeDefined
from shared.contracts.outcomes import OutcomeRecorded
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.contracts.vocabulary import FollowUpPoint, OutcomeStatus
from shared.persistence import ServiceDatabase


def journey_id(programme_id: str, participant_id: str) -> str:
    return f"{programme_id}:{participant_id}"


class OutcomesStore:
    def __init__(self, db: ServiceDatabase) -> None:
        self.programmes = db.collection("programmes")
        self.journeys = db.collection("journeys")
        self.outcomes = db.collection("outcomes")
        self.referrals = db.collection("referral_counts")

    async def ensure_indexes(self) -> None:
        await self.journeys.create_index([("programme_id", ASCENDING)])
        await self.journeys.create_index([("participant_id", ASCENDING)])
        await self.outcomes.create_index([("participant_id", ASCENDING)])

    async def save_programmes(self, definitions: Iterable[ProgrammeDefined], session: Any) -> None:
        operations = [
            UpdateOne(
                {"_id": d.programme_id},
                {"$set": {"definition": d.model_dump(mode="json")}},
                upsert=True,
            )
            for d in definitions
        ]
        if operations:
            await self.programmes.bulk_write(operations, session=session)

    async def apply(self, operations: list[Any], session: Any) -> None:
        if operations:
            await self.journeys.bulk_write(operations, ordered=True, session=session)

    async def count_rejections(self, counts: dict[str, int], session: Any) -> None:
        operations = [
            UpdateOne({"_id": programme}, {"$inc": {"rejected": n}}, upsert=True)
            for programme, n in counts.items()
        ]
        if operations:
            await self.referrals.bulk_write(operations, session=session)

    async def save_outcomes(self, recorded: list[OutcomeRecorded], session: Any) -> None:
        operations = [
            UpdateOne(
                {"_id": o.outcome_id},
                {"$set": o.model_dump(mode="json")},
                upsert=True,
            )
            for o in recorded
        ]
        if operations:
            await self.outcomes.bulk_write(operations, session=session)

    # --- reads for reports -------------------------------------------------------------------

    async def programme_definitions(self) -> list[ProgrammeDefined]:
        docs = await self.programmes.find({}).sort("_id", ASCENDING).to_list()
        return [
            ProgrammeDefined.model_validate(d["definition"]) for d in docs if d.get("definition")
        ]

    async def journeys_of(self, programme_id: str) -> list[Journey]:
        docs = await self.journeys.find({"programme_id": programme_id}).to_list()
        return [_journey(doc) for doc in docs]

    async def rejected_referrals(self, programme_id: str) -> int:
        doc = await self.referrals.find_one({"_id": programme_id})
        return int(doc.get("rejected", 0)) if doc else 0


def enrolled_update(event: ParticipantEnrolled) -> UpdateOne:
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id)},
        {
            "$set": {
                "programme_id": event.programme_id,
                "participant_id": event.participant_id,
                "enrolled": True,
                "municipality": event.municipality,
                "gender": event.gender.value,
                "birth_year": event.birth_year,
                "age_at_referral": event.age_at_referral,
                "income_support": event.income_support,
                "target_groups": [g.value for g in event.target_groups],
                "referral_date": event.referral_date.isoformat(),
            }
        },
        upsert=True,
    )


def placement_started_update(event: PlacementStarted) -> UpdateOne:
    start = event.start_date.isoformat()
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id)},
        {
            "$set": {
                "programme_id": event.programme_id,
                "participant_id": event.participant_id,
                f"placements.{event.placement_id}.partner_id": event.partner_id,
                f"placements.{event.placement_id}.activity": event.activity.value,
                f"placements.{event.placement_id}.start_date": start,
            },
            "$min": {"first_placement": start},
        },
        upsert=True,
    )


def placement_ended_update(event: PlacementEnded) -> UpdateOne:
    fields: dict[str, Any] = {
        "programme_id": event.programme_id,
        "participant_id": event.participant_id,
        f"placements.{event.placement_id}.end_date": event.end_date.isoformat(),
        f"placements.{event.placement_id}.end_reason": event.reason.value,
    }
    update: dict[str, Any] = {"$set": fields}
    if event.exits_programme:
        fields["exited"] = True
        update["$max"] = {"exit_date": event.end_date.isoformat()}
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id)}, update, upsert=True
    )


def outcome_update(event: OutcomeRecorded) -> UpdateOne:
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id)},
        {
            "$set": {
                "programme_id": event.programme_id,
                "participant_id": event.participant_id,
                f"outcomes.{event.follow_up.value}": {
                    "status": event.status.value,
                    "income_support": event.income_support,
                    "source": event.source.value,
                    "observed_on": event.observed_on.isoformat(),
                },
            }
        },
        upsert=True,
    )


def _journey(doc: dict[str, Any]) -> Journey:
    def as_date(value: str | None) -> date | None:
        return date.fromisoformat(value) if value else None

    return Journey(
        programme_id=doc["programme_id"],
        participant_id=doc["participant_id"],
        enrolled=bool(doc.get("enrolled")),
        municipality=doc.get("municipality"),
        referral_date=as_date(doc.get("referral_date")),
        first_placement=as_date(doc.get("first_placement")),
        exited=bool(doc.get("exited")),
        exit_date=as_date(doc.get("exit_date")),
        outcomes={
            FollowUpPoint(point): OutcomeStatus(value["status"])
            for point, value in (doc.get("outcomes") or {}).items()
        },
    )
