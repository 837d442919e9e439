"""Intake's use cases: referrals, consents and erasure requests in; decisions and events out.

Everything on the inbound referral topic identifies people in clear. What leaves intake carries
only the pseudonymous participant id; the clear personnummer, name and contact details are sealed
in the identity store with the person's own key.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from services.intake import domain
from services.intake.identity import IdentityRecord, IdentityVault
from services.intake.personnummer import InvalidPersonnummer, Personnummer, parse
from services.intake.store import IntakeStore
from shared.contracts.envelope import Envelope, derive_event_id, new_event
from shared.contracts.intake import (
    ConsentChanged,
    ParticipantEnrolled,
    ParticipantErased,
    ReferralRejected,
    ReferralRejectedV2,
    SpecialCategoriesRecorded,
    referral_rejected_v2,
)
from shared.contracts.municipal import (
    ConsentRecorded,
    ErasureRequested,
    ProgrammeDefined,
    ReferralReceived,
)
from shared.contracts.registry import UnreadableEvent
from shared.contracts.vocabulary import ErasureReason, RejectionReason
from shared.messaging.consumer import HandlerContext
from shared.messaging.records import InboundRecord, Received
from shared.observability import get_logger
from shared.persistence import ServiceDatabase, Transaction

SOURCE = "/insats/intake"
log = get_logger(__name__)

_UNREADABLE_MESSAGES = {
    "INVALID_JSON": ("The message is not valid JSON.", "Meddelandet är inte giltig JSON."),
    "UNKNOWN_EVENT_TYPE": (
        "The message is not a referral, consent or erasure event.",
        "Meddelandet är inte en remiss-, samtyckes- eller raderingshändelse.",
    ),
    "SCHEMA_VIOLATION": (
        "The referral does not follow the schema",
        "Remissen följer inte schemat",
    ),
}


class IntakeHandlers:
    def __init__(
        self,
        store: IntakeStore,
        pseudonym_key: bytes,
        vault: IdentityVault,
        municipalities: Collection[str],
    ) -> None:
        self.store = store
        self.pseudonym = domain.pseudonymiser(pseudonym_key)
        self.vault = vault
        self.municipalities = municipalities

    async def on_programmes(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        # Later definitions of the same programme win: keep the last of each in the batch.
        latest: dict[str, ProgrammeDefined] = {}
        for item in batch:
            definition: ProgrammeDefined = item.event.data
            latest[definition.programme_id] = definition
        await self.store.save_programmes(latest.values(), ctx.session)

    async def on_inbound(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        """Referrals in bulk; a consent or an erasure request in between is applied in its place,
        so a batch is applied as if its events came one at a time."""
        pending: list[Received] = []
        for item in batch:
            if isinstance(item.event.data, ReferralReceived):
                pending.append(item)
                continue
            await self._referrals(pending, ctx)
            pending = []
            if isinstance(item.event.data, ConsentRecorded):
                await self._consent(item, ctx)
            elif isinstance(item.event.data, ErasureRequested):
                await self._erasure(item, ctx)
        await self._referrals(pending, ctx)

    async def on_activity(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        """Placements and follow-ups keep a participant's record alive for the retention rule."""
        ids = {str(getattr(item.event.data, "participant_id", "")) for item in batch}
        await self.store.touch(ids - {""}, ctx.now, ctx.session)

    # --- referrals ---------------------------------------------------------------------------

    async def _referrals(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        if not batch:
            return
        referrals: list[ReferralReceived] = [item.event.data for item in batch]
        people = [domain.identify(referral) for referral in referrals]
        pseudonyms = {
            index: self.pseudonym(person)
            for index, person in enumerate(people)
            if isinstance(person, Personnummer)
        }
        programmes = await self.store.load_programmes(
            (referral.programme_id for referral in referrals), ctx.session
        )
        known = await self.store.participants_by_id(pseudonyms.values(), ctx.session)
        enrolled = {
            pid: {e["programme_id"] for e in doc.get("enrolments", [])}
            for pid, doc in known.items()
        }
        enrolments: list[tuple[ParticipantEnrolled, bool]] = []
        identities: dict[str, IdentityRecord] = {}
        protected: set[str] = set()
        decisions: list[dict[str, Any]] = []
        for index, (item, referral, person) in enumerate(
            zip(batch, referrals, people, strict=True)
        ):
            if isinstance(person, domain.Rejection):
                decision: domain.Decision = person
            else:
                decision = domain.decide(
                    referral,
                    person,
                    pseudonyms[index],
                    programmes.get(referral.programme_id),
                    self.municipalities,
                    enrolled.get(pseudonyms[index], set()),
                )
            record = {
                # One decision per delivery that was decided: a referral sent again (even the very
                # same event, when it was rejected) is decided again, and inserted, not upserted.
                "_id": item.record.coordinates,
                "event_id": str(item.event.id),
                "referral_id": referral.referral_id,
                "programme_id": referral.programme_id,
                "municipality": referral.municipality,
                "received_at": item.event.time,
            }
            if isinstance(decision, domain.Rejection):
                decisions.append(
                    {
                        **record,
                        "decision": "rejected",
                        "reason": decision.reason.value,
                        "rule": decision.rule,
                    }
                )
                self._reject(item, referral, decision, ctx)
                continue
            participant = decision.participant
            pid = participant.participant_id
            enrolled.setdefault(pid, set()).add(participant.programme_id)
            enrolments.append((participant, referral.protected_identity))
            if referral.protected_identity:
                protected.add(pid)
                identities.pop(pid, None)
            else:
                protected.discard(pid)
                identities[pid] = _identity_of(referral, decision.person)
            decisions.append({**record, "decision": "enrolled", "participant_id": pid})
            ctx.emit(
                new_event(
                    participant, source=SOURCE, municipality=referral.municipality, cause=item.event
                )
            )
            if decision.special_categories:
                ctx.emit(
                    new_event(
                        SpecialCategoriesRecorded(
                            participant_id=pid,
                            programme_id=participant.programme_id,
                            target_groups=list(decision.special_categories),
                        ),
                        source=SOURCE,
                        municipality=referral.municipality,
                        cause=item.event,
                    )
                )
            item.log.info("referral enrolled", programme=referral.programme_id)
        await self._seal(identities, protected, set(known), ctx)
        await self.store.record_referrals(enrolments, decisions, set(known), ctx.now, ctx.session)

    async def _seal(
        self,
        identities: dict[str, IdentityRecord],
        protected: set[str],
        known: set[str],
        ctx: HandlerContext,
    ) -> None:
        """Seal each identity with the person's key: the existing one, or a new one. Only a
        participant already stored can have a key (a key is written with the participant and
        erased with it), so only those are looked up: most referrals are of new people."""
        if not identities and not protected:
            return
        wrapped = await self.store.wrapped_keys(
            [pid for pid in identities if pid in known], ctx.session
        )
        new_keys: dict[str, bytes] = {}
        sealed: dict[str, bytes] = {}
        for pid, identity in identities.items():
            if pid in wrapped:
                person_key = self.vault.unwrap(wrapped[pid], pid)
            else:
                person_key = self.vault.new_person_key()
                new_keys[pid] = self.vault.wrap(person_key, pid)
            sealed[pid] = self.vault.seal(identity, person_key, pid)
        await self.store.save_identities(new_keys, sealed, protected, ctx.now, ctx.session)

    def _reject(
        self,
        item: Received,
        referral: ReferralReceived,
        rejection: domain.Rejection,
        ctx: HandlerContext,
    ) -> None:
        event = ReferralRejected(
            referral_id=referral.referral_id,
            programme_id=referral.programme_id,
            municipality=referral.municipality,
            reason=rejection.reason,
            rule=rejection.rule,
            message=rejection.message,
            message_sv=rejection.message_sv,
            received_at=item.event.time,
        )
        v1 = new_event(event, source=SOURCE, municipality=referral.municipality, cause=item.event)
        ctx.emit(v1)
        # v2 beside v1 for the transition period (docs/contract/README.md), same cause and time.
        ctx.emit(
            new_event(
                referral_rejected_v2(event),
                source=SOURCE,
                municipality=referral.municipality,
                cause=item.event,
                time=v1.time,
            )
        )
        if rejection.reason in domain.BAD_INPUT:
            ctx.reject(item, rejection.reason.value, rejection.message)
        else:
            item.log.info(
                "referral not eligible", reason=rejection.reason.value, rule=rejection.rule
            )

    # --- consent -----------------------------------------------------------------------------

    async def _consent(self, item: Received, ctx: HandlerContext) -> None:
        request: ConsentRecorded = item.event.data
        pid = await self._known_participant(
            item, request.personnummer, request.participant_id, request.recorded_on, ctx
        )
        if pid is None:
            return
        await self.store.record_consent(
            pid,
            request.purpose.value,
            {
                "granted": request.granted,
                "on": request.recorded_on.isoformat(),
                "source": request.source,
            },
            ctx.now,
            ctx.session,
        )
        ctx.emit(
            new_event(
                ConsentChanged(
                    participant_id=pid,
                    purpose=request.purpose,
                    granted=request.granted,
                    recorded_on=request.recorded_on,
                    source=request.source,
                ),
                source=SOURCE,
                municipality=request.municipality,
                cause=item.event,
            )
        )
        item.log.info("consent recorded", purpose=request.purpose.value, granted=request.granted)

    # --- erasure -----------------------------------------------------------------------------

    async def _erasure(self, item: Received, ctx: HandlerContext) -> None:
        request: ErasureRequested = item.event.data
        pid = await self._known_participant(
            item, request.personnummer, request.participant_id, ctx.now.date(), ctx
        )
        if pid is None:
            return
        await self.erase(
            pid,
            request.reason,
            request.requested_by,
            request.request_id,
            ctx,
            municipality=request.municipality,
            cause=item.event,
        )

    async def erase(
        self,
        pid: str,
        reason: ErasureReason,
        requested_by: str,
        request_id: str,
        ctx: HandlerContext,
        *,
        municipality: str | None,
        cause: Envelope[Any] | None,
    ) -> None:
        await self.store.erase(pid, ctx.session)
        await self.store.write_audit(
            {
                "at": ctx.now,
                "action": "erase",
                "actor": requested_by,
                "reason": reason.value,
                "request_id": request_id,
            },
            ctx.session,
        )
        erased = ParticipantErased(participant_id=pid, reason=reason, erased_on=ctx.now.date())
        ctx.emit(
            new_event(
                erased,
                source=SOURCE,
                municipality=municipality,
                cause=cause,
                time=ctx.now,
                event_id=None if cause else derive_event_id(pid, f"erased/{ctx.now.isoformat()}"),
            )
        )
        log.info("participant erased", reason=reason.value, request_id=request_id)

    async def erase_idle(
        self, db: ServiceDatabase, cutoff: datetime, dead_letter_topic: str, limit: int = 200
    ) -> int:
        """The retention rule: erase participants with no event since `cutoff`, one transaction
        each, so a failure midway leaves every erasure either done or not begun."""
        erased = 0
        for pid in await self.store.idle_since(cutoff, limit):

            async def one(tx: Transaction, pid: str = pid) -> None:
                ctx = HandlerContext(tx=tx, service="intake", dead_letter_topic=dead_letter_topic)
                await self.erase(
                    pid,
                    ErasureReason.RETENTION,
                    "insats/retention",
                    f"retention:{cutoff.date().isoformat()}",
                    ctx,
                    municipality=None,
                    cause=None,
                )

            await db.in_transaction(one)
            erased += 1
        return erased

    async def _known_participant(
        self,
        item: Received,
        personnummer: str | None,
        participant_id: str | None,
        reference: date,
        ctx: HandlerContext,
    ) -> str | None:
        """The participant a request names, or None after dead-lettering it with the reason."""
        if personnummer is not None:
            try:
                participant_id = self.pseudonym(parse(personnummer, reference))
            except InvalidPersonnummer as problem:
                ctx.reject(
                    item,
                    RejectionReason.INVALID_PERSONNUMMER.value,
                    f"Invalid personnummer: {problem.message}.",
                )
                return None
        known = await self.store.participants_by_id([participant_id or ""], ctx.session)
        if participant_id not in known:
            ctx.reject(item, "UNKNOWN_PARTICIPANT", "No participant with that identity.")
            return None
        return participant_id

    # --- unreadable input --------------------------------------------------------------------

    async def on_unreadable_referral(
        self, record: InboundRecord, error: UnreadableEvent, ctx: HandlerContext
    ) -> None:
        """A malformed referral still gets an answer the sending system can match on."""
        referral_id, municipality = _salvage_identifiers(record)
        english, swedish = _UNREADABLE_MESSAGES.get(
            error.code, _UNREADABLE_MESSAGES["SCHEMA_VIOLATION"]
        )
        detail = f": {error.reason}" if error.code == "SCHEMA_VIOLATION" else ""
        event = ReferralRejected(
            referral_id=referral_id,
            municipality=municipality,
            reason=RejectionReason(error.code),
            message=f"{english}{detail}",
            message_sv=f"{swedish}{detail}",
            received_at=ctx.now,
        )
        for data, type_name in (
            (event, ReferralRejected.TYPE),
            (referral_rejected_v2(event), ReferralRejectedV2.TYPE),
        ):
            ctx.emit(
                new_event(
                    data,
                    source=SOURCE,
                    municipality=municipality,
                    time=ctx.now,
                    event_id=derive_event_id(record.coordinates, type_name),
                )
            )


def _identity_of(referral: ReferralReceived, person: Personnummer) -> IdentityRecord:
    contact = referral.contact
    return IdentityRecord(
        personnummer=person.normalised,
        name=referral.name,
        phone=contact.phone if contact else None,
        email=contact.email if contact else None,
        address=contact.address if contact else None,
    )


def _salvage_identifiers(record: InboundRecord) -> tuple[str, str | None]:
    """The referral id and municipality, if the broken message still shows them."""
    fallback = record.key.decode(errors="replace") if record.key else record.coordinates
    try:
        document = json.loads(record.value)
        data = document.get("data", {}) if isinstance(document, dict) else {}
    except (ValueError, AttributeError):
        return fallback, None
    referral_id = data.get("referral_id") if isinstance(data, dict) else None
    municipality = data.get("municipality") if isinstance(data, dict) else None
    if not (isinstance(referral_id, str) and referral_id.strip()):
        referral_id = fallback
    if not (isinstance(municipality, str) and len(municipality) == 4 and municipality.isdigit()):
        municipality = None
    return referral_id, municipality
