"""Reading identity data: only with a named actor and a reason, and always audited.

The audit entry is written before the data is returned, so a read that is not recorded does
not happen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.intake.identity import IdentityRecord, IdentityVault
from services.intake.store import IntakeStore
from shared.contracts.tenants import Tenant
from shared.contracts.vocabulary import ConsentPurpose
from shared.ownership import Claim, may_act_on_participant


class AccessRefused(PermissionError):
    pass


@dataclass(frozen=True)
class Accessor:
    actor: str
    reason: str

    def check(self) -> None:
        if not self.actor.strip() or len(self.reason.strip()) < 5:
            raise AccessRefused("identity data is read only by a named actor, for a stated reason")


async def read_identity(
    store: IntakeStore, vault: IdentityVault, participant_id: str, who: Accessor
) -> IdentityRecord | None:
    who.check()
    await store.write_audit(
        {
            "at": datetime.now(UTC),
            "action": "read",
            "actor": who.actor,
            "reason": who.reason,
            "participant_id": participant_id,
        }
    )
    return await store.read_identity(vault, participant_id)


async def read_identity_for_municipality(
    store: IntakeStore, vault: IdentityVault, kommunkod: str, participant_id: str, who: Accessor
) -> IdentityRecord | Protected | None:
    """A resident's identity, for a caseworker of the municipality `kommunkod`: only of someone
    it may act on (it referred them, or shares case handling in one of their programmes).
    Anyone else is None, as an unknown id is, so that no municipality can probe who is enrolled
    elsewhere. Audited before anything is opened, and a refused read is audited too."""
    who.check()
    person = (await store.participants_by_id([participant_id], None)).get(participant_id)
    claim = Claim(False, "no such participant")
    if person is not None:
        enrolments = person.get("enrolments", [])
        programmes = await store.load_programmes({e["programme_id"] for e in enrolments}, None)
        claim = may_act_on_participant(
            Tenant.municipality(kommunkod),
            {e["municipality"] for e in enrolments if e.get("municipality")},
            shared_in=[
                p.municipalities for p in programmes.values() if p.cross_municipality_case_handling
            ],
        )
    await store.write_audit(
        {
            "at": datetime.now(UTC),
            "action": "read" if claim.allowed else "read_refused",
            "actor": who.actor,
            "reason": who.reason,
            "participant_id": participant_id,
            "municipality": kommunkod,
            "ground": claim.ground,
        }
    )
    if person is None or not claim.allowed:
        return None
    if person.get("protected_identity"):
        return Protected(person.get("birth_year"), person.get("gender"))
    return await store.read_identity(vault, participant_id)


async def export_identities(
    store: IntakeStore, vault: IdentityVault, programme_id: str, who: Accessor
) -> list[tuple[str, IdentityRecord]]:
    """Identities of a programme's participants with identity data (e.g. a follow-up call list)."""
    who.check()
    participants = await store.participants.find(
        {"enrolments.programme_id": programme_id}, {"_id": 1}
    ).to_list()
    ids = sorted(doc["_id"] for doc in participants)
    await store.write_audit(
        {
            "at": datetime.now(UTC),
            "action": "export",
            "actor": who.actor,
            "reason": who.reason,
            "programme_id": programme_id,
            "count": len(ids),
        }
    )
    found = []
    for pid in ids:
        record = await store.read_identity(vault, pid)
        if record is not None:
            found.append((pid, record))
    return found


async def audit_dead_letters(
    store: IntakeStore, who: Accessor, action: str, letters: Iterable[str]
) -> None:
    """Intake's dead letters are the referral topic's records byte for byte, clear personnummer
    included: shown or replayed only by a named actor, for a stated reason, audited first."""
    who.check()
    await store.write_audit(
        {
            "at": datetime.now(UTC),
            "action": action,
            "actor": who.actor,
            "reason": who.reason,
            "dead_letters": sorted(letters),
        }
    )


@dataclass(frozen=True)
class Protected:
    """A participant with protected identity: no identity data is held, only what a report's
    placeholder needs."""

    birth_year: int | None
    gender: str | None


async def identities_for_report(
    store: IntakeStore,
    vault: IdentityVault,
    participant_ids: Iterable[str],
    who: Accessor,
    report: str,
    consent: ConsentPurpose | None = None,
) -> dict[str, IdentityRecord | Protected]:
    """The identities a report to an authority needs (SCB's ESF participant file): each
    participant's sealed identity, or, for protected identity, the birth year and gender for
    the placeholder; those not found (erased) are left out, and so, where the report needs a
    `consent`, are those who have not given it. One audit entry names the actor, the reason,
    the report and how many were asked for, before anything is opened."""
    who.check()
    ids = sorted(set(participant_ids))
    await store.write_audit(
        {
            "at": datetime.now(UTC),
            "action": "export",
            "actor": who.actor,
            "reason": who.reason,
            "report": report,
            "count": len(ids),
        }
    )
    people = await store.participants_by_id(ids, None)
    found: dict[str, IdentityRecord | Protected] = {}
    for pid, person in people.items():
        if person.get("protected_identity"):
            found[pid] = Protected(person.get("birth_year"), person.get("gender"))
        elif consent is not None and not (person.get("consents") or {}).get(consent.value, {}).get(
            "granted"
        ):
            continue
        elif (record := await store.read_identity(vault, pid)) is not None:
            found[pid] = record
    return found
