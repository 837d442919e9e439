"""Placement's collections.

The programme document is the point every change to a programme's places or queue writes to, so
concurrent handlers on one programme serialise on it (a write conflict makes one retry with the
other's result) instead of both filling the same place.

- programmes: definition, occupied places, agreements (with their own occupied counts), version.
- partners: registration and the IOP vetting record, criterion by criterion.
- waiting: the queue, indexed in priority order.
- placements: one document per placement, its status, hours, attendance and concerns.
- check_ins: support check-ins scheduled after a placement ends in work or studies.
- support_tasks: tasks a need for support opened, until the municipality closes them.
- plans: each enrolment's individual plan as placement follows it, with every revision adopted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DeleteOne, UpdateOne

from services.placement.domain import (
    AgreementPlaces,
    Placement,
    ProgrammeBook,
    WaitingEntry,
    agreement_eligibility,
)
from services.placement.plans import EnrolmentPlan, StepState
from shared.contracts.intake import PlanAdopted
from shared.contracts.municipal import (
    AgreementSigned,
    AllocationMode,
    PartnerRegistered,
    Preferences,
    PriorityRule,
    ProgrammeDefined,
)
from shared.contracts.partner import AttendanceReported
from shared.contracts.placement import SupportTaskOpened
from shared.contracts.plans import PlanStep, StepStatus
from shared.contracts.vocabulary import ActivityType, IopCriterion, PlacementStatus
from shared.persistence import ServiceDatabase

Doc = dict[str, Any]


@dataclass(frozen=True)
class SignedAgreement:
    """An agreement as signed: by which tenant, and where its event was (to answer it later if
    the programme turns out to be someone else's)."""

    agreement: AgreementSigned
    signed_by: str
    origin: str
    input_id: str


class PlacementStore:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db
        self.programmes = db.collection("programmes")
        self.partners = db.collection("partners")
        self.waiting = db.collection("waiting")
        self.placements = db.collection("placements")
        self.check_ins = db.collection("check_ins")
        self.support_tasks = db.collection("support_tasks")
        self.plans = db.collection("plans")

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
        await self.waiting.create_index([("participant_id", ASCENDING)])
        await self.placements.create_index([("participant_id", ASCENDING)])
        await self.placements.create_index([("programme_id", ASCENDING), ("status", ASCENDING)])
        await self.placements.create_index([("partner_id", ASCENDING), ("status", ASCENDING)])
        await self.check_ins.create_index([("emitted", ASCENDING), ("due_date", ASCENDING)])
        await self.check_ins.create_index([("participant_id", ASCENDING)])
        await self.plans.create_index([("participant_id", ASCENDING)])
        await self.support_tasks.create_index([("participant_id", ASCENDING)])
        await self.programmes.create_index([("partners", ASCENDING)])
        await self.programmes.create_index([("allocation_due_at", ASCENDING)])
        await self.programmes.create_index([("definition.allocation.mode", ASCENDING)])

    # --- books -------------------------------------------------------------------------------

    async def load_books(
        self, programme_ids: Iterable[str], queue_depth: int, session: Any
    ) -> dict[str, ProgrammeBook]:
        """The books of these programmes, each with as much of its queue as can be placed: the
        places free now plus `queue_depth`, the most this batch can free or open. Participants
        enqueued by the batch itself are added in memory, so a full programme reads no queue."""
        ids = sorted(set(programme_ids))
        docs = {
            doc["_id"]: doc
            for doc in await self.programmes.find({"_id": {"$in": ids}}, session=session).to_list()
        }
        partner_ids = {
            a["agreement"]["partner_id"]
            for doc in docs.values()
            for a in doc.get("agreements", {}).values()
        }
        partners = await self.load_partners(partner_ids, session)
        books = {}
        for programme_id in ids:
            doc = docs.get(programme_id, {})
            definition = (
                ProgrammeDefined.model_validate(doc["definition"])
                if doc.get("definition")
                else None
            )
            capacity = definition.capacity if definition else 0
            places = max(0, capacity - doc.get("occupied", 0)) + queue_depth
            # Several candidates a place, since the first in line may not suit it (activity,
            # municipality, a place they declined); none when nothing can be placed. (A limit of
            # 0 would mean no limit at all.)
            depth = 5 * places + 20 if places else 0
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
                .limit(depth)
                .to_list()
                if depth > 0
                else []
            )
            books[programme_id] = ProgrammeBook(
                programme_id=programme_id,
                definition=definition,
                agreements={
                    key: _agreement(value, partners.get(value["agreement"]["partner_id"], {}))
                    for key, value in doc.get("agreements", {}).items()
                },
                occupied=doc.get("occupied", 0),
                waiting=[_entry(item) for item in waiting],
                waiting_total=doc.get("waiting_total", 0),
                owner=doc.get("owner"),
                occupied_by_group=doc.get("occupied_by_group", 0),
                reserved_free_since=_day(doc.get("reserved_free_since")),
                allocation_due_at=doc.get("allocation_due_at"),
                pending_since=doc.get("pending_since"),
                pending_day=_day(doc.get("pending_day")),
                last_round_at=doc.get("last_round_at"),
            )
        return books

    async def save_books(
        self,
        books: Iterable[ProgrammeBook],
        raw_agreements: dict[str, SignedAgreement],
        session: Any,
    ) -> None:
        for book in books:
            rule = book.rule
            fields: dict[str, Any] = {
                "definition": book.definition.model_dump(mode="json") if book.definition else None,
                "owner": book.owner,
                "occupied": book.occupied,
                "occupied_by_group": book.occupied_by_group,
                "reserved_free_since": _iso(book.reserved_free_since),
                "allocation_due_at": book.allocation_due_at,
                "pending_since": book.pending_since,
                "pending_day": _iso(book.pending_day),
                "last_round_at": book.last_round_at,
                "waiting_total": book.waiting_total,
                "partners": sorted({a.partner_id for a in book.agreements.values()}),
            }
            for key, agreement in book.agreements.items():
                fields[f"agreements.{key}.occupied"] = agreement.occupied
                if key in raw_agreements:
                    signed = raw_agreements[key]
                    fields[f"agreements.{key}.agreement"] = signed.agreement.model_dump(mode="json")
                    fields[f"agreements.{key}.workplace_municipality"] = (
                        agreement.workplace_municipality
                    )
                    fields[f"agreements.{key}.signed_by"] = signed.signed_by
                    fields[f"agreements.{key}.origin"] = signed.origin
                    fields[f"agreements.{key}.input_id"] = signed.input_id
            update: dict[str, Any] = {"$set": fields, "$inc": {"version": 1}}
            if book.dropped_agreements:
                update["$unset"] = {f"agreements.{key}": "" for key in book.dropped_agreements}
                book.dropped_agreements.clear()
            await self.programmes.update_one(
                {"_id": book.programme_id},
                # version: touched on every change, so concurrent changes to one programme conflict.
                update,
                upsert=True,
                session=session,
            )
            # Removals first: an entry that left the queue and joined it again (a plan step
            # revised while it waited) is in the queue after the batch.
            operations: list[Any] = [
                DeleteOne({"_id": _waiting_id(e)}) for e in book.removed_from_queue
            ]
            operations += [
                UpdateOne({"_id": _waiting_id(e)}, {"$set": _entry_doc(e, rule)}, upsert=True)
                for e in book.added_to_queue
            ]
            if operations:
                await self.waiting.bulk_write(operations, session=session)
            book.added_to_queue.clear()
            book.removed_from_queue.clear()

    async def allocations_due(self, now: datetime, *, rounds: bool) -> list[str]:
        """Programmes whose settled burst is due, and (with `rounds`) every programme that holds
        rounds: whether a round has come is the job's to judge against the programme's schedule."""
        query: dict[str, Any] = {"allocation_due_at": {"$lte": now}}
        if rounds:
            query = {"$or": [query, {"definition.allocation.mode": AllocationMode.ROUNDS.value}]}
        found = await self.programmes.find(query, {"_id": 1}).to_list()
        return sorted(doc["_id"] for doc in found)

    async def offers_past_response(
        self, today: date, limit: int, session: Any = None, programme_id: str | None = None
    ) -> dict[str, list[Placement]]:
        """Per programme that sets offer_response_days (or only `programme_id`), its unanswered
        offers made before its response time (offered_on < today - days), oldest first."""
        query: dict[str, Any] = {"definition.offer_response_days": {"$gte": 1}}
        if programme_id is not None:
            query["_id"] = programme_id
        programmes = await self.programmes.find(
            query,
            {"definition.offer_response_days": 1},
            session=session,
        ).to_list()
        found: dict[str, list[Placement]] = {}
        for doc in sorted(programmes, key=lambda d: str(d["_id"])):
            days = int(doc["definition"]["offer_response_days"])
            before = (today - timedelta(days=days)).isoformat()
            offers = (
                await self.placements.find(
                    {
                        "programme_id": doc["_id"],
                        "status": PlacementStatus.OFFERED.value,
                        # Both before the response time: the later of the two is when it runs
                        # from (domain.expired decides; this only narrows the candidates).
                        "offered_on": {"$lt": before},
                        "$or": [{"made_on": None}, {"made_on": {"$lt": before}}],
                    },
                    session=session,
                )
                .sort([("offered_on", ASCENDING), ("_id", ASCENDING)])
                .limit(limit)
                .to_list()
            )
            if offers:
                found[doc["_id"]] = [_placement(offer) for offer in offers]
        return found

    async def queue_in_order(self, programme_id: str, limit: int = 1_000) -> list[WaitingEntry]:
        """The waiting list as it will be served: by the programme's priority rule."""
        found = (
            await self.waiting.find({"programme_id": programme_id})
            .sort(
                [
                    ("priority", ASCENDING),
                    ("referral_date", ASCENDING),
                    ("enrolled_at", ASCENDING),
                    ("participant_id", ASCENDING),
                ]
            )
            .limit(limit)
            .to_list()
        )
        return [_entry(doc) for doc in found]

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

    async def programmes_with_partner(self, partner_id: str, session: Any) -> list[str]:
        found = await self.programmes.find(
            {"partners": partner_id}, {"_id": 1}, session=session
        ).to_list()
        return [doc["_id"] for doc in found]

    async def waiting_entries_of(self, participant_id: str, session: Any) -> list[WaitingEntry]:
        found = await self.waiting.find(
            {"participant_id": participant_id}, session=session
        ).to_list()
        return [_entry(doc) for doc in found]

    async def update_waiting(
        self,
        participant_id: str,
        fields: dict[str, Any],
        session: Any,
        programme_id: str | None = None,
    ) -> None:
        """Change the person's places in the queues: of every programme, or of one."""
        query = {"participant_id": participant_id}
        if programme_id is not None:
            query["programme_id"] = programme_id
        await self.waiting.update_many(query, {"$set": fields}, session=session)

    async def set_eligibility(
        self, participant_id: str, programme_id: str, eligible_for: list[str], session: Any
    ) -> None:
        """The enrolment's eligibility for restricted agreements, where it waits and in what it
        holds (a placement that ends with a return to the queue waits with it)."""
        query = {"participant_id": participant_id, "programme_id": programme_id}
        await self.waiting.update_many(
            query, {"$set": {"eligible_for": eligible_for}}, session=session
        )
        await self.placements.update_many(
            query, {"$set": {"entry.eligible_for": eligible_for}}, session=session
        )

    async def rekey_participant(self, old: str, new: str, session: Any) -> None:
        """Two participants were one: the old one's queue places and check-ins are the new
        one's (placements are saved again by the caller)."""
        for doc in await self.waiting.find({"participant_id": old}, session=session).to_list():
            await self.waiting.delete_one({"_id": doc["_id"]}, session=session)
            entry = replace(_entry(doc), participant_id=new)
            await self.waiting.insert_one(
                {**doc, "_id": _waiting_id(entry), "participant_id": new}, session=session
            )
        await self.check_ins.update_many(
            {"participant_id": old}, {"$set": {"participant_id": new}}, session=session
        )
        await self.support_tasks.update_many(
            {"participant_id": old}, {"$set": {"participant_id": new}}, session=session
        )
        for doc in await self.plans.find({"participant_id": old}, session=session).to_list():
            await self.plans.delete_one({"_id": doc["_id"]}, session=session)
            moved = {**doc, "participant_id": new}
            if doc.get("entry"):
                moved["entry"] = {**doc["entry"], "participant_id": new}
            moved["_id"] = _plan_id(new, doc["programme_id"], int(doc["participation"]))
            await self.plans.replace_one({"_id": moved["_id"]}, moved, upsert=True, session=session)

    # --- partners ----------------------------------------------------------------------------

    async def save_partner(self, partner: PartnerRegistered, owner: str, session: Any) -> None:
        await self.partners.update_one(
            {"_id": partner.partner_id},
            {"$set": {"registration": partner.model_dump(mode="json"), "owner": owner}},
            upsert=True,
            session=session,
        )

    async def record_vetting(
        self, partner_id: str, assessments: dict[str, Doc], owner: str, session: Any
    ) -> None:
        fields = {f"vetting.{criterion}": value for criterion, value in assessments.items()}
        await self.partners.update_one(
            {"_id": partner_id},
            {"$set": {**fields, "owner": owner}},
            upsert=True,
            session=session,
        )

    async def claim_partner(self, partner_id: str, owner: str, session: Any) -> None:
        await self.partners.update_one(
            {"_id": partner_id}, {"$set": {"owner": owner}}, upsert=True, session=session
        )

    async def load_partners(self, partner_ids: Iterable[str], session: Any) -> dict[str, Doc]:
        found = await self.partners.find(
            {"_id": {"$in": list(set(partner_ids))}}, session=session
        ).to_list()
        return {doc["_id"]: doc for doc in found}

    # --- placements --------------------------------------------------------------------------

    async def load_placements(
        self, placement_ids: Iterable[str], session: Any
    ) -> dict[str, Placement]:
        found = await self.placements.find(
            {"_id": {"$in": list(set(placement_ids))}}, session=session
        ).to_list()
        return {doc["_id"]: _placement(doc) for doc in found}

    async def placements_of(self, participant_id: str, session: Any) -> list[Placement]:
        found = await self.placements.find(
            {"participant_id": participant_id}, session=session
        ).to_list()
        return [_placement(doc) for doc in found]

    async def save_placements(
        self, placements: Iterable[tuple[Placement, str]], session: Any
    ) -> None:
        """Each placement as it now stands, with the step that got it there for its history."""
        operations = [
            UpdateOne(
                {"_id": p.placement_id},
                {
                    "$set": _placement_doc(p),
                    "$push": {"history": {"step": step, "status": p.status.value}},
                },
                upsert=True,
            )
            for p, step in placements
        ]
        if operations:
            await self.placements.bulk_write(operations, ordered=True, session=session)

    async def attendance_of(
        self, placement_id: str, session: Any
    ) -> tuple[list[AttendanceReported], bool]:
        doc = await self.placements.find_one(
            {"_id": placement_id}, {"attendance": 1, "at_risk": 1}, session=session
        )
        reports = [AttendanceReported.model_validate(a) for a in (doc or {}).get("attendance", [])]
        return reports, bool((doc or {}).get("at_risk"))

    async def record_attendance(
        self, report: AttendanceReported, at_risk: bool, session: Any
    ) -> None:
        await self.placements.update_one(
            {"_id": report.placement_id},
            {"$push": {"attendance": report.model_dump(mode="json")}, "$set": {"at_risk": at_risk}},
            session=session,
        )

    async def record_concern(self, placement_id: str, on: date, note: str, session: Any) -> None:
        await self.placements.update_one(
            {"_id": placement_id},
            {"$push": {"concerns": {"on": on.isoformat(), "note": note}}},
            session=session,
        )

    # --- support check-ins -------------------------------------------------------------------

    async def schedule_check_ins(
        self, placement: Placement, due: list[tuple[str, date]], session: Any
    ) -> None:
        operations = [
            UpdateOne(
                {"_id": check_in_id},
                {
                    "$setOnInsert": {
                        "placement_id": placement.placement_id,
                        "participant_id": placement.participant_id,
                        "programme_id": placement.programme_id,
                        "partner_id": placement.partner_id,
                        "municipality": placement.municipality,
                        "due_date": due_date.isoformat(),
                        "emitted": False,
                    }
                },
                upsert=True,
            )
            for check_in_id, due_date in due
        ]
        if operations:
            await self.check_ins.bulk_write(operations, session=session)

    async def due_check_ins(self, today: date, limit: int, session: Any = None) -> list[Doc]:
        return (
            await self.check_ins.find(
                {"emitted": False, "due_date": {"$lte": today.isoformat()}}, session=session
            )
            .limit(limit)
            .to_list()
        )

    async def mark_check_ins_emitted(self, ids: list[str], session: Any) -> None:
        await self.check_ins.update_many(
            {"_id": {"$in": ids}}, {"$set": {"emitted": True}}, session=session
        )

    async def record_check_in(
        self, check_in_id: str, placement_id: str, result: Doc, session: Any
    ) -> bool:
        """Record an answer to a check-in of this placement (one of another placement is not
        this reporter's to answer, and is not found)."""
        outcome = await self.check_ins.update_one(
            {"_id": check_in_id, "placement_id": placement_id},
            {"$set": {"result": result}},
            session=session,
        )
        return outcome.matched_count == 1

    async def open_support_task(self, task: SupportTaskOpened, session: Any) -> bool:
        """Keep the task; False if it was open already."""
        outcome = await self.support_tasks.update_one(
            {"_id": task.task_id},
            {"$setOnInsert": {**task.model_dump(mode="json"), "status": "open"}},
            upsert=True,
            session=session,
        )
        return outcome.upserted_id is not None

    async def close_support_task(
        self, task_id: str, placement_id: str, on: date, action: str, session: Any
    ) -> Doc | None:
        """Close the placement's open task; the task as it was, or None if there was none."""
        found: Doc | None = await self.support_tasks.find_one_and_update(
            {"_id": task_id, "placement_id": placement_id, "status": "open"},
            {"$set": {"status": "closed", "closed_on": on.isoformat(), "action": action}},
            session=session,
        )
        return found

    # --- erasure -----------------------------------------------------------------------------

    async def plan_of(
        self, participant_id: str, programme_id: str, participation: int, session: Any
    ) -> tuple[EnrolmentPlan, WaitingEntry | None] | None:
        """The enrolment's plan, with the queue entry a step of it waits with (as the
        participant stood when the plan was adopted)."""
        doc = await self.plans.find_one(
            {"_id": _plan_id(participant_id, programme_id, participation)}, session=session
        )
        if doc is None:
            return None
        entry = _entry(doc["entry"]) if doc.get("entry") else None
        return _plan(doc), entry

    async def save_plan(
        self,
        plan: EnrolmentPlan,
        entry: WaitingEntry | None,
        session: Any,
        *,
        adopted: PlanAdopted | None = None,
    ) -> None:
        """The plan as it now stands; an adopted revision also goes into its history."""
        fields: Doc = {
            "participant_id": plan.participant_id,
            "programme_id": plan.programme_id,
            "participation": plan.participation,
            "municipality": plan.municipality,
            "revision": plan.revision,
            "steps": [
                {
                    "step": s.step.model_dump(mode="json"),
                    "status": s.status.value,
                    "started_on": _iso(s.started_on),
                    "ended_on": _iso(s.ended_on),
                }
                for s in plan.steps
            ],
        }
        if entry is not None:
            fields["entry"] = _entry_doc(replace(entry, plan_step=None), PriorityRule.REFERRAL_DATE)
        update: Doc = {"$set": fields}
        if adopted is not None:
            update["$push"] = {
                "history": {
                    "revision": adopted.plan.revision,
                    "recorded_on": adopted.recorded_on.isoformat(),
                    "steps": [step.model_dump(mode="json") for step in adopted.plan.steps],
                }
            }
        await self.plans.update_one(
            {"_id": _plan_id(plan.participant_id, plan.programme_id, plan.participation)},
            update,
            upsert=True,
            session=session,
        )

    async def move_plan(
        self, participant_id: str, programme_id: str, participation: int, to: str, session: Any
    ) -> None:
        """The plan, and the entry its later steps wait with, are the new municipality's: its
        progress goes to that municipality's stream from now on."""
        plan_id = _plan_id(participant_id, programme_id, participation)
        await self.plans.update_one(
            {"_id": plan_id}, {"$set": {"municipality": to}}, session=session
        )
        await self.plans.update_one(
            {"_id": plan_id, "entry": {"$type": "object"}},
            {"$set": {"entry.municipality": to}},
            session=session,
        )

    async def plan_history(
        self, participant_id: str, programme_id: str, participation: int = 1
    ) -> list[Doc]:
        doc = await self.plans.find_one(
            {"_id": _plan_id(participant_id, programme_id, participation)}, {"history": 1}
        )
        return list(doc.get("history", [])) if doc else []

    async def anonymise(self, participant_id: str, session: Any) -> None:
        """Keep what capacity and counts need, under a random id that leads to no one."""
        await self.waiting.delete_many({"participant_id": participant_id}, session=session)
        for doc in await self.placements.find(
            {"participant_id": participant_id}, session=session
        ).to_list():
            await self.placements.delete_one({"_id": doc["_id"]}, session=session)
            await self.placements.insert_one(
                {
                    "_id": f"erased:{uuid.uuid4().hex}",
                    "participant_id": "erased",
                    "programme_id": doc["programme_id"],
                    "partner_id": doc["partner_id"],
                    "agreement_id": doc["agreement_id"],
                    "status": doc["status"],
                    "activity": doc.get("activity"),
                },
                session=session,
            )
        await self.check_ins.delete_many({"participant_id": participant_id}, session=session)
        await self.support_tasks.delete_many({"participant_id": participant_id}, session=session)
        await self.plans.delete_many({"participant_id": participant_id}, session=session)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _plan_id(participant_id: str, programme_id: str, participation: int) -> str:
    return f"{programme_id}:{participant_id}:{participation}"


def _plan(doc: Doc) -> EnrolmentPlan:
    return EnrolmentPlan(
        participant_id=doc["participant_id"],
        programme_id=doc["programme_id"],
        participation=int(doc["participation"]),
        municipality=doc["municipality"],
        revision=int(doc["revision"]),
        steps=tuple(
            StepState(
                step=PlanStep.model_validate(s["step"]),
                status=StepStatus(s["status"]),
                started_on=_day(s.get("started_on")),
                ended_on=_day(s.get("ended_on")),
            )
            for s in doc["steps"]
        ),
    )


def _waiting_id(entry: WaitingEntry) -> str:
    # One entry per plan step that waits for a place: steps side by side wait at once.
    step = f":{entry.plan_step_id}" if entry.plan_step_id else ""
    return f"{entry.programme_id}:{entry.participant_id}{step}"


def _entry_doc(entry: WaitingEntry, rule: PriorityRule) -> Doc:
    return {
        "programme_id": entry.programme_id,
        "participant_id": entry.participant_id,
        "municipality": entry.municipality,
        "income_support": entry.income_support,
        "referral_date": entry.referral_date.isoformat(),
        "enrolled_at": entry.enrolled_at,
        "priority": entry.rank(rule)[0],
        "preferences": entry.preferences.model_dump(mode="json"),
        "declined": sorted(entry.declined),
        "shares_details": entry.shares_details,
        "protected_identity": entry.protected_identity,
        "participation": entry.participation,
        "eligible_for": sorted(entry.eligible_for),
        "plan_step": entry.plan_step.model_dump(mode="json") if entry.plan_step else None,
    }


def _entry(doc: Doc) -> WaitingEntry:
    enrolled_at: datetime = doc["enrolled_at"]
    return WaitingEntry(
        participant_id=doc["participant_id"],
        programme_id=doc["programme_id"],
        municipality=doc["municipality"],
        income_support=doc["income_support"],
        referral_date=date.fromisoformat(doc["referral_date"]),
        enrolled_at=enrolled_at,
        preferences=Preferences.model_validate(doc.get("preferences") or {}),
        declined=frozenset(doc.get("declined", ())),
        shares_details=bool(doc.get("shares_details")),
        protected_identity=bool(doc.get("protected_identity")),
        participation=int(doc.get("participation", 1)),
        eligible_for=frozenset(doc.get("eligible_for", ())),
        plan_step=PlanStep.model_validate(doc["plan_step"]) if doc.get("plan_step") else None,
    )


def partner_vetting(partner: Doc) -> dict[IopCriterion, bool]:
    """The criteria a partner's vetting has assessed, and whether each is met."""
    return {
        IopCriterion(criterion): bool(value["met"])
        for criterion, value in partner.get("vetting", {}).items()
    }


def _agreement(doc: Doc, partner: Doc) -> AgreementPlaces:
    agreement = AgreementSigned.model_validate(doc["agreement"])
    return AgreementPlaces.signed(
        agreement,
        occupied=doc.get("occupied", 0),
        municipality=doc.get("workplace_municipality"),
        eligibility=agreement_eligibility(agreement, partner_vetting(partner)),
        signed_by=doc.get("signed_by"),
        origin=doc.get("origin"),
        input_id=doc.get("input_id"),
    )


def _placement_doc(p: Placement) -> Doc:
    return {
        "participant_id": p.participant_id,
        "programme_id": p.programme_id,
        "partner_id": p.partner_id,
        "agreement_id": p.agreement_id,
        "municipality": p.municipality,
        "activity": p.activity.value,
        "status": p.status.value,
        "offered_on": p.offered_on.isoformat(),
        "decision": p.decision,
        "workplace_id": p.workplace_id,
        "hours_per_week": p.hours_per_week,
        "start_date": p.start_date.isoformat() if p.start_date else None,
        "end_date": p.end_date.isoformat() if p.end_date else None,
        "municipal_contact": p.municipal_contact,
        "shares_details": p.shares_details,
        "protected_identity": p.protected_identity,
        "made_on": _iso(p.made_on),
        "entry": _entry_doc(p.entry, PriorityRule.REFERRAL_DATE),
    }


def _placement(doc: Doc) -> Placement:
    return Placement(
        placement_id=doc["_id"],
        participant_id=doc["participant_id"],
        programme_id=doc["programme_id"],
        partner_id=doc["partner_id"],
        agreement_id=doc["agreement_id"],
        municipality=doc["municipality"],
        activity=ActivityType(doc["activity"]),
        status=PlacementStatus(doc["status"]),
        offered_on=date.fromisoformat(doc["offered_on"]),
        entry=_entry(doc["entry"]),
        decision=doc.get("decision", ""),
        workplace_id=doc.get("workplace_id"),
        hours_per_week=doc.get("hours_per_week"),
        start_date=_day(doc.get("start_date")),
        end_date=_day(doc.get("end_date")),
        municipal_contact=doc.get("municipal_contact"),
        shares_details=bool(doc.get("shares_details")),
        protected_identity=bool(doc.get("protected_identity")),
        made_on=_day(doc.get("made_on")),
    )
