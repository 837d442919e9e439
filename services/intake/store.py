"""Intake's collections: its copy of the programmes, participants by pseudonym, and the decision
on every referral."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne

from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import ProgrammeDefined
from shared.persistence import ServiceDatabase


class IntakeStore:
    def __init__(self, db: ServiceDatabase) -> None:
        self.programmes = db.collection("programmes")
        self.participants = db.collection("participants")
        self.referrals = db.collection("referrals")

    async def ensure_indexes(self) -> None:
        await self.referrals.create_index([("participant_id", ASCENDING)])
        await self.referrals.create_index([("decision", ASCENDING), ("programme_id", ASCENDING)])

    async def save_programmes(self, definitions: Iterable[ProgrammeDefined], session: Any) -> None:
        operations = [
            UpdateOne(
                {"_id": definition.programme_id},
                {"$set": {"definition": definition.model_dump(mode="json")}},
                upsert=True,
            )
            for definition in definitions
        ]
        if operations:
            await self.programmes.bulk_write(operations, session=session)

    async def load_programmes(
        self, ids: Iterable[str], session: Any
    ) -> dict[str, ProgrammeDefined]:
        found = await self.programmes.find(
            {"_id": {"$in": list(set(ids))}}, session=session
        ).to_list()
        return {doc["_id"]: ProgrammeDefined.model_validate(doc["definition"]) for doc in found}

    async def enrolled_programmes(
        self, participant_ids: Iterable[str], session: Any
    ) -> dict[str, set[str]]:
        found = await self.participants.find(
            {"_id": {"$in": list(set(participant_ids))}},
            {"enrolments.programme_id": 1},
            session=session,
        ).to_list()
        return {
            doc["_id"]: {item["programme_id"] for item in doc.get("enrolments", [])}
            for doc in found
        }

    async def record(
        self,
        enrolments: list[ParticipantEnrolled],
        decisions: list[dict[str, Any]],
        now: datetime,
        session: Any,
    ) -> None:
        participant_ops = [
            UpdateOne(
                {"_id": enrolled.participant_id},
                {
                    "$setOnInsert": {
                        "birth_year": enrolled.birth_year,
                        "gender": enrolled.gender.value,
                        "first_seen": now,
                    },
                    "$set": {"last_event_at": now},
                    "$push": {
                        "enrolments": {
                            "programme_id": enrolled.programme_id,
                            "referral_id": enrolled.referral_id,
                            "municipality": enrolled.municipality,
                            "referral_date": enrolled.referral_date.isoformat(),
                        }
                    },
                },
                upsert=True,
            )
            for enrolled in enrolments
        ]
        if participant_ops:
            await self.participants.bulk_write(participant_ops, session=session)
        referral_ops = [
            UpdateOne({"_id": decision["_id"]}, {"$set": decision}, upsert=True)
            for decision in decisions
        ]
        if referral_ops:
            await self.referrals.bulk_write(referral_ops, session=session)
