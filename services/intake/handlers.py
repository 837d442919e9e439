"""Intake's use cases: referrals, consents and erasure requests in; decisions and events out.

Everything on the inbound referral topic identifies people in clear. What leaves intake carries
only the pseudonymous participant id; the clear personnummer, name and contact details are sealed
in the identity store with the person's own key.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from services.intake import domain, place_eligibility
from services.intake.identity import IdentityRecord, IdentityVault
from services.intake.person_index import LINK, REFERRAL, Entry, new_participant_id
from services.intake.personnummer import InvalidPersonnummer, Personnummer, parse
from services.intake.place_eligibility import EligibilityFacts
from services.intake.store import IntakeStore, facts_of
from shared.audience import audience_view, pseudonyms_of
from shared.business_day import day_in_sweden
from shared.contracts import topics
from shared.contracts.envelope import Envelope, derive_event_id, new_event
from shared.contracts.intake import (
    ConsentChanged,
    EligibilityDecided,
    IdentityLinked,
    ParticipantEnrolled,
    ParticipantErased,
    ParticipantMoved,
    ParticipantsMerged,
    ParticipationExited,
    PlanAdopted,
    ProtectedIdentityChanged,
    ReferralRejected,
    ReferralRejectedV2,
    SpecialCategoriesRecorded,
    referral_rejected_v2,
)
from shared.contracts.municipal import (
    AgreementSigned,
    ConsentRecorded,
    ErasureRequested,
    IdentityLinkRecorded,
    ParticipationExitRecorded,
    PlaceEligibility,
    PlanRecorded,
    ProgrammeDefined,
    ProtectedIdentityRecorded,
    ReferralReceived,
    ResidenceChangeRecorded,
)
from shared.contracts.placement import PlacementEnded
from shared.contracts.registry import UnreadableEvent
from shared.contracts.scoped import resident_view
from shared.contracts.tenants import Tenant
from shared.contracts.vocabulary import (
    ErasureReason,
    Identifier,
    InputRefusal,
    Kommunkod,
    RejectionReason,
)
from shared.key_custody import Wrapped
from shared.messaging.consumer import HandlerContext
from shared.messaging.records import InboundRecord, Received
from shared.observability import get_logger
from shared.ownership import may_act_on_participant, owner_after
from shared.persistence import ServiceDatabase, Transaction

SOURCE = "/insats/intake"
log = get_logger(__name__)
_DOCUMENT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_KOMMUNKOD: TypeAdapter[str] = TypeAdapter(Kommunkod)

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
        *,
        referral_max_age: timedelta = timedelta(days=90),
        erasure_hold: timedelta = timedelta(hours=72),
        today: date | None = None,
    ) -> None:
        self.store = store
        self.lookup = domain.person_lookup(pseudonym_key)
        self.vault = vault
        self.municipalities = municipalities
        self.referral_max_age = referral_max_age
        # As long as the referral topic keeps a record: no referral made before an erasure
        # request can arrive after that.
        self.erasure_hold = erasure_hold
        self.today = today

    def received_on(self, item: Received, ctx: HandlerContext) -> date:
        """The day intake received an input, in Sweden: the broker's append time (which the
        sender cannot set on a topic with LogAppendTime), else the moment it is applied. A demo
        or test that fixes today (INSATS_TODAY) receives everything on that day."""
        if self.today is not None:
            return self.today
        return day_in_sweden(item.record.appended_at or ctx.now)

    async def on_programmes(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        """Each programme belongs to the tenant that first defined it; a definition from anyone
        else is passed over here (placement, which owns the channel, answers it). Later
        definitions of the same programme win: keep the last of each in the batch."""
        batch = [item for item in batch if isinstance(item.event.data, ProgrammeDefined)]
        owners = await self.store.programme_owners(
            {item.event.data.programme_id for item in batch}, ctx.session
        )
        latest: dict[str, tuple[ProgrammeDefined, str]] = {}
        for item in batch:
            definition: ProgrammeDefined = item.event.data
            assert item.tenant is not None
            owner = owner_after(owners.get(definition.programme_id), item.tenant)
            if owner is None:
                item.log.info("programme definition by another tenant passed over")
                continue
            owners[definition.programme_id] = owner
            latest[definition.programme_id] = (definition, owner)
        await self.store.save_programmes(latest.values(), ctx.session)

    async def on_agreements(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        """An agreement whose places are for some participants only (or no longer are, or on
        other conditions): every open enrolment of its programme is decided again on the
        programme's conditions as they now stand. Placement, which owns the channel, answers
        the agreement; an agreement its programme's owner did not sign decides nothing."""
        changed: dict[str, Received] = {}
        for item in batch:
            agreement = item.event.data
            if not isinstance(agreement, AgreementSigned):
                continue
            assert item.tenant is not None
            before = await self.store.save_agreement(agreement, item.tenant.key, ctx.session)
            if before != agreement.restricted_to():
                changed[agreement.programme_id] = item
        if not changed:
            return
        restricted = await self.store.restricted_agreements(changed, ctx.session)
        for programme_id, item in changed.items():
            day = self.received_on(item, ctx)
            for pid, enrolment in await self.store.open_enrolments_in(programme_id, ctx.session):
                self._decide_places(
                    pid,
                    programme_id,
                    int(enrolment.get("participation", 1)),
                    str(enrolment.get("municipality") or ""),
                    facts_of(enrolment),
                    restricted.get(programme_id, {}),
                    day,
                    item,
                    ctx,
                )

    def _decide_places(
        self,
        participant_id: str,
        programme_id: str,
        participation: int,
        municipality: str,
        facts: EligibilityFacts | None,
        restricted: Mapping[str, PlaceEligibility],
        day: date,
        cause: Received,
        ctx: HandlerContext,
    ) -> None:
        ctx.emit(
            new_event(
                EligibilityDecided(
                    participant_id=participant_id,
                    programme_id=programme_id,
                    participation=participation,
                    agreements=place_eligibility.decide(restricted, facts),
                    decided_on=day,
                ),
                source=SOURCE,
                municipality=municipality or None,
                cause=cause.event,
                discriminator=f"{participant_id}/{participation}",
            )
        )

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
            elif isinstance(item.event.data, ProtectedIdentityRecorded):
                await self._protection(item, ctx)
            elif isinstance(item.event.data, ParticipationExitRecorded):
                await self._exit(item, ctx)
            elif isinstance(item.event.data, PlanRecorded):
                await self._plan(item, ctx)
            elif isinstance(item.event.data, IdentityLinkRecorded):
                await self._link(item, ctx)
            elif isinstance(item.event.data, ResidenceChangeRecorded):
                await self._move(item, ctx)
        await self._referrals(pending, ctx)

    async def on_activity(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        """Placements and follow-ups keep a participant's record alive for the retention rule; a
        placement that ends with the programme closes the enrolment."""
        ids = {str(getattr(item.event.data, "participant_id", "")) for item in batch}
        await self.store.touch(ids - {""}, ctx.now, ctx.session)
        for item in batch:
            ended = item.event.data
            if isinstance(ended, PlacementEnded) and ended.exits_programme:
                await self.store.close_enrolment(
                    ended.participant_id,
                    ended.programme_id,
                    {"exited_on": ended.end_date.isoformat(), "exited_by": "placement"},
                    ctx.session,
                )

    # --- referrals ---------------------------------------------------------------------------

    async def _referrals(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        if not batch:
            return
        referrals: list[ReferralReceived] = [item.event.data for item in batch]
        received = [self.received_on(item, ctx) for item in batch]
        people = [
            domain.boundary_failure(
                referral,
                item.tenant.kommunkod if item.tenant else None,
                on,
                self.referral_max_age,
            )
            or domain.identify(referral, on)
            for item, referral, on in zip(batch, referrals, received, strict=True)
        ]
        # Each identified person's lookup, once: the erasure holds and the index both need it.
        lookups = {
            index: self.lookup(person)
            for index, person in enumerate(people)
            if isinstance(person, Personnummer)
        }
        people = await self._erased_before(batch, people, lookups, ctx)
        pseudonyms, fresh = await self._participant_ids(
            {index: lookups[index] for index in lookups if isinstance(people[index], Personnummer)},
            ctx,
        )
        programmes = await self.store.load_programmes(
            (referral.programme_id for referral in referrals), ctx.session
        )
        known = await self.store.participants_by_id(
            (pid for pid in pseudonyms.values() if pid not in fresh.values()), ctx.session
        )
        # Only an open enrolment stands in the way of another: a person who left may return.
        enrolled = {
            pid: {e["programme_id"] for e in doc.get("enrolments", []) if not e.get("exited_on")}
            for pid, doc in known.items()
        }
        earlier = {pid: doc.get("enrolments", []) for pid, doc in known.items()}
        returning: Counter[tuple[str, str]] = Counter()
        # Protection is sticky: only insats.protected-identity.recorded.v1 ends it, never a
        # later referral that leaves the flag out (a case system that does not know of it).
        protected_before = {pid for pid, doc in known.items() if doc.get("protected_identity")}
        enrolments: list[tuple[ParticipantEnrolled, bool, EligibilityFacts, Received, date]] = []
        identities: dict[str, IdentityRecord] = {}
        protected: set[str] = set()
        decisions: list[dict[str, Any]] = []
        for index, (item, referral, person) in enumerate(
            zip(batch, referrals, people, strict=True)
        ):
            if isinstance(person, domain.Rejection):
                decision: domain.Decision = person
            else:
                pid = pseudonyms[index]
                decision = domain.decide(
                    referral,
                    person,
                    pid,
                    programmes.get(referral.programme_id),
                    self.municipalities,
                    enrolled.get(pid, set()),
                    received[index],
                    participation=domain.participations(earlier.get(pid, []), referral.programme_id)
                    + returning[(pid, referral.programme_id)]
                    + 1,
                )
            record = {
                # One decision per delivery that was decided: a referral sent again (even the very
                # same event, when it was rejected) is decided again, and inserted, not upserted.
                "_id": item.record.coordinates,
                "event_id": str(item.event.id),
                "referral_id": referral.referral_id,
                "programme_id": referral.programme_id,
                "municipality": _answered(item),
                "received_at": item.event.time,
                # When intake decided: what the decision's retention runs from.
                "decided_at": ctx.now,
            }
            if isinstance(decision, domain.Rejection):
                decisions.append(_rejected(record, decision, pseudonyms.get(index)))
                self._reject(item, referral, decision, ctx)
                continue
            participant = decision.participant
            pid = participant.participant_id
            is_protected = (
                referral.protected_identity or pid in protected_before or pid in protected
            )
            if is_protected:
                participant = participant.model_copy(update={"protected_identity": True})
            enrolled.setdefault(pid, set()).add(participant.programme_id)
            returning[(pid, participant.programme_id)] += 1
            facts = EligibilityFacts(
                gender=participant.gender,
                age=participant.age_at_referral,
                target_groups=frozenset(participant.target_groups)
                | frozenset(decision.special_categories),
            )
            enrolments.append((participant, is_protected, facts, item, received[index]))
            if is_protected:
                protected.add(pid)
                identities.pop(pid, None)
            else:
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
                            participation=participant.participation,
                        ),
                        source=SOURCE,
                        municipality=referral.municipality,
                        cause=item.event,
                    )
                )
            item.log.info("referral enrolled", programme=referral.programme_id)
        await self._name_new(
            fresh, {enrolled.participant_id for enrolled, *_ in enrolments}, decisions, ctx
        )
        await self._seal(identities, protected, set(known), ctx)
        await self.store.record_referrals(
            [(enrolled, is_protected, facts) for enrolled, is_protected, facts, *_ in enrolments],
            decisions,
            set(known),
            ctx.now,
            ctx.session,
        )
        await self._decide_enrolments(
            [(enrolled, facts, item, day) for enrolled, _, facts, item, day in enrolments], ctx
        )

    async def _erased_before(
        self,
        batch: Sequence[Received],
        people: list[Any],
        lookups: Mapping[int, str],
        ctx: HandlerContext,
    ) -> list[Any]:
        """Each person as identified, or refused where the municipality that sent the referral
        asked for the person's erasure after making it (erasure_holds.py)."""
        wanted: dict[int, tuple[str, str]] = {}
        for index, lookup in lookups.items():
            tenant = batch[index].tenant
            if tenant is not None and tenant.kommunkod is not None:
                wanted[index] = (tenant.kommunkod, lookup)
        held = await self.store.erasure_holds.held(wanted.values(), ctx.now, ctx.session)
        if not held:
            return people
        return [
            (
                domain.sent_before_erasure(item.event.time, held.get(wanted[index]))
                if index in wanted
                else None
            )
            or person
            for index, (item, person) in enumerate(zip(batch, people, strict=True))
        ]

    async def _participant_ids(
        self, lookups: Mapping[int, str], ctx: HandlerContext
    ) -> tuple[dict[int, str], dict[str, str]]:
        """The participant each identified person is (by position in the batch, by their
        lookup), and the random ids given to people new to intake, one per person, by their
        lookup. A personnummer linked to a samordningsnummer names the participant the other
        did."""
        named = await self.store.named(lookups.values(), ctx.session)
        fresh = {
            lookup: new_participant_id() for lookup in set(lookups.values()) if lookup not in named
        }
        return {
            index: named[lookup].participant_id if lookup in named else fresh[lookup]
            for index, lookup in lookups.items()
        }, fresh

    async def _name_new(
        self,
        fresh: dict[str, str],
        enrolled: set[str],
        decisions: list[dict[str, Any]],
        ctx: HandlerContext,
    ) -> None:
        """The index names the new people who were enrolled. A new person who was not is no
        participant: their decision names no one."""
        await self.store.name(
            {lookup: Entry(pid, REFERRAL) for lookup, pid in fresh.items() if pid in enrolled},
            ctx.now,
            ctx.session,
        )
        unnamed = set(fresh.values()) - enrolled
        for decision in decisions:
            if decision.get("participant_id") in unnamed:
                del decision["participant_id"]

    async def _decide_enrolments(
        self,
        deciding: Sequence[tuple[ParticipantEnrolled, EligibilityFacts, Received, date]],
        ctx: HandlerContext,
    ) -> None:
        """Places some are not eligible for: each enrolment is decided once it is enrolled (its
        events after the enrolment on the participant's partition), so none is offered them
        undecided."""
        if not deciding:
            return
        restricted = await self.store.restricted_agreements(
            {enrolled.programme_id for enrolled, *_ in deciding}, ctx.session
        )
        for enrolled, facts, item, day in deciding:
            if enrolled.programme_id in restricted:
                self._decide_places(
                    enrolled.participant_id,
                    enrolled.programme_id,
                    enrolled.participation,
                    enrolled.municipality,
                    facts,
                    restricted[enrolled.programme_id],
                    day,
                    item,
                    ctx,
                )

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
        new_keys: dict[str, Wrapped] = {}
        sealed: dict[str, bytes] = {}
        for pid, given in identities.items():
            record = given
            if pid in wrapped:
                person_key = self.vault.unwrap(wrapped[pid], pid)
                # A later referral that leaves out the name or a contact detail keeps the one
                # held; one that gives it, replaces it.
                held = await self.store.read_identity(self.vault, pid, ctx.session)
                if held is not None:
                    record = _completed(given, held)
            else:
                person_key = self.vault.new_person_key()
                new_keys[pid] = self.vault.wrap(person_key, pid)
            sealed[pid] = self.vault.seal(record, person_key, pid)
        await self.store.save_identities(new_keys, sealed, protected, ctx.now, ctx.session)

    def _reject(
        self,
        item: Received,
        referral: ReferralReceived,
        rejection: domain.Rejection,
        ctx: HandlerContext,
    ) -> None:
        # Answered to the municipality that sent the referral, whatever home municipality it named.
        answer_to = _answered(item)
        event = ReferralRejected(
            referral_id=referral.referral_id,
            programme_id=referral.programme_id,
            municipality=answer_to,
            reason=rejection.reason,
            rule=rejection.rule,
            message=rejection.message,
            message_sv=rejection.message_sv,
            received_at=item.event.time,
        )
        v1 = new_event(event, source=SOURCE, municipality=answer_to, cause=item.event)
        ctx.emit(v1)
        # v2 beside v1 for the transition period (docs/contract/README.md), same cause and time.
        ctx.emit(
            new_event(
                referral_rejected_v2(event),
                source=SOURCE,
                municipality=answer_to,
                cause=item.event,
                time=v1.time,
            )
        )
        if rejection.reason in domain.BAD_INPUT:
            # The rejection above is the answer; the dead letter is for the operator.
            ctx.reject(item, rejection.reason.value, rejection.message, answer=False)
        else:
            item.log.info(
                "referral not eligible", reason=rejection.reason.value, rule=rejection.rule
            )

    # --- consent -----------------------------------------------------------------------------

    async def _consent(self, item: Received, ctx: HandlerContext) -> None:
        request: ConsentRecorded = item.event.data
        claimed = await self._participant_of_sender(
            item, request.municipality, request.personnummer, request.participant_id, ctx
        )
        if claimed is None:
            return
        pid, _ = claimed
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
                municipality=_answered(item),
                cause=item.event,
            )
        )
        item.log.info("consent recorded", purpose=request.purpose.value, granted=request.granted)

    # --- protected identity ------------------------------------------------------------------

    async def _protection(self, item: Received, ctx: HandlerContext) -> None:
        """Protected from now on: every identity datum and the person's key go, at once. No
        longer protected: the flag goes, and identity data is stored again only when a referral
        brings it. Either way audited, and told to placement as a restriction."""
        request: ProtectedIdentityRecorded = item.event.data
        claimed = await self._participant_of_sender(
            item, request.municipality, request.personnummer, request.participant_id, ctx
        )
        if claimed is None:
            return
        pid, _ = claimed
        await self.store.set_protected_identity(pid, request.protected, ctx.now, ctx.session)
        await self._audit_request(
            "protect_identity" if request.protected else "end_identity_protection",
            request.source,
            pid,
            request.request_id,
            item,
            ctx,
        )
        ctx.emit(
            new_event(
                ProtectedIdentityChanged(
                    participant_id=pid,
                    protected=request.protected,
                    recorded_on=request.recorded_on,
                ),
                source=SOURCE,
                municipality=_answered(item),
                cause=item.event,
            )
        )
        item.log.info("protected identity recorded", protected=request.protected)

    # --- exits -------------------------------------------------------------------------------

    async def _exit(self, item: Received, ctx: HandlerContext) -> None:
        """Close the open enrolment the caseworker names, and tell the other services. The
        reason as given (long-term sickness included) stays in intake's own record."""
        request: ParticipationExitRecorded = item.event.data
        claimed = await self._participant_of_sender(
            item, request.municipality, request.personnummer, request.participant_id, ctx
        )
        if claimed is None:
            return
        pid, participant = claimed
        enrolment = domain.open_enrolment(participant.get("enrolments", []), request.programme_id)
        if refusal := domain.exit_refusal(enrolment, request, self.received_on(item, ctx)):
            ctx.reject(item, refusal.code.value, refusal.message, message_sv=refusal.message_sv)
            return
        assert enrolment is not None
        await self.store.close_enrolment(
            pid,
            request.programme_id,
            {
                "exited_on": request.exited_on.isoformat(),
                "exit_reason": request.reason.value,
                "exit_request_id": request.request_id,
                "exited_by": request.recorded_by,
            },
            ctx.session,
        )
        ctx.emit(
            new_event(
                domain.exited(enrolment, pid, request),
                source=SOURCE,
                municipality=enrolment.municipality,
                cause=item.event,
            )
        )
        item.log.info("participation exited", programme=request.programme_id)

    async def _plan(self, item: Received, ctx: HandlerContext) -> None:
        """The caseworker's plan for an open enrolment of the municipality's resident, passed on
        to placement if it is newer than the plan before it."""
        request: PlanRecorded = item.event.data
        claimed = await self._participant_of_sender(
            item, request.municipality, request.personnummer, request.participant_id, ctx
        )
        if claimed is None:
            return
        pid, participant = claimed
        enrolments = participant.get("enrolments", [])
        enrolment = domain.open_enrolment(enrolments, request.programme_id)
        if refusal := domain.plan_refusal(enrolment, enrolments, request):
            ctx.reject(item, refusal.code.value, refusal.message, message_sv=refusal.message_sv)
            return
        assert enrolment is not None
        await self.store.update_open_enrolment(
            pid, request.programme_id, {"plan_revision": request.plan.revision}, ctx.session
        )
        ctx.emit(
            new_event(
                PlanAdopted(
                    participant_id=pid,
                    programme_id=request.programme_id,
                    municipality=enrolment.municipality,
                    participation=enrolment.participation,
                    plan=request.plan,
                    recorded_on=request.recorded_on,
                ),
                source=SOURCE,
                municipality=enrolment.municipality,
                cause=item.event,
            )
        )
        item.log.info(
            "plan adopted", programme=request.programme_id, revision=request.plan.revision
        )

    # --- moves -------------------------------------------------------------------------------

    async def _move(self, item: Received, ctx: HandlerContext) -> None:
        """Each open enrolment follows the person to the new municipality where its programme
        covers it, and ends where it does not. The new municipality's stream carries the move
        (and the person from then on); the old one's stream is told as well."""
        request: ResidenceChangeRecorded = item.event.data
        claimed = await self._participant_of_sender(
            item, request.municipality, request.personnummer, request.participant_id, ctx
        )
        if claimed is None:
            return
        pid, participant = claimed
        enrolments = domain.open_enrolments(participant.get("enrolments", []))
        refusal = domain.move_refusal(
            enrolments, request, self.municipalities, self.received_on(item, ctx)
        )
        if refusal is not None:
            ctx.reject(item, refusal.code.value, refusal.message, message_sv=refusal.message_sv)
            return
        programmes = await self.store.load_programmes(
            {e.programme_id for e in enrolments}, ctx.session
        )
        open_there: list[str] | None = None
        for enrolment in enrolments:
            result = domain.moved(enrolment, pid, request, programmes.get(enrolment.programme_id))
            if isinstance(result, ParticipantMoved):
                await self.store.update_open_enrolment(
                    pid,
                    enrolment.programme_id,
                    {
                        "municipality": result.to_municipality,
                        "moved_on": request.moved_on.isoformat(),
                    },
                    ctx.session,
                )
                # One request moves every enrolment: each event's id derives from its programme.
                envelope = new_event(
                    result,
                    source=SOURCE,
                    municipality=result.to_municipality,
                    cause=item.event,
                    discriminator=enrolment.programme_id,
                )
                ctx.emit(envelope)
                view = resident_view(envelope)
                assert view is not None
                view = view.model_copy(update={"municipality": result.from_municipality})
                ctx.emit(
                    new_event(
                        audience_view(view, pseudonyms_of(ctx.tx.settings)),
                        source=SOURCE,
                        municipality=result.from_municipality,
                        cause=item.event,
                        discriminator=f"moved-from/{enrolment.programme_id}",
                    ),
                    topics.municipality_events_topic(result.from_municipality),
                )
            elif isinstance(result, ParticipationExited):
                await self.store.close_enrolment(
                    pid,
                    enrolment.programme_id,
                    {
                        "exited_on": result.exited_on.isoformat(),
                        "exit_reason": result.reason.value,
                        "exit_request_id": request.request_id,
                        "exited_by": request.recorded_by,
                    },
                    ctx.session,
                )
                ctx.emit(
                    new_event(
                        result,
                        source=SOURCE,
                        municipality=result.municipality,
                        cause=item.event,
                        discriminator=enrolment.programme_id,
                    )
                )
                if open_there is None:
                    covering = await self.store.programmes_covering(
                        request.to_municipality, ctx.session
                    )
                    # Not those the person is enrolled in already (and takes along).
                    open_there = [
                        programme_id
                        for programme_id in domain.open_to(
                            covering, request.to_municipality, request.moved_on
                        )
                        if programme_id not in {e.programme_id for e in enrolments}
                    ]
                ctx.emit(
                    new_event(
                        domain.handed_over(result, request, open_there),
                        source=SOURCE,
                        municipality=request.to_municipality,
                        cause=item.event,
                        discriminator=f"handed-over/{enrolment.programme_id}",
                    )
                )
        item.log.info("residence change recorded", to=request.to_municipality)

    # --- samordningsnummer to personnummer ---------------------------------------------------

    async def _link(self, item: Received, ctx: HandlerContext) -> None:
        """From now on the personnummer names the participant the samordningsnummer named: the
        participant id stays, so nothing downstream changes; the sealed identity carries the
        personnummer. Audited, and answered with insats.identity.linked.v1."""
        request: IdentityLinkRecorded = item.event.data
        on = self.received_on(item, ctx)
        try:
            coordination, person = (
                parse(request.samordningsnummer, on),
                parse(request.personnummer, on),
            )
        except InvalidPersonnummer as problem:
            ctx.reject(
                item,
                RejectionReason.INVALID_PERSONNUMMER.value,
                f"Invalid personnummer: {problem.message}.",
                message_sv=f"Ogiltigt personnummer: {problem.message_sv}.",
            )
            return
        if not coordination.coordination or person.coordination:
            ctx.reject(
                item,
                RejectionReason.INVALID_PERSONNUMMER.value,
                "A link goes from a samordningsnummer to a personnummer.",
                message_sv="En koppling går från ett samordningsnummer till ett personnummer.",
            )
            return
        claimed = await self._participant_of_sender(
            item, request.municipality, request.samordningsnummer, None, ctx
        )
        if claimed is None:
            return
        pid, participant = claimed
        lookup = self.lookup(person)
        entry = (await self.store.named([lookup], ctx.session)).get(lookup)
        other = entry.participant_id if entry is not None and entry.participant_id != pid else None
        if other is not None and entry is not None and entry.kind == LINK:
            # Linked already, to the samordningsnummer of someone else.
            self._identity_in_use(item, ctx)
            return
        # Referred under the personnummer too, before the link: the participant to merge.
        alias = other or ""
        merged = (await self.store.participants_by_id([alias], ctx.session)).get(alias)
        if merged is not None and not await self._mergeable(item, ctx, participant, alias, merged):
            return
        identity = await self.store.read_identity(self.vault, pid, ctx.session)
        if identity is None and merged is not None:
            identity = await self.store.read_identity(self.vault, alias, ctx.session)
        if merged is not None:
            await self._merge(item, ctx, (pid, participant), (alias, merged), request, on)
        await self.store.link_identity(lookup, pid, ctx.now, ctx.session)
        if bool(participant.get("protected_identity")) or bool(
            merged and merged.get("protected_identity")
        ):
            await self.store.set_protected_identity(pid, True, ctx.now, ctx.session)
        elif identity is not None:
            renumbered = replace(identity, personnummer=person.normalised)
            await self._seal({pid: renumbered}, set(), {pid}, ctx)
        await self._audit_request(
            "link_identity", request.recorded_by, pid, request.request_id, item, ctx
        )
        ctx.emit(
            new_event(
                IdentityLinked(participant_id=pid, request_id=request.request_id, linked_on=on),
                source=SOURCE,
                municipality=_answered(item),
                cause=item.event,
            )
        )
        item.log.info("samordningsnummer linked to a personnummer")

    async def _mergeable(
        self,
        item: Received,
        ctx: HandlerContext,
        participant: dict[str, Any],
        alias: str,
        merged: dict[str, Any],
    ) -> bool:
        """Referred under the new number too, before the link: one person, so one participant,
        unless both were in one programme or the sender may not act on the other; else
        answered."""
        in_both = domain.merge_conflict(participant, merged)
        if in_both is not None:
            self._identity_in_use(item, ctx, in_both)
            return False
        return await self._may_act_on(
            item,
            alias,
            merged,
            ctx,
            InputRefusal.IDENTITY_IN_USE,
            "The personnummer already names another participant.",
            "Personnumret anger redan en annan deltagare.",
        )

    async def _merge(
        self,
        item: Received,
        ctx: HandlerContext,
        kept: tuple[str, dict[str, Any]],
        merged: tuple[str, dict[str, Any]],
        request: IdentityLinkRecorded,
        on: date,
    ) -> None:
        """The merged participant's record joins the remaining one's, audited, and the other
        services are told (and told of a restriction the merged one had)."""
        (pid, participant), (alias, other) = kept, merged
        await self.store.merge_participants(
            pid, alias, domain.merged(participant, other), ctx.session
        )
        await self._audit_request(
            "merge_participants", request.recorded_by, alias, request.request_id, item, ctx
        )
        ctx.emit(
            new_event(
                ParticipantsMerged(
                    participant_id=pid,
                    merged_participant_id=alias,
                    request_id=request.request_id,
                    merged_on=on,
                ),
                source=SOURCE,
                municipality=_answered(item),
                cause=item.event,
            )
        )
        if other.get("protected_identity") and not participant.get("protected_identity"):
            ctx.emit(
                new_event(
                    ProtectedIdentityChanged(participant_id=pid, protected=True, recorded_on=on),
                    source=SOURCE,
                    municipality=_answered(item),
                    cause=item.event,
                    discriminator="merged-protection",
                )
            )

    def _identity_in_use(self, item: Received, ctx: HandlerContext, programme: str = "") -> None:
        if programme:
            ctx.reject(
                item,
                InputRefusal.IDENTITY_IN_USE.value,
                f"Both numbers have been enrolled in programme {programme}: the two "
                "participants cannot be merged.",
                message_sv=f"Båda numren har varit inskrivna i programmet {programme}: "
                "deltagarna kan inte slås samman.",
            )
            return
        ctx.reject(
            item,
            InputRefusal.IDENTITY_IN_USE.value,
            "The personnummer already names another participant.",
            message_sv="Personnumret anger redan en annan deltagare.",
        )

    # --- erasure -----------------------------------------------------------------------------

    async def _erasure(self, item: Received, ctx: HandlerContext) -> None:
        request: ErasureRequested = item.event.data
        claimed = await self._participant_of_sender(
            item, request.municipality, request.personnummer, request.participant_id, ctx
        )
        # Answered or not: a referral the municipality made before it may still be on its way.
        await self._hold_erasure(item, request, claimed[0] if claimed else None, ctx)
        if claimed is None:
            return
        pid, _ = claimed
        await self.erase(
            pid,
            request.reason,
            request.requested_by,
            request.request_id,
            ctx,
            municipality=_answered(item),
            cause=item.event,
        )

    async def _hold_erasure(
        self, item: Received, request: ErasureRequested, pid: str | None, ctx: HandlerContext
    ) -> None:
        """Every number of the person the request names, held for the requesting municipality
        (not for one that named another municipality: that request was refused unread)."""
        assert item.tenant is not None
        if request.municipality != item.tenant.kommunkod:
            return
        lookups = await self.store.lookups_of(pid, ctx.session) if pid is not None else set()
        if request.personnummer is not None:
            # An invalid number was answered INVALID_PERSONNUMMER: no referral can name it.
            with contextlib.suppress(InvalidPersonnummer):
                lookups.add(self.lookup(parse(request.personnummer, self.received_on(item, ctx))))
        await self.store.erasure_holds.hold(
            request.municipality,
            lookups,
            item.event.time,
            ctx.now + self.erasure_hold,
            ctx.session,
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
        await ctx.purge_unsent(self.store.db, [pid])
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

    async def _participant_of_sender(
        self,
        item: Received,
        municipality: str,
        personnummer: str | None,
        participant_id: str | None,
        ctx: HandlerContext,
    ) -> tuple[str, dict[str, Any]] | None:
        """The participant a request names, with their stored record, if the sending
        municipality may act on them; else None, after answering. Someone another municipality
        referred gets the very answer an unknown person gets, so no tenant can probe who is
        enrolled elsewhere; the audit records which it was."""
        assert item.tenant is not None
        if municipality != item.tenant.kommunkod:
            ctx.refuse(
                item,
                InputRefusal.MUNICIPALITY_MISMATCH,
                "The request names another municipality than the one that sent it.",
                message_sv="Begäran anger en annan kommun än den som skickade den.",
            )
            return None
        if personnummer is not None:
            try:
                lookup = self.lookup(parse(personnummer, self.received_on(item, ctx)))
                entry = (await self.store.named([lookup], ctx.session)).get(lookup)
                participant_id = entry.participant_id if entry is not None else None
            except InvalidPersonnummer as problem:
                ctx.reject(
                    item,
                    RejectionReason.INVALID_PERSONNUMMER.value,
                    f"Invalid personnummer: {problem.message}.",
                    message_sv=f"Ogiltigt personnummer: {problem.message_sv}.",
                )
                return None
        pid = participant_id or ""
        known = await self.store.participants_by_id([pid], ctx.session)
        if pid not in known:
            ctx.reject(
                item,
                InputRefusal.UNKNOWN_PARTICIPANT.value,
                "No participant with that identity.",
                message_sv="Ingen deltagare med den identiteten.",
            )
            return None
        if not await self._may_act_on(
            item,
            pid,
            known[pid],
            ctx,
            InputRefusal.UNKNOWN_PARTICIPANT,
            "No participant with that identity.",
            "Ingen deltagare med den identiteten.",
        ):
            return None
        return pid, known[pid]

    async def _may_act_on(
        self,
        item: Received,
        pid: str,
        participant: dict[str, Any],
        ctx: HandlerContext,
        refusal: InputRefusal,
        message: str,
        message_sv: str,
    ) -> bool:
        """Whether the sending municipality may act on the participant (it referred them, or
        shares case handling in one of their programmes); if not, refused as given, audited."""
        assert item.tenant is not None
        enrolments = participant.get("enrolments", [])
        programmes = await self.store.load_programmes(
            {e["programme_id"] for e in enrolments}, ctx.session
        )
        claim = may_act_on_participant(
            item.tenant,
            {e.get("municipality") for e in enrolments if e.get("municipality")},
            shared_in=[
                p.municipalities for p in programmes.values() if p.cross_municipality_case_handling
            ],
        )
        if not claim.allowed:
            ctx.refuse(
                item,
                refusal,
                message,
                message_sv=message_sv,
                audit={"participant_id": pid, "ground": claim.ground},
            )
            return False
        if claim.ground != "referred by this municipality":
            ctx.tx.audit(
                {
                    "action": "cross_municipality_case_handling",
                    "tenant": item.tenant.key,
                    "participant_id": pid,
                    "input_type": item.event.type,
                    "input_id": str(item.event.id),
                    "ground": claim.ground,
                }
            )
        return True

    async def _audit_request(
        self,
        action: str,
        actor: str,
        pid: str,
        request_id: str,
        item: Received,
        ctx: HandlerContext,
    ) -> None:
        """A caseworker's request that changes what Insats holds about who a person is."""
        await self.store.write_audit(
            {
                "at": ctx.now,
                "action": action,
                "actor": actor,
                "participant_id": pid,
                "request_id": request_id,
                "municipality": _answered(item),
            },
            ctx.session,
        )

    # --- unreadable input --------------------------------------------------------------------

    async def on_unreadable_referral(
        self,
        record: InboundRecord,
        error: UnreadableEvent,
        tenant: Tenant | None,
        ctx: HandlerContext,
    ) -> None:
        """A malformed referral still gets an answer the sending system can match on: on the
        sending municipality's stream, with the referral id if one can be read that fits the
        contract, else the record's coordinates."""
        referral_id, claimed = _salvage_identifiers(record)
        municipality = tenant.kommunkod if tenant is not None else claimed
        english, swedish = _UNREADABLE_MESSAGES.get(
            error.code, _UNREADABLE_MESSAGES["SCHEMA_VIOLATION"]
        )
        detail = f": {error.reason}" if error.code == "SCHEMA_VIOLATION" else ""
        reason = (
            RejectionReason(error.code)
            if error.code in RejectionReason.__members__
            else RejectionReason.SCHEMA_VIOLATION
        )
        event = ReferralRejected(
            referral_id=referral_id,
            municipality=municipality,
            reason=reason,
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


def _answered(item: Received) -> str | None:
    """The municipality an answer about this input goes to: the one that sent it."""
    return item.tenant.kommunkod if item.tenant is not None else None


def _completed(new: IdentityRecord, held: IdentityRecord) -> IdentityRecord:
    return IdentityRecord(
        personnummer=new.personnummer,
        name=new.name or held.name,
        phone=new.phone or held.phone,
        email=new.email or held.email,
        address=new.address or held.address,
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
    """The referral id and municipality, if the broken message still shows them in a form the
    contract accepts; else the record key (the referral id, by the contract) if it is a valid
    identifier, else the record's coordinates; and no municipality. Nothing in the bytes can
    make this fail: it parses with the same bounded parser as the events themselves."""
    key = record.key.decode("utf-8", errors="replace") if record.key else None
    fallback = _valid(_IDENTIFIER, key) or record.coordinates
    try:
        document = _DOCUMENT.validate_json(record.value)
    except Exception:  # anything at all: this is the path for what could not be read
        return fallback, None
    data = document.get("data")
    if not isinstance(data, dict):
        return fallback, None
    return _valid(_IDENTIFIER, data.get("referral_id")) or fallback, _valid(
        _KOMMUNKOD, data.get("municipality")
    )


def _valid(adapter: TypeAdapter[str], value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return adapter.validate_python(value)
    except Exception:
        return None


def _rejected(
    record: dict[str, Any], rejection: domain.Rejection, participant_id: str | None
) -> dict[str, Any]:
    """A rejected referral's decision. Whose, where the person was identified: their erasure
    removes the case reference from it too. Of a person who asked to be erased, it keeps none."""
    kept = dict(record)
    if rejection.reason is RejectionReason.ERASURE_REQUESTED:
        del kept["referral_id"]
    return {
        **kept,
        "decision": "rejected",
        "reason": rejection.reason.value,
        "rule": rejection.rule,
        **({"participant_id": participant_id} if participant_id is not None else {}),
    }
