"""Outcomes' read models: journeys per participant and programme, follow-ups, partners and their
agreements, follow-up answers, counters.

Updates are upserts on separate fields, so the result does not depend on the order in which the
services' topics happen to be consumed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, UpdateOne

from services.outcomes.anonymous import anonymous_journey
from services.outcomes.domain import (
    NO_FOLLOW_UP,
    FollowUp,
    Journey,
    Outcome,
    Partner,
    Placement,
    PlannedStep,
    follow_up_id,
    follow_up_schedule,
    participation_key,
)
from shared.contracts.intake import (
    ParticipantEnrolled,
    ParticipantMoved,
    ParticipationExited,
    PlanAdopted,
    SpecialCategoriesRecorded,
)
from shared.contracts.municipal import (
    AgreementSigned,
    ContributionDelivered,
    CostReported,
    PartnerRegistered,
    ProgrammeDefined,
)
from shared.contracts.outcomes import OutcomeRecorded
from shared.contracts.placement import (
    PlacementChanged,
    PlacementEnded,
    PlacementStarted,
    SupportTaskOpened,
)
from shared.contracts.plans import EmploymentKind, PlanStep, StepKind, StepStatus
from shared.contracts.vocabulary import (
    ActivityType,
    EducationLevel,
    EndReason,
    ExitReason,
    FollowUpPoint,
    Gender,
    LabourMarketStatus,
    OutcomeSource,
    OutcomeStatus,
    TargetGroup,
)
from shared.observability import get_logger
from shared.persistence import StateDatabase

log = get_logger(__name__)

# The collections that are read models, i.e. what a rebuild replaces.
READ_MODELS = (
    "programmes",
    "journeys",
    "outcomes",
    "referral_counts",
    "partners",
    "agreements",
    "follow_ups",
    "merges",
    "costs",
    "deliveries",
)


# An erased person's mark is kept while events about them may still be read from outcomes' input
# topics: without a bound, as long as the store (topics kept whole for rebuilds keep them
# forever); a deployment whose input topics delete records sets the bound to their retention.
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


def _erasure_mark(participant_id: str) -> str:
    return hashlib.sha256(f"insats-erased/{participant_id}".encode()).hexdigest()


def journey_id(programme_id: str, participant_id: str, participation: int = 1) -> str:
    return f"{programme_id}:{participation_key(participant_id, participation)}"


class OutcomesStore:
    def __init__(
        self,
        db: StateDatabase,
        *,
        erasure_mark_days: int | None = None,
        reissue_redirect_days: int = 31,
    ) -> None:
        self.db = db
        self.erasure_mark_lifetime = (
            timedelta(days=erasure_mark_days) if erasure_mark_days is not None else None
        )
        self.reissue_redirect_lifetime = timedelta(days=reissue_redirect_days)
        self.programmes = db.collection("programmes")
        self.journeys = db.collection("journeys")
        self.outcomes = db.collection("outcomes")
        self.referrals = db.collection("referral_counts")
        self.partners = db.collection("partners")
        self.agreements = db.collection("agreements")
        self.follow_ups = db.collection("follow_ups")
        # The programmes' accounts: costs reported and contributions delivered, by report id.
        self.costs = db.collection("costs")
        self.deliveries = db.collection("deliveries")
        # Participants merged into another (two numbers, one person): old id -> remaining id.
        # A reissued id's redirect (`until`) lasts only while records under the old id may
        # still arrive: that id was a keyed hash of the person's number.
        self.merges = db.collection("merges")
        # Short-lived marks of erased participants (a hash, not the id), so events about them
        # still in flight on other topics are not folded into new journeys after the erasure.
        self.erasures = db.collection("erasures")

    async def ensure_indexes(self) -> None:
        await self.merges.create_index([("until", ASCENDING)], expireAfterSeconds=0)
        await self.journeys.create_index([("programme_id", ASCENDING)])
        await self.journeys.create_index([("participant_id", ASCENDING)])
        await self.outcomes.create_index([("participant_id", ASCENDING)])
        await self.follow_ups.create_index([("open", ASCENDING), ("due_date", ASCENDING)])
        await self.follow_ups.create_index([("programme_id", ASCENDING)])

    async def owners_of(self, collection: str, ids: Iterable[str], session: Any) -> dict[str, str]:
        """The tenant that owns each programme or partner (the first to define it)."""
        found = (
            await self.db.collection(collection)
            .find({"_id": {"$in": sorted(set(ids))}}, {"owner": 1}, session=session)
            .to_list()
        )
        return {doc["_id"]: doc["owner"] for doc in found if doc.get("owner")}

    async def save_programmes(
        self, definitions: Iterable[tuple[ProgrammeDefined, str]], session: Any
    ) -> None:
        operations = [
            UpdateOne(
                {"_id": d.programme_id},
                {"$set": {"definition": d.model_dump(mode="json"), "owner": owner}},
                upsert=True,
            )
            for d, owner in definitions
        ]
        if operations:
            await self.programmes.bulk_write(operations, session=session)

    async def save_partners(
        self, partners: Iterable[tuple[PartnerRegistered, str]], session: Any
    ) -> None:
        operations = [
            UpdateOne(
                {"_id": p.partner_id},
                {"$set": {**p.model_dump(mode="json"), "owner": owner}},
                upsert=True,
            )
            for p, owner in partners
        ]
        if operations:
            await self.partners.bulk_write(operations, session=session)

    async def claim_partners(self, owners: dict[str, str], session: Any) -> None:
        operations = [
            UpdateOne({"_id": partner_id}, {"$set": {"owner": owner}}, upsert=True)
            for partner_id, owner in owners.items()
        ]
        if operations:
            await self.partners.bulk_write(operations, session=session)

    async def save_agreements(
        self, agreements: Iterable[tuple[AgreementSigned, str]], session: Any
    ) -> None:
        operations = [
            UpdateOne(
                {"_id": a.agreement_id},
                {"$set": {"definition": a.model_dump(mode="json"), "signed_by": signer}},
                upsert=True,
            )
            for a, signer in agreements
        ]
        if operations:
            await self.agreements.bulk_write(operations, session=session)

    async def save_reports(
        self, collection: str, reports: Iterable[tuple[str, Any, str]], session: Any
    ) -> None:
        """Costs or deliveries by sender and report id (a report sent again replaces the
        earlier one; another tenant's report of the same id is another report), with the tenant
        that sent it: they count only if that is the programme's owner."""
        operations = [
            UpdateOne(
                {"_id": f"{tenant}/{report_id}"},
                {"$set": {"report": report.model_dump(mode="json"), "reported_by": tenant}},
                upsert=True,
            )
            for report_id, report, tenant in reports
        ]
        if operations:
            await self.db.collection(collection).bulk_write(operations, session=session)

    async def apply(self, operations: list[Any], session: Any) -> None:
        if operations:
            await self.journeys.bulk_write(operations, ordered=True, session=session)

    async def apply_follow_ups(self, operations: list[Any], session: Any) -> None:
        if operations:
            await self.follow_ups.bulk_write(operations, ordered=True, session=session)

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

    # --- erasure and consent -----------------------------------------------------------------

    async def erased_among(self, participant_ids: Iterable[str], session: Any) -> set[str]:
        marks = {pid: _erasure_mark(pid) for pid in set(participant_ids)}
        if not marks:
            return set()
        query = {"_id": {"$in": list(marks.values())}}
        found = {doc["_id"] for doc in await self.erasures.find(query, session=session).to_list()}
        return {pid for pid, mark in marks.items() if mark in found}

    async def anonymise(self, participant_id: str, now: datetime, session: Any) -> None:
        """Keep what the indicators count, under a random id no one can link to the person. Every
        record of the person gets the same random id, so counts of people stay right."""
        token = f"erased-{uuid.uuid4().hex}"
        for collection in (self.journeys, self.outcomes, self.follow_ups):
            mine = {"participant_id": participant_id}
            for doc in await collection.find(mine, session=session).to_list():
                if collection is self.journeys:
                    new_id = journey_id(doc["programme_id"], token, doc.get("participation", 1))
                    replacement = anonymous_journey(doc, token, new_id)
                elif collection is self.outcomes:
                    new_id = f"erased-{uuid.uuid4().hex}"
                    replacement = {
                        **doc,
                        "_id": new_id,
                        "participant_id": token,
                        "outcome_id": None,
                    }
                else:
                    # No one is left to contact: closed, but counted where it had fallen due.
                    new_id = f"erased-{uuid.uuid4().hex}"
                    replacement = {**doc, "_id": new_id, "participant_id": token, "open": False}
                await collection.delete_one({"_id": doc["_id"]}, session=session)
                await collection.insert_one(replacement, session=session)
        # Ids merged into the person are the person: marked as erased too, and forgotten.
        merged = await self.merges.find({"into": participant_id}, session=session).to_list()
        await self.merges.delete_many({"into": participant_id}, session=session)
        for pid in (participant_id, *(doc["_id"] for doc in merged)):
            await self.erasures.update_one(
                {"_id": _erasure_mark(pid)},
                {"$set": {"until": self._erasure_mark_until(now)}},
                upsert=True,
                session=session,
            )

    async def merged_into(self, participant_ids: Iterable[str], session: Any) -> dict[str, str]:
        """For each id that was merged into another participant, the remaining one."""
        unique = sorted(set(participant_ids))
        if not unique:
            return {}
        found = await self.merges.find({"_id": {"$in": unique}}, session=session).to_list()
        return {doc["_id"]: doc["into"] for doc in found}

    async def merge(
        self, old: str, new: str, session: Any, *, reissued_at: datetime | None = None
    ) -> None:
        """Two participants were one: the old one's journeys, follow-ups and outcomes are the
        new one's, under the ids they would have had (their programmes are not the new one's;
        intake merges only then), and later events under the old id are redirected."""

        def journey_key(doc: dict[str, Any]) -> str:
            return journey_id(doc["programme_id"], new, int(doc.get("participation", 1)))

        def follow_up_key(doc: dict[str, Any]) -> str:
            return follow_up_id(
                doc["programme_id"],
                new,
                FollowUpPoint(doc["point"]),
                int(doc.get("participation", 1)),
            )

        for collection, key in ((self.journeys, journey_key), (self.follow_ups, follow_up_key)):
            for doc in await collection.find({"participant_id": old}, session=session).to_list():
                new_id = key(doc)
                if await collection.find_one({"_id": new_id}, {"_id": 1}, session=session):
                    # Both were in this programme: intake never merges those, so this is an
                    # event no one should have sent; the old record stays as it was.
                    log.warning("merge would overwrite a record", collection=collection.name)
                    continue
                await collection.delete_one({"_id": doc["_id"]}, session=session)
                await collection.insert_one(
                    {**doc, "_id": new_id, "participant_id": new}, session=session
                )
        await self.outcomes.update_many(
            {"participant_id": old}, {"$set": {"participant_id": new}}, session=session
        )
        await self.merges.update_many({"into": old}, {"$set": {"into": new}}, session=session)
        redirect: dict[str, Any] = {"into": new}
        if reissued_at is not None:
            redirect["until"] = reissued_at + self.reissue_redirect_lifetime
        await self.merges.update_one({"_id": old}, {"$set": redirect}, upsert=True, session=session)

    def _erasure_mark_until(self, now: datetime) -> datetime:
        return now + self.erasure_mark_lifetime if self.erasure_mark_lifetime else FOREVER

    async def forget_old_erasure_marks(self, now: datetime) -> None:
        await self.erasures.delete_many({"until": {"$lt": now}})

    async def withdraw_follow_up_contact(self, ids: Iterable[str], session: Any) -> None:
        """No more follow-up contact: open follow-ups close, and later ones are never opened."""
        unique = list(set(ids))
        if not unique:
            return
        await self.journeys.update_many(
            {"participant_id": {"$in": unique}},
            {"$set": {"follow_up_contact_withdrawn": True}},
            session=session,
        )
        await self.follow_ups.update_many(
            {"participant_id": {"$in": unique}, "open": True},
            {"$set": {"open": False, "contact_withdrawn": True}},
            session=session,
        )

    async def contact_withdrawn_among(self, ids: Iterable[str], session: Any) -> set[str]:
        query = {"participant_id": {"$in": list(set(ids))}, "follow_up_contact_withdrawn": True}
        found = await self.journeys.find(query, {"participant_id": 1}, session=session).to_list()
        return {doc["participant_id"] for doc in found}

    # --- follow-ups falling due ----------------------------------------------------------------

    async def due_follow_ups(
        self,
        today: date,
        points: Mapping[str, Sequence[FollowUpPoint]],
        session: Any,
        limit: int,
    ) -> list[FollowUp]:
        """Open follow-ups due by `today` at the points each programme asks for."""
        query = _open_and_due(today, points)
        if query is None:
            return []
        docs = (
            await self.follow_ups.find(query, session=session)
            .sort("_id", ASCENDING)
            .limit(limit)
            .to_list()
        )
        return [_follow_up(doc) for doc in docs]

    async def count_due(self, today: date, points: Mapping[str, Sequence[FollowUpPoint]]) -> int:
        """How many due follow-ups wait to be announced."""
        query = _open_and_due(today, points)
        return 0 if query is None else await self.follow_ups.count_documents(query)

    async def mark_emitted(self, ids: list[str], at: datetime, session: Any) -> int:
        if not ids:
            return 0
        result = await self.follow_ups.update_many(
            {"_id": {"$in": ids}, "open": True},
            {"$set": {"emitted": True, "emitted_at": at, "open": False}},
            session=session,
        )
        return result.modified_count

    async def mark_emitted_from_history(self, ids: Iterable[str]) -> None:
        """A rebuild learns from the outcomes topic which follow-ups were already announced."""
        operations = [
            UpdateOne(
                {"_id": fid},
                {"$set": {"emitted": True, "open": False}, "$setOnInsert": {"answered": False}},
                upsert=True,
            )
            for fid in ids
        ]
        if operations:
            await self.follow_ups.bulk_write(operations)

    # --- reads for reports -------------------------------------------------------------------

    async def programme_definitions(self) -> list[ProgrammeDefined]:
        docs = await self.programmes.find({}).sort("_id", ASCENDING).to_list()
        return [
            ProgrammeDefined.model_validate(d["definition"]) for d in docs if d.get("definition")
        ]

    async def journeys_of(self, programme_id: str) -> list[Journey]:
        """The programme's journeys that count: an erroneous registration is in none."""
        docs = await self.journeys.find(
            {"programme_id": programme_id, "erroneous": {"$ne": True}}
        ).to_list()
        return [journey_from_document(doc) for doc in docs]

    async def rejected_referrals(self, programme_id: str) -> int:
        doc = await self.referrals.find_one({"_id": programme_id})
        return int(doc.get("rejected", 0)) if doc else 0

    async def follow_ups_of(self, programme_id: str) -> list[FollowUp]:
        docs = await self.follow_ups.find(
            {"programme_id": programme_id, "cancelled": {"$ne": True}}
        ).to_list()
        return [_follow_up(doc) for doc in docs if doc.get("point")]

    async def partner_directory(self) -> dict[str, Partner]:
        docs = [d for d in await self.partners.find({}).to_list() if d.get("name")]
        return {
            d["_id"]: Partner(
                d["_id"], str(d.get("name") or d["_id"]), d.get("kind"), d.get("municipality")
            )
            for d in docs
        }

    async def _owners_reports(self, collection: str, programme_id: str) -> list[dict[str, Any]]:
        programme = await self.programmes.find_one({"_id": programme_id}, {"owner": 1})
        owner = programme.get("owner") if programme else None
        docs = (
            await self.db.collection(collection)
            .find({"report.programme_id": programme_id})
            .sort("_id", ASCENDING)
            .to_list()
        )
        return [d["report"] for d in docs if owner is not None and d.get("reported_by") == owner]

    async def costs_of(self, programme_id: str) -> list[CostReported]:
        """The programme's costs as its owner reported them (anyone else's are passed over)."""
        return [
            CostReported.model_validate(d)
            for d in await self._owners_reports("costs", programme_id)
        ]

    async def deliveries_of(self, programme_id: str) -> list[ContributionDelivered]:
        return [
            ContributionDelivered.model_validate(d)
            for d in await self._owners_reports("deliveries", programme_id)
        ]

    async def agreement_list(self) -> list[AgreementSigned]:
        """Agreements as they count: signed by the owner of their programme (one signed by
        someone else before the programme was defined never counted)."""
        docs = await self.agreements.find({}).sort("_id", ASCENDING).to_list()
        owners = {
            doc["_id"]: doc.get("owner")
            for doc in await self.programmes.find({}, {"owner": 1}).to_list()
        }
        return [
            AgreementSigned.model_validate(d["definition"])
            for d in docs
            if d.get("signed_by") is None
            or owners.get(d["definition"]["programme_id"]) in (None, d["signed_by"])
        ]

    async def journey_municipalities(
        self, keys: Iterable[tuple[str, str]], session: Any
    ) -> dict[tuple[str, str], dict[int, str]]:
        """For each (programme, participant) with journeys: each enrolment's home municipality,
        by participation."""
        wanted = set(keys)
        if not wanted:
            return {}
        found = await self.journeys.find(
            {
                "programme_id": {"$in": sorted({programme for programme, _ in wanted})},
                "participant_id": {"$in": sorted({participant for _, participant in wanted})},
                "enrolled": True,
            },
            {"programme_id": 1, "participant_id": 1, "municipality": 1, "participation": 1},
            session=session,
        ).to_list()
        homes: dict[tuple[str, str], dict[int, str]] = {}
        for doc in found:
            key = (doc["programme_id"], doc["participant_id"])
            if key in wanted:
                participation = int(doc.get("participation", 1))
                homes.setdefault(key, {})[participation] = doc.get("municipality", "")
        return homes


# --- updates, one per event ------------------------------------------------------------------


def _keys(event: Any) -> dict[str, Any]:
    """What names the journey (or follow-up) an event is about, stored with it."""
    return {
        "programme_id": event.programme_id,
        "participant_id": event.participant_id,
        "participation": event.participation,
    }


def enrolled_update(event: ParticipantEnrolled) -> UpdateOne:
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                "enrolled": True,
                "municipality": event.municipality,
                "gender": event.gender.value,
                "birth_year": event.birth_year,
                "age_at_referral": event.age_at_referral,
                "income_support": event.income_support,
                "target_groups": [g.value for g in event.target_groups],
                "referral_date": event.referral_date.isoformat(),
                "labour_market_status": _value(event.labour_market_status),
                "education_level": _value(event.education_level),
            }
        },
        upsert=True,
    )


def special_categories_update(event: SpecialCategoriesRecorded) -> UpdateOne:
    """Kept apart from the enrolment's target groups, so neither overwrites the other whatever
    the order they arrive in."""
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                "special_target_groups": [g.value for g in event.target_groups],
            }
        },
        upsert=True,
    )


def moved_update(event: ParticipantMoved) -> UpdateOne:
    """The journey's home municipality from the move on; each move kept by its date, so a
    figure can place the person where they lived on any day."""
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                "municipality": event.to_municipality,
                f"moves.{event.moved_on.isoformat()}": {
                    "from": event.from_municipality,
                    "to": event.to_municipality,
                },
            }
        },
        upsert=True,
    )


def support_task_update(event: SupportTaskOpened) -> UpdateOne:
    """Each support task by its id, so a task seen twice is one."""
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                f"support_tasks.{event.task_id}": event.opened_on.isoformat(),
            }
        },
        upsert=True,
    )


def _hours_key(day: date, placement_id: str) -> str:
    """Hours by day, then placement: the keys sort in date order."""
    return f"hours.{day.isoformat()}_{placement_id}"


def hours_changed_update(event: PlacementChanged) -> UpdateOne | None:
    """A change of weekly hours, kept by its day (a change reported again is the same one)."""
    if event.change != "hours_changed" or event.hours_per_week is None:
        return None
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                _hours_key(event.on, event.placement_id): event.hours_per_week,
            }
        },
        upsert=True,
    )


def plan_adopted_update(event: PlanAdopted) -> UpdateOne:
    """The plan's latest revision replaces the one before (intake passes on only newer ones,
    in order, on the participant's partition)."""
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                "plan_revision": event.plan.revision,
                "plan_steps": [
                    {
                        "step_id": step.step_id,
                        "kind": step.kind.value,
                        "status": step.status.value,
                        "employment": step.employment.kind.value if step.employment else None,
                        "started_on": _iso_or_none(step.started_on),
                        **_employment_terms(step),
                    }
                    for step in event.plan.steps
                ],
            }
        },
        upsert=True,
    )


def _employment_terms(step: PlanStep) -> dict[str, Any]:
    employment = step.employment
    if employment is None:
        return {}
    return {
        "decided_on": employment.decision_date.isoformat(),
        "employer_id": employment.employer_id,
        "wage_share": employment.wage_share,
    }


def _iso_or_none(day: date | None) -> str | None:
    return day.isoformat() if day else None


def placement_started_update(event: PlacementStarted) -> UpdateOne:
    start = event.start_date.isoformat()
    hours = (
        {_hours_key(event.start_date, event.placement_id): event.hours_per_week}
        if event.hours_per_week is not None
        else {}
    )
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                f"placements.{event.placement_id}.partner_id": event.partner_id,
                f"placements.{event.placement_id}.activity": event.activity.value,
                f"placements.{event.placement_id}.start_date": start,
                f"placements.{event.placement_id}.plan_step_id": event.plan_step_id,
                **hours,
            },
            "$min": {"first_placement": start},
        },
        upsert=True,
    )


def exited_update(event: ParticipationExited) -> UpdateOne:
    """An exit the caseworker recorded, at any point of the journey. An erroneous registration
    is kept, marked, so that every figure leaves it out whatever arrives about it later."""
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                "exited": True,
                "exit_reason": event.reason.value,
                "erroneous": event.reason is ExitReason.ERRONEOUS_REGISTRATION,
            },
            "$max": {"exit_date": event.exited_on.isoformat()},
        },
        upsert=True,
    )


def follow_ups_on_exit(event: ParticipationExited) -> list[UpdateOne]:
    """Every follow-up point gets its due date, as at a placement's end; but no one follows up
    a person who has died or a registration that never should have been: those are cancelled,
    and stay so if the exit's placement end arrives after."""
    if event.reason not in NO_FOLLOW_UP:
        return _follow_ups(
            event.programme_id,
            event.participant_id,
            event.municipality,
            event.exited_on,
            event.participation,
        )
    return [
        UpdateOne(
            {
                "_id": follow_up_id(
                    event.programme_id, event.participant_id, point, event.participation
                )
            },
            {
                "$set": {
                    **_keys(event),
                    "point": point.value,
                    "municipality": event.municipality,
                    "exit_date": event.exited_on.isoformat(),
                    "due_date": due.isoformat(),
                    "open": False,
                    "cancelled": True,
                },
                "$setOnInsert": {"emitted": False, "answered": False},
            },
            upsert=True,
        )
        for point, due in follow_up_schedule(event.exited_on).items()
    ]


def placement_ended_update(event: PlacementEnded) -> UpdateOne:
    fields: dict[str, Any] = {
        **_keys(event),
        f"placements.{event.placement_id}.partner_id": event.partner_id,
        f"placements.{event.placement_id}.start_date": event.start_date.isoformat(),
        f"placements.{event.placement_id}.end_date": event.end_date.isoformat(),
        f"placements.{event.placement_id}.end_reason": event.reason.value,
        f"placements.{event.placement_id}.plan_step_id": event.plan_step_id,
    }
    update: dict[str, Any] = {"$set": fields}
    if event.exits_programme:
        fields["exited"] = True
        fields["exit_end_reason"] = event.reason.value
        update["$max"] = {"exit_date": event.end_date.isoformat()}
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        update,
        upsert=True,
    )


def follow_ups_scheduled(event: PlacementEnded) -> list[UpdateOne]:
    """At exit, every follow-up point gets its due date. `open` only ever goes from true to
    false (announced or answered), so an answer that arrives first is never reopened."""
    if not event.exits_programme:
        return []
    return _follow_ups(
        event.programme_id,
        event.participant_id,
        event.municipality,
        event.end_date,
        event.participation,
    )


def _follow_ups(
    programme_id: str,
    participant_id: str,
    municipality: str,
    exit_date: date,
    participation: int,
) -> list[UpdateOne]:
    return [
        UpdateOne(
            {"_id": follow_up_id(programme_id, participant_id, point, participation)},
            {
                "$set": {
                    "programme_id": programme_id,
                    "participant_id": participant_id,
                    "participation": participation,
                    "point": point.value,
                    "municipality": municipality,
                    "exit_date": exit_date.isoformat(),
                    "due_date": due.isoformat(),
                },
                "$setOnInsert": {"open": True, "emitted": False, "answered": False},
            },
            upsert=True,
        )
        for point, due in follow_up_schedule(exit_date).items()
    ]


def follow_up_answered(event: OutcomeRecorded) -> UpdateOne:
    return UpdateOne(
        {
            "_id": follow_up_id(
                event.programme_id, event.participant_id, event.follow_up, event.participation
            )
        },
        {
            "$set": {
                **_keys(event),
                "point": event.follow_up.value,
                "answered": True,
                "answered_on": event.observed_on.isoformat(),
                "open": False,
            },
            "$setOnInsert": {"emitted": False},
        },
        upsert=True,
    )


def outcome_update(event: OutcomeRecorded) -> UpdateOne:
    return UpdateOne(
        {"_id": journey_id(event.programme_id, event.participant_id, event.participation)},
        {
            "$set": {
                **_keys(event),
                f"outcomes.{event.follow_up.value}": {
                    "status": event.status.value,
                    "income_support": event.income_support,
                    "source": event.source.value,
                    "observed_on": event.observed_on.isoformat(),
                    "employment_months": event.employment_months,
                    "municipal_labour_market_job": event.municipal_labour_market_job,
                    "studies_with_student_aid": event.studies_with_student_aid,
                },
            }
        },
        upsert=True,
    )


# --- documents to domain objects -------------------------------------------------------------


def _open_and_due(
    today: date, points: Mapping[str, Sequence[FollowUpPoint]]
) -> dict[str, Any] | None:
    asked = [
        {"programme_id": programme, "point": {"$in": [p.value for p in wanted]}}
        for programme, wanted in points.items()
        if wanted
    ]
    if not asked:
        return None
    return {"open": True, "due_date": {"$lte": today.isoformat()}, "$or": asked}


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def journey_from_document(doc: dict[str, Any]) -> Journey:
    placements = tuple(
        Placement(
            placement_id=pid,
            partner_id=p.get("partner_id"),
            activity=ActivityType(p["activity"]) if p.get("activity") else None,
            start_date=_date(p.get("start_date")),
            end_date=_date(p.get("end_date")),
            end_reason=EndReason(p["end_reason"]) if p.get("end_reason") else None,
            plan_step_id=p.get("plan_step_id"),
        )
        for pid, p in sorted((doc.get("placements") or {}).items())
    )
    outcomes = {
        FollowUpPoint(point): Outcome(
            status=OutcomeStatus(value["status"]),
            income_support=value.get("income_support"),
            observed_on=_date(value.get("observed_on")),
            source=OutcomeSource(value["source"]) if value.get("source") else None,
            employment_months=value.get("employment_months"),
            municipal_labour_market_job=value.get("municipal_labour_market_job"),
            studies_with_student_aid=value.get("studies_with_student_aid"),
        )
        for point, value in (doc.get("outcomes") or {}).items()
    }
    return Journey(
        programme_id=doc["programme_id"],
        participant_id=doc["participant_id"],
        enrolled=bool(doc.get("enrolled")),
        participation=int(doc.get("participation", 1)),
        municipality=doc.get("municipality"),
        gender=Gender(doc["gender"]) if doc.get("gender") else None,
        age_at_referral=doc.get("age_at_referral"),
        income_support=doc.get("income_support"),
        target_groups=frozenset(
            TargetGroup(g)
            for g in [*(doc.get("target_groups") or ()), *(doc.get("special_target_groups") or ())]
        ),
        referral_date=_date(doc.get("referral_date")),
        first_placement=_date(doc.get("first_placement")),
        exited=bool(doc.get("exited")),
        exit_date=_date(doc.get("exit_date")),
        exit_reason=ExitReason(doc["exit_reason"]) if doc.get("exit_reason") else None,
        exit_end_reason=EndReason(doc["exit_end_reason"]) if doc.get("exit_end_reason") else None,
        placements=placements,
        outcomes=outcomes,
        moves=tuple(
            (date.fromisoformat(day), str(move["from"]), str(move["to"]))
            for day, move in sorted((doc.get("moves") or {}).items())
        ),
        labour_market_status=LabourMarketStatus(doc["labour_market_status"])
        if doc.get("labour_market_status")
        else None,
        education_level=EducationLevel(doc["education_level"])
        if doc.get("education_level")
        else None,
        support_tasks=tuple(
            sorted(date.fromisoformat(day) for day in (doc.get("support_tasks") or {}).values())
        ),
        hours=tuple(
            (date.fromisoformat(key.split("_", 1)[0]), int(value))
            for key, value in sorted((doc.get("hours") or {}).items())
        ),
        plan_steps=tuple(
            PlannedStep(
                step_id=step["step_id"],
                kind=StepKind(step["kind"]),
                status=StepStatus(step["status"]),
                employment=EmploymentKind(step["employment"]) if step.get("employment") else None,
                started_on=_date(step.get("started_on")),
                decided_on=_date(step.get("decided_on")),
                employer_id=step.get("employer_id"),
                wage_share=step.get("wage_share"),
            )
            for step in doc.get("plan_steps") or ()
        ),
    )


def _follow_up(doc: dict[str, Any]) -> FollowUp:
    return FollowUp(
        programme_id=doc["programme_id"],
        participant_id=doc["participant_id"],
        point=FollowUpPoint(doc["point"]),
        municipality=doc.get("municipality"),
        exit_date=_date(doc.get("exit_date")),
        due_date=_date(doc.get("due_date")),
        emitted=bool(doc.get("emitted")),
        answered=bool(doc.get("answered")),
        participation=int(doc.get("participation", 1)),
    )


def _value(member: StrEnum | None) -> str | None:
    return member.value if member is not None else None
