"""Intake's collections.

- programmes: intake's copy of the programme definitions (eligibility is data).
- participants: one document per pseudonym: birth year, gender, enrolments, consents. Nothing
  that identifies the person directly. Each enrolment keeps the facts agreements' conditions
  ask about (gender, age and target groups at referral, special categories included), so that
  an agreement signed later is decided here, where those facts may be.
- agreements: the conditions of agreements whose places are for some participants only, and
  the tenant that signed each.
- identities: each person's identity record, sealed with that person's key (identity.py).
- the person keys are in a database of their own (key_store.py), written and deleted in the
  same transactions. Deleting one is crypto-shredding.
- which participant a personnummer names is in the key store too (person_index.py); the
  identity_links of earlier versions move there on start.
- referrals: the decision on every referral, for the municipal system's questions and counts.
- audit: who read or exported identity data, and why; and every erasure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DeleteOne, InsertOne, UpdateOne

from services.intake.identity import IdentityRecord, IdentityVault
from services.intake.key_store import PersonKeyStore
from services.intake.person_index import LINK, REFERRAL, Entry
from services.intake.place_eligibility import EligibilityFacts
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import AgreementSigned, PlaceEligibility, ProgrammeDefined
from shared.contracts.vocabulary import Gender, TargetGroup
from shared.expiry import days, ensure_expiry
from shared.key_custody import MasterKeys, Wrapped
from shared.persistence import ServiceDatabase


class IntakeStore:
    def __init__(self, db: ServiceDatabase, master: MasterKeys | None = None) -> None:
        self.db = db
        # Opens the person index; a store for reading audits and decisions needs none.
        self._master = master
        self.programmes = db.collection("programmes")
        self.participants = db.collection("participants")
        self.identities = db.collection("identities")
        self.keys = PersonKeyStore(db.client, db.settings)
        self.erasure_holds = self.keys.holds
        # Where earlier versions kept the person keys; emptied into the key store on start.
        self._keys_of_old = db.collection("person_keys")
        self._links_of_old = db.collection("identity_links")
        self.referrals = db.collection("referrals")
        self.audit = db.collection("audit")
        self.agreements = db.collection("agreements")

    async def ensure_indexes(self) -> None:
        await self.referrals.create_index([("participant_id", ASCENDING)])
        await self.referrals.create_index([("decision", ASCENDING), ("programme_id", ASCENDING)])
        await self.participants.create_index([("last_event_at", ASCENDING)])
        await self.audit.create_index([("participant_id", ASCENDING)])
        # The audit's index on its date is the service database's (shared/persistence.py).
        await ensure_expiry(
            self.referrals, "decided_at", days(self.db.settings.decision_retention_days)
        )
        await self.participants.create_index([("enrolments.programme_id", ASCENDING)])
        await self.agreements.create_index([("programme_id", ASCENDING)])
        await self.keys.ensure_indexes()
        await self.keys.adopt(self._keys_of_old)
        if self._master is not None:
            await self._adopt_links(self._master)

    # --- programmes --------------------------------------------------------------------------

    async def programme_owners(self, ids: Iterable[str], session: Any) -> dict[str, str]:
        """The tenant that owns each programme (the first to define it), for those known."""
        found = await self.programmes.find(
            {"_id": {"$in": list(set(ids))}}, {"owner": 1}, session=session
        ).to_list()
        return {doc["_id"]: doc["owner"] for doc in found if doc.get("owner")}

    async def save_programmes(
        self, definitions: Iterable[tuple[ProgrammeDefined, str]], session: Any
    ) -> None:
        operations = [
            UpdateOne(
                {"_id": definition.programme_id},
                {"$set": {"definition": definition.model_dump(mode="json"), "owner": owner}},
                upsert=True,
            )
            for definition, owner in definitions
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

    async def programmes_covering(self, municipality: str, session: Any) -> list[ProgrammeDefined]:
        found = await self.programmes.find(
            {"definition.municipalities": municipality}, session=session
        ).to_list()
        return [ProgrammeDefined.model_validate(doc["definition"]) for doc in found]

    # --- agreements whose places are for some only -------------------------------------------

    async def save_agreement(
        self, agreement: AgreementSigned, signed_by: str, session: Any
    ) -> str | None:
        """Keep the agreement's conditions; the digest of those it had before (None if none)."""
        before = await self.agreements.find_one_and_update(
            {"_id": agreement.agreement_id},
            {
                "$set": {
                    "programme_id": agreement.programme_id,
                    "signed_by": signed_by,
                    "restricted_to": agreement.restricted_to(),
                    "eligibility": agreement.eligibility.model_dump(mode="json")
                    if agreement.eligibility is not None
                    else None,
                }
            },
            upsert=True,
            session=session,
        )
        return before.get("restricted_to") if before else None

    async def restricted_agreements(
        self, programme_ids: Iterable[str], session: Any
    ) -> dict[str, dict[str, PlaceEligibility]]:
        """Each programme's agreements with conditions, of those its owner signed (anyone
        else's offer no places: placement drops them)."""
        found = await self.agreements.find(
            {"programme_id": {"$in": list(set(programme_ids))}, "restricted_to": {"$ne": None}},
            session=session,
        ).to_list()
        if not found:
            return {}
        owners = await self.programme_owners({doc["programme_id"] for doc in found}, session)
        restricted: dict[str, dict[str, PlaceEligibility]] = {}
        for doc in found:
            if owners.get(doc["programme_id"]) == doc["signed_by"]:
                restricted.setdefault(doc["programme_id"], {})[doc["_id"]] = (
                    PlaceEligibility.model_validate(doc["eligibility"])
                )
        return restricted

    async def open_enrolments_in(
        self, programme_id: str, session: Any
    ) -> list[tuple[str, dict[str, Any]]]:
        """(participant, enrolment) for every open enrolment in the programme."""
        found = await self.participants.find(
            {"enrolments.programme_id": programme_id}, {"enrolments": 1}, session=session
        ).to_list()
        return [
            (doc["_id"], enrolment)
            for doc in found
            for enrolment in doc.get("enrolments", [])
            if enrolment.get("programme_id") == programme_id and not enrolment.get("exited_on")
        ]

    # --- participants ------------------------------------------------------------------------

    async def participants_by_id(
        self, participant_ids: Iterable[str], session: Any
    ) -> dict[str, dict[str, Any]]:
        found = await self.participants.find(
            {"_id": {"$in": list(set(participant_ids))}}, session=session
        ).to_list()
        return {doc["_id"]: doc for doc in found}

    @property
    def master(self) -> MasterKeys:
        if self._master is None:
            raise RuntimeError("the person index is opened only with the master key")
        return self._master

    async def named(self, lookups: Iterable[str], session: Any) -> dict[str, Entry]:
        """The participant each of these lookups names. Participants of earlier versions, whose
        id was the lookup itself, are found too, and from now on through the index."""
        wanted = set(lookups)
        found = await self.keys.index.find(wanted, self.master, session)
        unknown = wanted - set(found)
        if unknown:
            legacy = await self.participants.find(
                {"_id": {"$in": list(unknown)}}, {"_id": 1}, session=session
            ).to_list()
            adopted = {doc["_id"]: Entry(doc["_id"], REFERRAL) for doc in legacy}
            await self.name(adopted, datetime.now(UTC), session)
            found.update(adopted)
        return found

    async def name(self, entries: dict[str, Entry], now: datetime, session: Any) -> None:
        await self.keys.index.put(entries, self.master, now, session)

    async def _adopt_links(self, master: MasterKeys) -> None:
        while batch := await self._links_of_old.find({}).limit(500).to_list():
            client = self.db.client
            async with client.start_session() as session, await session.start_transaction():
                await self.keys.index.put(
                    {doc["_id"]: Entry(doc["participant_id"], LINK) for doc in batch},
                    master,
                    datetime.now(UTC),
                    session,
                )
                await self._links_of_old.delete_many(
                    {"_id": {"$in": [doc["_id"] for doc in batch]}}, session=session
                )

    async def link_identity(
        self, lookup: str, participant_id: str, now: datetime, session: Any
    ) -> None:
        await self.name({lookup: Entry(participant_id, LINK)}, now, session)
        await self.participants.update_one(
            {"_id": participant_id}, {"$set": {"last_event_at": now}}, session=session
        )

    async def merge_participants(
        self, kept: str, merged: str, record: dict[str, Any], session: Any
    ) -> None:
        """`merged` becomes `kept`: its record joins kept's (as `record` says), its decisions
        and links are kept's, and its own identity and key go (kept's identity is sealed again
        by the caller)."""
        await self.participants.update_one({"_id": kept}, {"$set": record}, session=session)
        await self.participants.delete_one({"_id": merged}, session=session)
        await self.identities.delete_one({"_id": merged}, session=session)
        await self.keys.destroy([merged], session)
        await self.referrals.update_many(
            {"participant_id": merged}, {"$set": {"participant_id": kept}}, session=session
        )
        await self.keys.index.reassign(merged, kept, self.master, datetime.now(UTC), session)

    async def record_referrals(
        self,
        enrolments: list[tuple[ParticipantEnrolled, bool, EligibilityFacts]],
        decisions: list[dict[str, Any]],
        existing: set[str],
        now: datetime,
        session: Any,
    ) -> None:
        """Enrolments (with whether the person has protected identity) and every decision. A
        participant seen for the first time is inserted, cheaper than an upsert; `existing` are
        those already stored."""
        participants: dict[str, dict[str, Any]] = {}
        for enrolled, protected, facts in enrolments:
            pid = enrolled.participant_id
            doc = participants.get(pid)
            if doc is None:
                doc = participants[pid] = {
                    "enrolments": [],
                    "consents": {},
                    "birth_year": enrolled.birth_year,
                    "gender": enrolled.gender.value,
                }
            doc["protected_identity"] = protected
            doc["enrolments"].append(
                {
                    "programme_id": enrolled.programme_id,
                    "referral_id": enrolled.referral_id,
                    "municipality": enrolled.municipality,
                    "referral_date": enrolled.referral_date.isoformat(),
                    "participation": enrolled.participation,
                    "facts": facts_doc(facts),
                }
            )
            for purpose in enrolled.consents:
                doc["consents"][purpose.value] = {
                    "granted": True,
                    "on": enrolled.referral_date.isoformat(),
                    "source": "referral",
                }
        operations: list[Any] = []
        for pid, doc in participants.items():
            if pid not in existing:
                operations.append(
                    InsertOne(
                        {
                            "_id": pid,
                            "birth_year": doc["birth_year"],
                            "gender": doc["gender"],
                            "first_seen": now,
                            "last_event_at": now,
                            "protected_identity": doc["protected_identity"],
                            "consents": doc["consents"],
                            "enrolments": doc["enrolments"],
                        }
                    )
                )
            else:
                operations.append(
                    UpdateOne(
                        {"_id": pid},
                        {
                            "$set": {
                                "last_event_at": now,
                                "protected_identity": doc["protected_identity"],
                                **{f"consents.{k}": v for k, v in doc["consents"].items()},
                            },
                            "$push": {"enrolments": {"$each": doc["enrolments"]}},
                        },
                    )
                )
        if operations:
            await self.participants.bulk_write(operations, ordered=False, session=session)
        if decisions:
            await self.referrals.insert_many(decisions, session=session)

    async def record_consent(
        self, participant_id: str, purpose: str, value: dict[str, Any], now: datetime, session: Any
    ) -> None:
        await self.participants.update_one(
            {"_id": participant_id},
            {"$set": {f"consents.{purpose}": value, "last_event_at": now}},
            session=session,
        )

    async def close_enrolment(
        self, participant_id: str, programme_id: str, exit: dict[str, Any], session: Any
    ) -> bool:
        """Mark the person's open enrolment in the programme as exited; False if there was none
        (never enrolled, already exited, or erased)."""
        return await self.update_open_enrolment(participant_id, programme_id, exit, session)

    async def update_open_enrolment(
        self, participant_id: str, programme_id: str, changes: dict[str, Any], session: Any
    ) -> bool:
        """Change the person's open enrolment in the programme; False if there is none. The list
        is rewritten whole: a positional update would be shorter but is not something every
        server speaks alike."""
        doc = await self.participants.find_one(
            {"_id": participant_id}, {"enrolments": 1}, session=session
        )
        if doc is None:
            return False
        enrolments = list(doc.get("enrolments", []))
        for index, enrolment in enumerate(enrolments):
            if enrolment.get("programme_id") == programme_id and not enrolment.get("exited_on"):
                enrolments[index] = {**enrolment, **changes}
                await self.participants.update_one(
                    {"_id": participant_id}, {"$set": {"enrolments": enrolments}}, session=session
                )
                return True
        return False

    async def set_protected_identity(
        self, participant_id: str, protected: bool, now: datetime, session: Any
    ) -> None:
        """Protected: the identity record and the person's key are deleted with the flag set, in
        the same transaction, so nothing that could tell who the person is remains."""
        await self.participants.update_one(
            {"_id": participant_id},
            {"$set": {"protected_identity": protected, "last_event_at": now}},
            session=session,
        )
        if protected:
            await self.identities.delete_one({"_id": participant_id}, session=session)
            await self.keys.destroy([participant_id], session)

    async def touch(self, participant_ids: Iterable[str], now: datetime, session: Any) -> None:
        """Another service reported about these participants: their retention clock restarts."""
        ids = list(set(participant_ids))
        if ids:
            await self.participants.update_many(
                {"_id": {"$in": ids}}, {"$max": {"last_event_at": now}}, session=session
            )

    async def idle_since(self, cutoff: datetime, limit: int) -> list[str]:
        found = (
            await self.participants.find({"last_event_at": {"$lt": cutoff}}, {"_id": 1})
            .limit(limit)
            .to_list()
        )
        return [doc["_id"] for doc in found]

    # --- identities --------------------------------------------------------------------------

    async def wrapped_keys(
        self, participant_ids: Iterable[str], session: Any
    ) -> dict[str, Wrapped]:
        return await self.keys.wrapped(participant_ids, session)

    async def save_identities(
        self,
        new_keys: dict[str, Wrapped],
        sealed: dict[str, bytes],
        forget: Iterable[str],
        now: datetime,
        session: Any,
    ) -> None:
        key_ops = self.keys.inserts(new_keys, now)
        # A person with a new key has no identity record yet: an insert, cheaper than an upsert.
        identity_ops: list[Any] = [
            InsertOne({"_id": pid, "sealed": blob, "updated_at": now})
            if pid in new_keys
            else UpdateOne({"_id": pid}, {"$set": {"sealed": blob, "updated_at": now}}, upsert=True)
            for pid, blob in sealed.items()
        ]
        # People who now have protected identity: no identity data is kept at all.
        for pid in forget:
            key_ops.append(DeleteOne({"_id": pid}))
            identity_ops.append(DeleteOne({"_id": pid}))
        await self.keys.write(key_ops, session)
        if identity_ops:
            await self.identities.bulk_write(identity_ops, session=session)

    async def read_identity(
        self, vault: IdentityVault, participant_id: str, session: Any = None
    ) -> IdentityRecord | None:
        key = (await self.keys.wrapped([participant_id], session)).get(participant_id)
        sealed = await self.identities.find_one({"_id": participant_id}, session=session)
        if key is None or sealed is None:
            return None
        person_key = vault.unwrap(key, participant_id)
        return vault.open(bytes(sealed["sealed"]), person_key, participant_id)

    async def write_audit(self, entry: dict[str, Any], session: Any = None) -> None:
        await self.audit.insert_one({"_id": uuid.uuid4().hex, **entry}, session=session)

    # --- ids of earlier versions -------------------------------------------------------------

    async def legacy_among(self, participant_ids: list[str], session: Any = None) -> list[str]:
        """The participants of these whose id is of a version before the index: the keyed
        lookup of their number. The index names such a participant under its own id (adopted
        on a referral since), or not at all; every later participant has an entry of its own
        under another lookup."""
        if not participant_ids:
            return []
        adopted = {
            doc["_id"]
            for doc in await self.keys.index.entries.find(
                {"_id": {"$in": participant_ids}}, {"_id": 1}, session=session
            ).to_list()
        }
        tags = {pid: self.master.tags(pid.encode()) for pid in participant_ids}
        owned = {
            doc["owner"]
            for doc in await self.keys.index.entries.find(
                {"owner": {"$in": [t for each in tags.values() for t in each]}},
                {"owner": 1},
                session=session,
            ).to_list()
        }
        return [pid for pid in participant_ids if pid in adopted or not set(tags[pid]) & owned]

    async def reissue(
        self, old: str, new: str, vault: IdentityVault, now: datetime, session: Any
    ) -> dict[str, Any] | None:
        """The participant `old` is `new` from now on, in every record intake keeps: its
        record, its identity (sealed again, bound to the new id), its key, its index entries,
        decisions and audit. The record as it was, or None if there was none."""
        doc = await self.participants.find_one({"_id": old}, session=session)
        if doc is None:
            return None
        entries = await self.keys.index.of(old, self.master, session)
        # The id was the lookup of the number the person was referred under.
        entries.setdefault(old, Entry(old, REFERRAL))
        # Each of the person's lookups now names the new id (the entry replaced in place).
        await self.name(
            {lookup: Entry(new, entry.kind) for lookup, entry in entries.items()}, now, session
        )
        await self.participants.delete_one({"_id": old}, session=session)
        await self.participants.insert_one({**doc, "_id": new}, session=session)
        wrapped = (await self.keys.wrapped([old], session)).get(old)
        sealed = await self.identities.find_one({"_id": old}, session=session)
        await self.keys.destroy([old], session)
        await self.identities.delete_one({"_id": old}, session=session)
        if wrapped is not None and sealed is not None:
            person_key = vault.unwrap(wrapped, old)
            record = vault.open(bytes(sealed["sealed"]), person_key, old)
            fresh = vault.new_person_key()
            await self.save_identities(
                {new: vault.wrap(fresh, new)},
                {new: vault.seal(record, fresh, new)},
                (),
                now,
                session,
            )
        for collection in (self.referrals, self.audit):
            await collection.update_many(
                {"participant_id": old}, {"$set": {"participant_id": new}}, session=session
            )
        return doc

    # --- erasure -----------------------------------------------------------------------------

    async def lookups_of(self, participant_id: str, session: Any) -> set[str]:
        """Every number's lookup that names the participant."""
        return set(await self.keys.index.of(participant_id, self.master, session))

    async def erase(self, participant_id: str, session: Any) -> bool:
        """Crypto-shred and remove the person; keep only counts that link to no one."""
        existed = await self.participants.find_one(
            {"_id": participant_id}, {"_id": 1}, session=session
        )
        await self.keys.destroy([participant_id], session)
        await self.identities.delete_one({"_id": participant_id}, session=session)
        await self.participants.delete_one({"_id": participant_id}, session=session)
        await self.keys.index.forget(participant_id, self.master, session)
        decisions = await self.referrals.find(
            {"participant_id": participant_id}, session=session
        ).to_list()
        if decisions:
            # The municipal case reference would lead back to the person: the decision stays,
            # under a random id, with only what the counts need.
            await self.referrals.delete_many({"participant_id": participant_id}, session=session)
            await self.referrals.insert_many(
                [
                    {
                        "_id": f"erased:{uuid.uuid4().hex}",
                        "decided_at": doc.get("decided_at"),
                        "decision": doc.get("decision"),
                        "programme_id": doc.get("programme_id"),
                        "municipality": doc.get("municipality"),
                    }
                    for doc in decisions
                ],
                session=session,
            )
        await self.audit.update_many(
            {"participant_id": participant_id},
            {"$set": {"participant_id": "erased"}},
            session=session,
        )
        return existed is not None


def facts_doc(facts: EligibilityFacts) -> dict[str, Any]:
    return {
        "gender": facts.gender.value,
        "age": facts.age,
        "target_groups": sorted(group.value for group in facts.target_groups),
    }


def facts_of(enrolment: dict[str, Any]) -> EligibilityFacts | None:
    """The facts kept with an enrolment; None for one enrolled before they were kept."""
    doc = enrolment.get("facts")
    if not doc:
        return None
    return EligibilityFacts(
        gender=Gender(doc["gender"]),
        age=int(doc["age"]),
        target_groups=frozenset(TargetGroup(group) for group in doc["target_groups"]),
    )
