"""Placement's use cases. Each loads the books and placements a batch touches, applies the events
in order through the domain, and saves books, placements and the events they cause in one
transaction. Every change to a placement also updates its partner's own stream."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from services.placement import domain, plans
from services.placement.domain import (
    Placement,
    ProgrammeBook,
    Refusal,
    WaitingEntry,
    latest_round,
    offers_at_once,
)
from services.placement.store import PlacementStore, SignedAgreement, partner_vetting
from shared.audience import AudiencePseudonyms, for_partner, pseudonyms_of
from shared.contracts import topics
from shared.contracts.envelope import Envelope, derive_event_id, new_event
from shared.contracts.intake import (
    ConsentChanged,
    EligibilityDecided,
    ParticipantEnrolled,
    ParticipantErased,
    ParticipantMoved,
    ParticipantsMerged,
    ParticipationExited,
    PlanAdopted,
    ProtectedIdentityChanged,
)
from shared.contracts.municipal import (
    AgreementSigned,
    AllocationMode,
    AllocationRoundRequested,
    ContributionDelivered,
    CostReported,
    PartnerRegistered,
    PartnerVetted,
    ProgrammeDefined,
    SupportPolicy,
)
from shared.contracts.partner import (
    AttendanceReported,
    ConcernReported,
    PlacementChangeReported,
    PlacementEndReported,
    SupportCheckInReported,
    SupportTaskClosedReported,
)
from shared.contracts.placement import (
    PartnerNotEligible,
    PartnerPlacementUpdated,
    PartnerSupportNotice,
    PlacementAtRisk,
    PlacementChanged,
    PlacementStarted,
    SupportCheckInDue,
    SupportTaskClosed,
)
from shared.contracts.tenants import Tenant, TenantKind
from shared.contracts.vocabulary import (
    CheckInStatus,
    ConsentPurpose,
    InputRefusal,
    PlacementAction,
    PlacementStatus,
    SupportTaskReason,
)
from shared.messaging.consumer import HandlerContext, answer_input
from shared.messaging.records import Received
from shared.observability import event_fields, get_logger
from shared.ownership import may_report_on_placement, owner_after
from shared.persistence import ServiceDatabase, Transaction
from shared.settings import Settings

SOURCE = "/insats/placement"
log = get_logger(__name__)


class _Work:
    """What one batch changed, saved and published together at its end."""

    def __init__(
        self,
        ctx: HandlerContext,
        books: dict[str, ProgrammeBook],
        *,
        today: date,
        origin: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.today = today  # the business day: offers made now are made on it
        self.books = books
        self.placements: dict[str, tuple[Placement, str]] = {}
        self.agreements: dict[str, SignedAgreement] = {}
        # What the ids of events with no cause event derive from: a round's or a settled
        # burst's own id, so offering the same round again yields the very same events.
        self.origin = origin
        self._changed: dict[str, tuple[date, Envelope[Any]]] = {}

    def allocate(self, book: ProgrammeBook, day: date, cause: Envelope[Any]) -> None:
        """The queue or the places of `book` changed: places are offered once, at the end of the
        batch, over everyone then waiting, never to whoever this batch happened to apply first."""
        earlier = self._changed.get(book.programme_id)
        self._changed[book.programme_id] = (max(day, earlier[0]) if earlier else day, cause)

    def settle(self) -> None:
        """Offer what the batch made offerable, where the programme offers at once; else note
        when it will (after its settle time) and leave rounds to their round."""
        for programme_id, (day, cause) in self._changed.items():
            self.offer_or_defer(self.books[programme_id], day, str(cause.id), cause)
        self._changed.clear()

    def offer_or_defer(
        self, book: ProgrammeBook, day: date, basis: str, cause: Envelope[Any] | None
    ) -> None:
        if offers_at_once(book.definition):
            self.offer(book, day, basis, cause)
        elif book.definition is not None and (
            book.definition.allocation.mode is AllocationMode.IMMEDIATE
        ):
            book.defer(day, self.ctx.now)

    def offer(
        self,
        book: ProgrammeBook,
        day: date,
        basis: str,
        cause: Envelope[Any] | None,
        *,
        round_id: str | None = None,
    ) -> None:
        queued = {entry.queue_key: entry for entry in book.waiting}
        for offer in book.allocate(day, basis, round_id=round_id):
            entry = queued[(offer.participant_id, offer.plan_step_id)]
            agreement = book.agreements[offer.agreement_id]
            placement = Placement(
                placement_id=offer.placement_id,
                participant_id=offer.participant_id,
                programme_id=offer.programme_id,
                partner_id=offer.partner_id,
                agreement_id=offer.agreement_id,
                municipality=offer.municipality,
                activity=offer.activity,
                status=PlacementStatus.OFFERED,
                offered_on=offer.offered_on,
                entry=entry,
                decision=offer.decision,
                workplace_id=offer.workplace_id,
                hours_per_week=offer.hours_per_week,
                municipal_contact=agreement.municipal_contact,
                shares_details=entry.shares_details,
                protected_identity=entry.protected_identity,
                made_on=self.today,
            )
            self.emit(
                offer,
                cause,
                discriminator=offer.participant_id
                + (f"/{offer.plan_step_id}" if offer.plan_step_id else ""),
            )
            self.save(placement, "offered", cause)
            log.info(
                "place offered",
                **(event_fields(cause) if cause is not None else {"round": round_id}),
                participant=offer.participant_id,
                partner=offer.partner_id,
                programme=offer.programme_id,
                position=offer.queue_position,
            )

    def save(self, placement: Placement, step: str, cause: Envelope[Any] | None) -> None:
        self.placements[placement.placement_id] = (placement, step)
        self.emit(
            _partner_view(placement, pseudonyms_of(self.ctx.tx.settings)),
            cause,
            discriminator=f"{placement.placement_id}/{step}",
            topic=topics.partner_placements_topic(placement.partner_id),
        )

    def emit(
        self,
        data: Any,
        cause: Envelope[Any] | None,
        *,
        discriminator: str = "",
        topic: str | None = None,
    ) -> None:
        self.ctx.emit(
            new_event(
                data,
                source=SOURCE,
                municipality=getattr(data, "municipality", None),
                cause=cause,
                discriminator=discriminator,
                time=self.ctx.now,
                event_id=derive_event_id(self.origin, f"{data.TYPE}/{discriminator}")
                if cause is None and self.origin is not None
                else None,
            ),
            topic,
        )


class PlacementHandlers:
    def __init__(self, store: PlacementStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def _today(self) -> date:
        return self.settings.business_today()

    async def _books(
        self, ctx: HandlerContext, programme_ids: Any, depth: int
    ) -> dict[str, ProgrammeBook]:
        return await self.store.load_books(programme_ids, depth, ctx.session)

    async def _finish(self, work: _Work) -> None:
        work.settle()
        await self.store.save_books(work.books.values(), work.agreements, work.ctx.session)
        await self.store.save_placements(work.placements.values(), work.ctx.session)

    # --- programmes and partners -------------------------------------------------------------

    async def on_programmes(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        ids = {item.event.data.programme_id for item in batch}
        # A new definition may open more places than the stored one: read enough of the queue.
        depth = len(batch) + max(
            (i.event.data.capacity for i in batch if isinstance(i.event.data, ProgrammeDefined)),
            default=0,
        )
        work = _Work(ctx, await self._books(ctx, ids, depth), today=self._today())
        for item in batch:
            book = work.books[item.event.data.programme_id]
            assert item.tenant is not None
            if owner_after(book.owner, item.tenant) is None:
                _not_programme_owner(ctx, item, book.programme_id)
            elif isinstance(item.event.data, ProgrammeDefined):
                await self._define(book, item, work)
            elif isinstance(item.event.data, CostReported):
                # The owner's accounts: outcomes keeps them, for a programme that exists.
                if book.definition is None:
                    _unknown_programme(ctx, item, book.programme_id)

            elif book.definition is None:
                ctx.reject(
                    item,
                    "UNKNOWN_PROGRAMME",
                    f"no programme {book.programme_id} to hold a round in",
                    message_sv=f"inget program {book.programme_id} att fördela platser i",
                )
            else:
                self._round(book, item.event, work)
        await self._finish(work)

    async def _define(self, book: ProgrammeBook, item: Received, work: _Work) -> None:
        definition: ProgrammeDefined = item.event.data
        assert item.tenant is not None
        book.owner = item.tenant.key
        for dropped in book.unsigned_by_owner():
            self._drop_foreign_agreement(book, dropped, work.ctx)
        if book.definition is None or book.definition.priority != definition.priority:
            await self.store.reprioritise(
                definition.programme_id, definition.priority, work.ctx.session
            )
        book.define(definition)
        work.allocate(book, definition.period_start, item.event)

    def _round(self, book: ProgrammeBook, cause: Envelope[Any], work: _Work) -> None:
        """The owner's allocation meeting: every free place down the queue, now."""
        request: AllocationRoundRequested = cause.data
        round_id = f"{book.programme_id}@{request.on.isoformat()}/{cause.id}"
        work.offer(book, request.on, str(cause.id), cause, round_id=round_id)
        book.settled()
        log.info("allocation round held", programme=book.programme_id, round=round_id)

    async def allocate_due(
        self, db: ServiceDatabase, now: datetime, dead_letter_topic: str, *, rounds: bool = True
    ) -> int:
        """The allocation job: offer where a burst has settled, and hold the scheduled rounds
        that have come (with `rounds`), each programme in a transaction of its own. Safe to
        repeat: a round already held, or a burst already offered, is not offered again."""
        offered = 0
        for programme_id in await self.store.allocations_due(now, rounds=rounds):

            async def one(tx: Transaction, programme_id: str = programme_id) -> int:
                ctx = HandlerContext(
                    tx=tx, service="placement", dead_letter_topic=dead_letter_topic
                )
                books = await self.store.load_books([programme_id], 0, tx.session)
                book = books[programme_id]
                if book.definition is None:
                    return 0
                held = latest_round(book.definition.allocation, now) if rounds else None
                if held is not None and (book.last_round_at is None or held > book.last_round_at):
                    round_id = f"{programme_id}@{held.isoformat()}"
                    work = _Work(ctx, books, today=self._today(), origin=round_id)
                    work.offer(book, held.date(), round_id, None, round_id=round_id)
                    book.last_round_at = held
                elif book.allocation_due_at is not None and book.allocation_due_at <= now:
                    basis = f"{programme_id}@settled:{book.allocation_due_at.isoformat()}"
                    work = _Work(ctx, books, today=self._today(), origin=basis)
                    work.offer(book, book.pending_day or now.date(), basis, None)
                else:
                    return 0
                book.settled()
                await self._finish(work)
                return len(work.placements)

            offered += await db.in_transaction(one)
        return offered

    async def on_partners(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        work = _Work(ctx, {}, today=self._today())
        for item in batch:
            data = item.event.data
            if isinstance(data, PartnerRegistered):
                await self._register(item, data, ctx)
            elif isinstance(data, PartnerVetted):
                await self._vetted(item, data, work)
            elif isinstance(data, AgreementSigned):
                await self._agreement(item, data, work)
            elif isinstance(data, ContributionDelivered):
                await self._delivered(item, data, work)
        await self._finish(work)

    async def _delivered(
        self, item: Received, delivered: ContributionDelivered, work: _Work
    ) -> None:
        """Only the programme's owner reports what the parties delivered (outcomes keeps it);
        anyone else is answered."""
        assert item.tenant is not None
        if delivered.programme_id not in work.books:
            work.books.update(await self._books(work.ctx, [delivered.programme_id], 1))
        book = work.books[delivered.programme_id]
        if book.definition is None:
            _unknown_programme(work.ctx, item, delivered.programme_id)
        elif book.owner != item.tenant.key:
            _not_programme_owner(work.ctx, item, delivered.programme_id)

    def _drop_foreign_agreement(
        self, book: ProgrammeBook, agreement: domain.AgreementPlaces, ctx: HandlerContext
    ) -> None:
        """An agreement signed, before the programme was defined, by someone other than the
        tenant that then defined it: it never offered places, and now its signer hears why."""
        assert agreement.signed_by is not None
        signer = Tenant.from_key(agreement.signed_by)
        reason = f"Programme {book.programme_id} belongs to another tenant."
        answer_input(
            ctx.tx,
            agreement.origin or f"agreement:{agreement.agreement_id}",
            signer,
            InputRefusal.NOT_PROGRAMME_OWNER.value,
            reason,
            f"Programmet {book.programme_id} tillhör en annan aktör.",
            source=SOURCE,
            input_id=agreement.input_id,
            input_type=AgreementSigned.TYPE,
        )
        ctx.tx.audit(
            {
                "action": "refused",
                "service": "placement",
                "code": InputRefusal.NOT_PROGRAMME_OWNER.value,
                "tenant": signer.key,
                "input_id": agreement.input_id,
                "input_type": AgreementSigned.TYPE,
                "origin": agreement.origin,
                "programme_id": book.programme_id,
                "agreement_id": agreement.agreement_id,
            }
        )
        log.warning("agreement by another tenant dropped", agreement=agreement.agreement_id)

    async def _partner_owner(
        self, item: Received, partner_id: str, ctx: HandlerContext
    ) -> str | None:
        """The partner's owner once this tenant acts on it (the first to name a partner owns
        it), or None after refusing a tenant that does not own it."""
        assert item.tenant is not None
        partners = await self.store.load_partners([partner_id], ctx.session)
        current = partners.get(partner_id, {}).get("owner")
        owner = owner_after(current, item.tenant)
        if owner is not None and current is None:
            await self.store.claim_partner(partner_id, owner, ctx.session)
        if owner is None:
            ctx.refuse(
                item,
                InputRefusal.NOT_PARTNER_OWNER,
                f"Partner {partner_id} belongs to another tenant.",
                message_sv=f"Partnern {partner_id} tillhör en annan aktör.",
                audit={"partner_id": partner_id},
            )
        return owner

    async def _register(
        self, item: Received, partner: PartnerRegistered, ctx: HandlerContext
    ) -> None:
        if problem := domain.organisationsnummer_problem(partner.organisationsnummer):
            ctx.reject(item, "INVALID_ORGANISATIONSNUMMER", problem)
            return
        owner = await self._partner_owner(item, partner.partner_id, ctx)
        if owner is not None:
            await self.store.save_partner(partner, owner, ctx.session)

    async def _vetted(self, item: Received, vetting: PartnerVetted, work: _Work) -> None:
        cause = item.event
        owner = await self._partner_owner(item, vetting.partner_id, work.ctx)
        if owner is None:
            return
        await self.store.record_vetting(
            vetting.partner_id,
            {
                a.criterion.value: {
                    "met": a.met,
                    "assessed_on": a.assessed_on.isoformat(),
                    "note": a.note,
                    "by": vetting.assessed_by,
                }
                for a in vetting.assessments
            },
            owner,
            work.ctx.session,
        )
        programmes = await self.store.programmes_with_partner(vetting.partner_id, work.ctx.session)
        for programme_id, book in (await self._books(work.ctx, programmes, 1)).items():
            work.books.setdefault(programme_id, book)
            for agreement in book.agreements.values():
                if agreement.partner_id == vetting.partner_id:
                    self._announce_eligibility(agreement, book.programme_id, cause, work)
            work.allocate(
                work.books[programme_id], min(a.assessed_on for a in vetting.assessments), cause
            )

    async def _agreement(self, item: Received, agreement: AgreementSigned, work: _Work) -> None:
        """An agreement is signed by the tenant that owns both the partner and the programme.
        Signed before the programme is defined, it is held until it is: then it counts only if
        the same tenant defined the programme."""
        cause = item.event
        assert item.tenant is not None
        if agreement.programme_id not in work.books:
            work.books.update(
                await self._books(work.ctx, [agreement.programme_id], agreement.places + 1)
            )
        book = work.books[agreement.programme_id]
        if book.owner is not None and book.owner != item.tenant.key:
            _not_programme_owner(work.ctx, item, agreement.programme_id)
            return
        current = book.agreements.get(agreement.agreement_id)
        if current is not None and current.partner_id != agreement.partner_id:
            work.ctx.refuse(
                item,
                InputRefusal.NOT_PARTNER_OWNER,
                f"Agreement {agreement.agreement_id} is with another partner.",
                message_sv=f"Avtalet {agreement.agreement_id} gäller en annan partner.",
                audit={"agreement_id": agreement.agreement_id},
            )
            return
        if await self._partner_owner(item, agreement.partner_id, work.ctx) is None:
            return
        partners = await self.store.load_partners([agreement.partner_id], work.ctx.session)
        partner = partners.get(agreement.partner_id, {})
        workplaces = {
            w["workplace_id"]: w for w in partner.get("registration", {}).get("workplaces", [])
        }
        municipality = workplaces.get(agreement.workplace_id or "", {}).get(
            "municipality", partner.get("registration", {}).get("municipality")
        )
        eligibility = domain.agreement_eligibility(agreement, partner_vetting(partner))
        book.sign(
            agreement,
            municipality,
            eligibility,
            signed_by=item.tenant.key,
            origin=item.record.coordinates,
            input_id=str(cause.id),
        )
        work.agreements[agreement.agreement_id] = SignedAgreement(
            agreement, item.tenant.key, item.record.coordinates, str(cause.id)
        )
        self._announce_eligibility(
            book.agreements[agreement.agreement_id], book.programme_id, cause, work
        )
        work.allocate(book, agreement.period_start, cause)

    def _announce_eligibility(
        self,
        agreement: domain.AgreementPlaces,
        programme_id: str,
        cause: Envelope[Any],
        work: _Work,
    ) -> None:
        """An IOP agreement that cannot take placements says which criteria are missing."""
        verdict = agreement.eligibility
        if verdict.ok:
            return
        work.emit(
            PartnerNotEligible(
                partner_id=agreement.partner_id,
                agreement_id=agreement.agreement_id,
                programme_id=programme_id,
                missing_criteria=list(verdict.missing),
                failed_criteria=list(verdict.failed),
                parties_without_contribution=list(verdict.parties_without_contribution),
            ),
            cause,
            discriminator=agreement.agreement_id,
        )
        log.warning(
            "IOP agreement cannot take placements",
            agreement=agreement.agreement_id,
            missing=[c.value for c in verdict.missing],
            failed=[c.value for c in verdict.failed],
        )

    # --- participants from intake ------------------------------------------------------------

    async def on_intake(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        touched = [
            i.event.data
            for i in batch
            if isinstance(
                i.event.data,
                ParticipantEnrolled
                | ParticipationExited
                | ParticipantMoved
                | EligibilityDecided
                | PlanAdopted,
            )
        ]
        # Only an erasure or an exit can free a place; new enrolments are queued in memory.
        freeing = sum(
            isinstance(i.event.data, ParticipantErased | ParticipationExited) for i in batch
        )
        work = _Work(
            ctx,
            await self._books(ctx, (e.programme_id for e in touched), freeing),
            today=self._today(),
        )
        for item in batch:
            data = item.event.data
            if isinstance(data, ParticipantEnrolled):
                book = work.books[data.programme_id]
                book.enqueue(
                    WaitingEntry(
                        participant_id=data.participant_id,
                        programme_id=data.programme_id,
                        municipality=data.municipality,
                        income_support=data.income_support,
                        referral_date=data.referral_date,
                        enrolled_at=item.event.time,
                        preferences=data.preferences,
                        shares_details=ConsentPurpose.SHARE_WITH_PARTNER in data.consents,
                        protected_identity=data.protected_identity,
                        participation=data.participation,
                    )
                )
                work.allocate(book, data.referral_date, item.event)
            elif (
                isinstance(data, ConsentChanged)
                and data.purpose is ConsentPurpose.SHARE_WITH_PARTNER
            ):
                await self._sharing(data, item.event, work)
            elif isinstance(data, ProtectedIdentityChanged):
                await self._protection(data, item.event, work)
            elif isinstance(data, ParticipationExited):
                await self._exited(data, item.event, work)
            elif isinstance(data, ParticipantMoved):
                await self._moved(data, item.event, work)
            elif isinstance(data, ParticipantErased):
                await self._erase(data, item.event, work)
            elif isinstance(data, ParticipantsMerged):
                await self._merged(data, item.event, work)
            elif isinstance(data, EligibilityDecided):
                await self._eligibility(data, item.event, work)
            elif isinstance(data, PlanAdopted):
                await self._plan_adopted(data, item.event, work)
        await self._finish(work)

    # --- individual plans --------------------------------------------------------------------

    async def _plan_adopted(self, adopted: PlanAdopted, cause: Envelope[Any], work: _Work) -> None:
        """A new revision of the plan: the participant waits for the placement steps that may
        begin now, and for nothing else; places are offered again."""
        held = await self.store.plan_of(
            adopted.participant_id, adopted.programme_id, adopted.participation, work.ctx.session
        )
        previous, base = held if held else (None, None)
        plan = plans.adopt(previous, adopted)
        book = work.books[plan.programme_id]
        for placement in await self._current_placements(plan.participant_id, work):
            if (
                placement.programme_id == plan.programme_id
                and placement.entry.participation == plan.participation
                and (withdrawn := domain.withdrawn_for_plan(placement)) is not None
            ):
                book.release(placement.agreement_id, in_group=placement.entry.income_support)
                work.emit(_changed(withdrawn, "withdrawn", adopted.recorded_on), cause)
                work.save(withdrawn, "withdrawn", cause)
                base = base or placement.entry
        waiting_for, base = await self._follow_plan(plan, base, work)
        await self.store.save_plan(plan, base, work.ctx.session, adopted=adopted)
        work.emit(
            plan.progressed("adopted", adopted.recorded_on, waiting_for),
            cause,
            discriminator=f"adopted/{plan.revision}",
        )
        work.allocate(work.books[plan.programme_id], adopted.recorded_on, cause)

    async def _plan_step(
        self,
        placement: Placement,
        change: str,
        on: date,
        cause: Envelope[Any],
        work: _Work,
        advance: Callable[[plans.EnrolmentPlan], plans.EnrolmentPlan],
    ) -> bool:
        """A placement of a participant with a plan started or ended: the plan moves on, and
        what comes next follows from it. False if the enrolment has no plan."""
        held = await self.store.plan_of(
            placement.participant_id,
            placement.programme_id,
            placement.entry.participation,
            work.ctx.session,
        )
        if held is None:
            return False
        plan, base = held
        step_id = placement.entry.plan_step_id
        if plan.step(step_id) is not None:
            plan = advance(plan)
        waiting_for, base = await self._follow_plan(plan, base, work)
        await self.store.save_plan(plan, base, work.ctx.session)
        work.emit(
            plan.progressed(change, on, waiting_for, plan.step(step_id)),
            cause,
            discriminator=f"{placement.placement_id}/{change}",
        )
        return True

    async def _follow_plan(
        self, plan: plans.EnrolmentPlan, base: WaitingEntry | None, work: _Work
    ) -> tuple[list[str], WaitingEntry | None]:
        """Queue the participant for each placement step of the plan that may begin and holds no
        place (steps side by side wait at once), and take them out of the queue for anything
        else. A placement held from before the plan runs its course first. Returns the steps
        waited for, and the entry the participant waits with."""
        pid, book = plan.participant_id, work.books[plan.programme_id]

        def of_plan(entry: WaitingEntry) -> bool:
            return (
                entry.participant_id == pid
                and entry.programme_id == plan.programme_id
                and entry.participation == plan.participation
            )

        waiting = {
            e.queue_key: e
            for e in await self.store.waiting_entries_of(pid, work.ctx.session)
            if of_plan(e)
        }
        for entry in book.removed_from_queue:
            waiting.pop(entry.queue_key, None)
        waiting.update({e.queue_key: e for e in book.waiting if of_plan(e)})
        placements = [
            p
            for p in await self._current_placements(pid, work)
            if p.programme_id == plan.programme_id and p.entry.participation == plan.participation
        ]
        occupying = {p.entry.plan_step_id for p in placements if p.status in domain.OCCUPYING}
        latest = max(placements, key=lambda p: (p.offered_on, p.placement_id), default=None)
        base = next(iter(waiting.values()), None) or (latest.entry if latest else None) or base
        ready = [] if None in occupying else plan.ready()
        ready = [step for step in ready if step.step_id not in occupying]
        wanted = {step.step_id: step for step in ready}
        for entry in waiting.values():
            # An entry from before the plan waits for anything: the plan decides what it waits for.
            if entry.plan_step is None or wanted.get(entry.plan_step.step_id) != entry.plan_step:
                book.withdraw(entry)
        for step in ready:
            current = waiting.get((pid, step.step_id))
            if base is not None and (current is None or current.plan_step != step):
                declined = current.declined if current else frozenset()
                book.enqueue(replace(base, plan_step=step, declined=declined))
        return [step.step_id for step in ready], base

    async def _eligibility(
        self, decided: EligibilityDecided, cause: Envelope[Any], work: _Work
    ) -> None:
        """Which restricted agreements' places the enrolment may now be offered, replacing what
        intake decided before: wherever it waits or what it holds carries it, and places are
        offered again (an agreement may have opened to them)."""
        pid, book = decided.participant_id, work.books[decided.programme_id]
        eligible_for = frozenset(
            domain.admission_key(a.agreement_id, a.criteria)
            for a in decided.agreements
            if a.eligible
        )

        def decided_for(entry: WaitingEntry) -> WaitingEntry:
            if entry.participant_id != pid or entry.participation != decided.participation:
                return entry
            return replace(entry, eligible_for=eligible_for)

        await self.store.set_eligibility(
            pid, decided.programme_id, sorted(eligible_for), work.ctx.session
        )
        book.waiting = [decided_for(e) for e in book.waiting]
        book.added_to_queue = [decided_for(e) for e in book.added_to_queue]
        for key, (placement, step) in list(work.placements.items()):
            if placement.participant_id == pid and placement.programme_id == decided.programme_id:
                entry = decided_for(placement.entry)
                work.placements[key] = (replace(placement, entry=entry), step)
        work.allocate(book, decided.decided_on, cause)

    async def _sharing(self, consent: ConsentChanged, cause: Envelope[Any], work: _Work) -> None:
        await self.store.update_waiting(
            consent.participant_id, {"shares_details": consent.granted}, work.ctx.session
        )
        for placement in await self._current_placements(consent.participant_id, work):
            if placement.status in domain.OCCUPYING:
                work.save(
                    replace(placement, shares_details=consent.granted),
                    "consent_granted" if consent.granted else "consent_withdrawn",
                    cause,
                )

    async def _protection(
        self, change: ProtectedIdentityChanged, cause: Envelope[Any], work: _Work
    ) -> None:
        """From now on partners' streams carry the participant's id only if the person is not
        protected (and consented); the places they hold say so at once."""
        await self.store.update_waiting(
            change.participant_id, {"protected_identity": change.protected}, work.ctx.session
        )
        for placement in await self._current_placements(change.participant_id, work):
            if placement.status in domain.OCCUPYING:
                work.save(
                    replace(
                        placement,
                        protected_identity=change.protected,
                        entry=replace(placement.entry, protected_identity=change.protected),
                    ),
                    "identity_protected" if change.protected else "identity_protection_ended",
                    cause,
                )

    async def _exited(self, exited: ParticipationExited, cause: Envelope[Any], work: _Work) -> None:
        """The participant left the programme: out of its queue, offers withdrawn, a placement
        under way ended with the programme; what they held goes to the next in line."""
        pid, book = exited.participant_id, work.books[exited.programme_id]
        for entry in await self.store.waiting_entries_of(pid, work.ctx.session):
            if entry.programme_id == exited.programme_id:
                book.withdraw(entry)
        if pid in {entry.participant_id for entry in book.added_to_queue}:
            book.leave_queue(pid)
        for placement in await self._current_placements(pid, work):
            result = domain.withdraw_on_exit(placement, exited)
            if result is None:
                continue
            book.release(placement.agreement_id, in_group=placement.entry.income_support)
            if result.ended is None:
                work.emit(_changed(result.placement, result.change, exited.exited_on), cause)
            else:
                work.emit(result.ended, cause)
                await self.store.schedule_check_ins(
                    result.placement,
                    domain.support_check_ins(result.ended, _support(book)),
                    work.ctx.session,
                )
            work.save(result.placement, result.change, cause)
        work.allocate(book, exited.exited_on, cause)

    async def _moved(self, moved: ParticipantMoved, cause: Envelope[Any], work: _Work) -> None:
        """The person's place in the programme's queue and what they hold in it are the new
        municipality's from now on: every later event about them goes to its stream."""
        pid, to = moved.participant_id, moved.to_municipality
        await self.store.update_waiting(
            pid, {"municipality": to}, work.ctx.session, programme_id=moved.programme_id
        )
        await self.store.move_plan(
            pid, moved.programme_id, moved.participation, to, work.ctx.session
        )
        book = work.books[moved.programme_id]
        book.waiting = [
            replace(e, municipality=to) if e.participant_id == pid else e for e in book.waiting
        ]
        book.added_to_queue = [
            replace(e, municipality=to) if e.participant_id == pid else e
            for e in book.added_to_queue
        ]
        for placement in await self._current_placements(pid, work):
            if (
                placement.programme_id == moved.programme_id
                and placement.entry.participation == moved.participation
                and placement.status in domain.OCCUPYING
            ):
                work.save(
                    replace(
                        placement,
                        municipality=to,
                        entry=replace(placement.entry, municipality=to),
                    ),
                    f"moved:{to}",
                    cause,
                )

    async def _merged(self, merged: ParticipantsMerged, cause: Envelope[Any], work: _Work) -> None:
        """The merged participant's places in the queues and placements are the remaining
        participant's, where they stand: nothing is re-offered, and partners' streams name the
        remaining id from now on."""
        old, new = merged.merged_participant_id, merged.participant_id

        def rekeyed(entry: WaitingEntry) -> WaitingEntry:
            return replace(entry, participant_id=new) if entry.participant_id == old else entry

        await self.store.rekey_participant(old, new, work.ctx.session)
        for book in work.books.values():
            book.waiting = [rekeyed(e) for e in book.waiting]
            book.added_to_queue = [rekeyed(e) for e in book.added_to_queue]
        for placement in await self._current_placements(old, work):
            work.placements.pop(placement.placement_id, None)
            work.save(
                replace(placement, participant_id=new, entry=rekeyed(placement.entry)),
                f"merged:{new}",
                cause,
            )

    async def _erase(self, erased: ParticipantErased, cause: Envelope[Any], work: _Work) -> None:
        """Leave the queue, release held places, withdraw them from partners' streams without the
        participant's id, then keep only anonymous records."""
        pid = erased.participant_id
        entries = await self.store.waiting_entries_of(pid, work.ctx.session)
        placements = await self._current_placements(pid, work)
        # Before the withdrawals below: what partners have not been sent yet about the person
        # (their placements' updates included, which name no one without consent) never goes.
        await work.ctx.purge_unsent(self.store.db, [pid, *(p.placement_id for p in placements)])
        programme_ids = {e.programme_id for e in entries} | {p.programme_id for p in placements}
        for programme_id, book in (
            await self._books(work.ctx, programme_ids - set(work.books), 1)
        ).items():
            work.books[programme_id] = book
        for entry in entries:
            work.books[entry.programme_id].leave_queue(pid)
        for placement in placements:
            work.placements.pop(placement.placement_id, None)
            if placement.status in domain.OCCUPYING:
                work.books[placement.programme_id].release(
                    placement.agreement_id, in_group=placement.entry.income_support
                )
                work.emit(
                    PartnerPlacementUpdated(
                        placement_id=placement.placement_id, partner_id=placement.partner_id
                    ),
                    cause,
                    discriminator=f"{placement.placement_id}/withdrawn",
                    topic=topics.partner_placements_topic(placement.partner_id),
                )
        await self.store.anonymise(pid, work.ctx.session)
        for programme_id in programme_ids:
            work.allocate(work.books[programme_id], erased.erased_on, cause)

    async def _current_placements(self, participant_id: str, work: _Work) -> list[Placement]:
        """A participant's placements as this batch has left them so far."""
        stored = {
            p.placement_id: p
            for p in await self.store.placements_of(participant_id, work.ctx.session)
        }
        for placement, _ in work.placements.values():
            if placement.participant_id == participant_id:
                stored[placement.placement_id] = placement
        return list(stored.values())

    # --- what partners and caseworkers report ------------------------------------------------

    async def on_reports(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        ids = {getattr(i.event.data, "placement_id", "") for i in batch}
        known = await self.store.load_placements(ids, ctx.session)
        work = _Work(
            ctx,
            await self._books(ctx, {p.programme_id for p in known.values()}, len(batch)),
            today=self._today(),
        )
        for item in batch:
            data = item.event.data
            current = work.placements.get(data.placement_id, (known.get(data.placement_id), ""))[0]
            if current is not None and not self._may_report(item, current, ctx):
                continue
            if isinstance(data, PlacementChangeReported):
                await self._change(item, data, current, work)
            elif isinstance(data, PlacementEndReported):
                await self._end(item, data, current, work)
            elif isinstance(data, AttendanceReported):
                await self._attendance(item, data, current, work)
            elif isinstance(data, ConcernReported):
                if refusal := _owner_problem(current, data.participant_id, data.placement_id):
                    ctx.reject(item, "UNKNOWN_PLACEMENT", refusal)
                else:
                    await self.store.record_concern(
                        data.placement_id, data.on, data.note, ctx.session
                    )
            elif isinstance(data, SupportCheckInReported):
                await self._check_in(item, data, current, work)
            elif isinstance(data, SupportTaskClosedReported):
                await self._close_task(item, data, current, work)
        await self._finish(work)

    async def _check_in(
        self,
        item: Received,
        report: SupportCheckInReported,
        current: Placement | None,
        work: _Work,
    ) -> None:
        """A check-in answered, by the partner or the municipality; one answered behover_stod
        opens a support task."""
        result = {"on": report.on.isoformat(), "status": report.status.value, "note": report.note}
        recorded = current is not None and await self.store.record_check_in(
            report.check_in_id, report.placement_id, result, work.ctx.session
        )
        if not recorded:
            work.ctx.reject(item, "UNKNOWN_CHECK_IN", f"no support check-in {report.check_in_id}")
            return
        assert current is not None
        if report.status is CheckInStatus.NEEDS_SUPPORT:
            await self._open_support_task(
                current,
                SupportTaskReason.NEEDS_SUPPORT,
                f"{report.check_in_id}:uppgift",
                report.on,
                work,
                item.event,
            )

    async def _close_task(
        self,
        item: Received,
        report: SupportTaskClosedReported,
        current: Placement | None,
        work: _Work,
    ) -> None:
        assert item.tenant is not None
        if item.tenant.kind is not TenantKind.MUNICIPALITY:
            work.ctx.refuse(
                item,
                InputRefusal.NOT_TASK_OWNER,
                "a support task is closed by the participant's municipality",
                message_sv="en stöduppgift avslutas av deltagarens kommun",
                audit={"task_id": report.task_id},
            )
            return
        opened = (
            await self.store.close_support_task(
                report.task_id, report.placement_id, report.on, report.action, work.ctx.session
            )
            if current is not None
            else None
        )
        if current is None or opened is None:
            work.ctx.reject(item, "UNKNOWN_SUPPORT_TASK", f"no open support task {report.task_id}")
            return
        due = date.fromisoformat(opened["due_date"])
        work.emit(
            SupportTaskClosed(
                task_id=report.task_id,
                placement_id=current.placement_id,
                participant_id=current.participant_id,
                programme_id=current.programme_id,
                municipality=current.municipality,
                opened_on=date.fromisoformat(opened["opened_on"]),
                closed_on=report.on,
                overdue=report.on > due,
                action=report.action,
            ),
            item.event,
        )

    async def _open_support_task(
        self,
        placement: Placement,
        reason: SupportTaskReason,
        task_id: str,
        on: date,
        work: _Work,
        cause: Envelope[Any],
    ) -> None:
        """Open the task once (a second behover_stod for the same check-in, or a risk raised
        again for the same weeks, finds it open): to the municipality, and to the partner where
        the participant consented to sharing."""
        task = domain.support_task(
            placement, reason, task_id, on, _support(work.books.get(placement.programme_id))
        )
        if not await self.store.open_support_task(task, work.ctx.session):
            return
        work.emit(task, cause)
        if placement.partner_may_know_who:
            work.emit(
                for_partner(
                    PartnerSupportNotice(
                        placement_id=placement.placement_id,
                        partner_id=placement.partner_id,
                        participant_id=placement.participant_id,
                        task_id=task.task_id,
                        reason=task.reason,
                        owner=task.owner,
                        due_date=task.due_date,
                    ),
                    pseudonyms_of(work.ctx.tx.settings),
                ),
                cause,
                discriminator=task.task_id,
                topic=topics.partner_placements_topic(placement.partner_id),
            )

    def _may_report(self, item: Received, placement: Placement, ctx: HandlerContext) -> bool:
        """A partner reports only on placements at its own workplaces, a municipality only on
        its own residents'. Anyone else's placement is answered as if it did not exist."""
        assert item.tenant is not None
        if may_report_on_placement(item.tenant, placement.partner_id, placement.municipality):
            return True
        ctx.refuse(
            item,
            InputRefusal.UNKNOWN_PLACEMENT,
            f"unknown placement {placement.placement_id}",
            message_sv=f"okänd placering {placement.placement_id}",
            audit={"placement_id": placement.placement_id},
        )
        return False

    async def _change(
        self,
        item: Received,
        report: PlacementChangeReported,
        current: Placement | None,
        work: _Work,
    ) -> None:
        result = domain.change(current, report)
        if isinstance(result, Refusal):
            work.ctx.reject(item, "ILLEGAL_TRANSITION", result.reason)
            return
        placement = result.placement
        book = work.books[placement.programme_id]
        if report.action is PlacementAction.START:
            work.emit(
                PlacementStarted(
                    placement_id=placement.placement_id,
                    participant_id=placement.participant_id,
                    programme_id=placement.programme_id,
                    partner_id=placement.partner_id,
                    agreement_id=placement.agreement_id,
                    activity=placement.activity,
                    municipality=placement.municipality,
                    start_date=report.on,
                    waited_days=max(0, (report.on - placement.entry.referral_date).days),
                    decision=placement.decision,
                    workplace_id=placement.workplace_id,
                    hours_per_week=placement.hours_per_week,
                    participation=placement.entry.participation,
                    plan_step_id=placement.entry.plan_step_id,
                ),
                item.event,
            )
            if placement.entry.plan_step_id is not None:
                step_id = placement.entry.plan_step_id
                await self._plan_step(
                    placement,
                    "step_started",
                    report.on,
                    item.event,
                    work,
                    lambda plan: plan.started(step_id, report.on),
                )
        else:
            work.emit(_changed(placement, result.change, report.on), item.event)
        work.save(placement, result.change, item.event)
        if result.frees_place:
            _wait_again(book, placement)
            work.allocate(book, report.on, item.event)

    async def _end(
        self, item: Received, report: PlacementEndReported, current: Placement | None, work: _Work
    ) -> None:
        result = domain.end(current, report)
        if isinstance(result, Refusal):
            work.ctx.reject(item, "ILLEGAL_TRANSITION", result.reason)
            return
        assert current is not None
        placement = replace(current, status=PlacementStatus.ENDED, end_date=report.end_date)
        step_id = placement.entry.plan_step_id or ""
        book = work.books[placement.programme_id]
        book.release(placement.agreement_id, in_group=placement.entry.income_support)
        work.emit(result, item.event)
        work.save(placement, f"ended:{report.reason.value}", item.event)
        await self.store.schedule_check_ins(
            placement, domain.support_check_ins(result, _support(book)), work.ctx.session
        )
        if not report.exits_programme and not await self._plan_step(
            placement,
            "step_ended",
            report.end_date,
            item.event,
            work,
            lambda plan: plan.ended(step_id, report.reason, report.end_date),
        ):
            book.enqueue(placement.entry)  # without a plan: back in line for what comes next
        work.allocate(book, report.end_date, item.event)

    async def _attendance(
        self, item: Received, report: AttendanceReported, current: Placement | None, work: _Work
    ) -> None:
        if refusal := _owner_problem(current, report.participant_id, report.placement_id):
            work.ctx.reject(item, "UNKNOWN_PLACEMENT", refusal)
            return
        assert current is not None
        reports, was_at_risk = await self.store.attendance_of(report.placement_id, work.ctx.session)
        book = work.books[current.programme_id]
        threshold = book.definition.attendance_risk_threshold if book.definition else 0.3
        risk = domain.attendance_risk([*reports, report], threshold)
        await self.store.record_attendance(report, risk is not None, work.ctx.session)
        work.emit(domain.attendance_recorded(report, current), item.event)
        if risk is not None and not was_at_risk:
            work.emit(
                PlacementAtRisk(
                    placement_id=current.placement_id,
                    participant_id=current.participant_id,
                    programme_id=current.programme_id,
                    partner_id=current.partner_id,
                    municipality=current.municipality,
                    period_start=risk.period_start,
                    period_end=risk.period_end,
                    missed_share=risk.missed_share,
                    unexcused_share=risk.unexcused_share,
                    threshold=threshold,
                ),
                item.event,
            )
            await self._open_support_task(
                current,
                SupportTaskReason.ATTENDANCE_RISK,
                f"{current.placement_id}:franvaro:{risk.period_end.isoformat()}",
                risk.period_end,
                work,
                item.event,
            )

    # --- offers that expire ------------------------------------------------------------------

    async def expire_offers(self, db: ServiceDatabase, today: date, dead_letter_topic: str) -> int:
        """The offer-expiry job: in each programme with a response time, offers left unanswered
        past it expire and their places go down the queue, each programme in a transaction of
        its own. Safe to repeat: an expired offer is an offer no longer, and the events' ids
        derive from the programme and the day."""
        expired = 0
        for programme_id in await self.store.offers_past_response(today, 500):

            async def one(tx: Transaction, programme_id: str = programme_id) -> int:
                ctx = HandlerContext(
                    tx=tx, service="placement", dead_letter_topic=dead_letter_topic
                )
                # Read again in the transaction: an answer may have come in the meantime.
                offers = await self.store.offers_past_response(
                    today, 500, tx.session, programme_id=programme_id
                )
                books = await self.store.load_books(
                    [programme_id], len(offers.get(programme_id, [])), tx.session
                )
                book = books[programme_id]
                days = book.definition.offer_response_days if book.definition else None
                work = _Work(
                    ctx, books, today=today, origin=f"{programme_id}@expiry:{today.isoformat()}"
                )
                for offer in offers.get(programme_id, []):
                    result = domain.expired(offer, days, today)
                    if result is None:
                        continue
                    placement = result.placement
                    work.emit(
                        _changed(placement, result.change, today),
                        None,
                        discriminator=placement.placement_id,
                    )
                    work.save(placement, result.change, None)
                    _wait_again(book, placement)
                    log.info(
                        "offer expired unanswered",
                        placement=placement.placement_id,
                        participant=placement.participant_id,
                        programme=programme_id,
                        offered_on=placement.offered_on.isoformat(),
                    )
                if not work.placements:
                    return 0
                count = len(work.placements)
                work.offer_or_defer(book, today, f"{programme_id}@expiry:{today}", None)
                await self._finish(work)
                return count

            expired += await db.in_transaction(one)
        return expired

    # --- support check-ins that fall due -----------------------------------------------------

    async def emit_due_check_ins(self, tx: Transaction, today: date, dead_letter_topic: str) -> int:
        ctx = HandlerContext(tx=tx, service="placement", dead_letter_topic=dead_letter_topic)
        due = await self.store.due_check_ins(today, 500, tx.session)
        placements = await self.store.load_placements(
            {doc["placement_id"] for doc in due}, tx.session
        )
        for doc in due:
            event = SupportCheckInDue(
                check_in_id=doc["_id"],
                placement_id=doc["placement_id"],
                participant_id=doc["participant_id"],
                programme_id=doc["programme_id"],
                partner_id=doc["partner_id"],
                municipality=doc["municipality"],
                due_date=date.fromisoformat(doc["due_date"]),
            )
            ctx.emit(
                new_event(
                    event,
                    source=SOURCE,
                    municipality=event.municipality,
                    time=tx.now,
                    event_id=derive_event_id(doc["_id"], SupportCheckInDue.TYPE),
                )
            )
            placement = placements.get(event.placement_id)
            notice = for_partner(
                PartnerSupportNotice(
                    placement_id=event.placement_id,
                    partner_id=event.partner_id,
                    participant_id=event.participant_id
                    if placement is not None and placement.partner_may_know_who
                    else None,
                    check_in_id=event.check_in_id,
                    due_date=event.due_date,
                ),
                pseudonyms_of(tx.settings),
            )
            ctx.emit(
                new_event(
                    notice,
                    source=SOURCE,
                    municipality=None,
                    time=tx.now,
                    event_id=derive_event_id(doc["_id"], PartnerSupportNotice.TYPE),
                ),
                topics.partner_placements_topic(event.partner_id),
            )
        await self.store.mark_check_ins_emitted([doc["_id"] for doc in due], tx.session)
        return len(due)


def _support(book: ProgrammeBook | None) -> SupportPolicy | None:
    return book.definition.support if book is not None and book.definition else None


def _changed(placement: Placement, change: str, on: date) -> PlacementChanged:
    return PlacementChanged(
        placement_id=placement.placement_id,
        participant_id=placement.participant_id,
        programme_id=placement.programme_id,
        partner_id=placement.partner_id,
        municipality=placement.municipality,
        status=placement.status,
        change=change,
        on=on,
        hours_per_week=placement.hours_per_week,
        participation=placement.entry.participation,
    )


def _wait_again(book: ProgrammeBook, declined: Placement) -> None:
    """A declined or expired offer: its place goes to the next in line, and the person waits
    again, keeping their position, for another place than this one."""
    book.release(declined.agreement_id, in_group=declined.entry.income_support)
    entry = declined.entry
    book.enqueue(replace(entry, declined=entry.declined | {declined.agreement_id}))


def _unknown_programme(ctx: HandlerContext, item: Received, programme_id: str) -> None:
    ctx.reject(
        item,
        "UNKNOWN_PROGRAMME",
        f"no programme {programme_id}",
        message_sv=f"inget program {programme_id}",
    )


def _not_programme_owner(ctx: HandlerContext, item: Received, programme_id: str) -> None:
    ctx.refuse(
        item,
        InputRefusal.NOT_PROGRAMME_OWNER,
        f"Programme {programme_id} belongs to another tenant.",
        message_sv=f"Programmet {programme_id} tillhör en annan aktör.",
        audit={"programme_id": programme_id},
    )


def _owner_problem(
    placement: Placement | None, participant_id: str | None, placement_id: str
) -> str | None:
    if placement is None:
        return f"unknown placement {placement_id}"
    if participant_id is not None and placement.participant_id != participant_id:
        return f"placement {placement_id} belongs to another participant"
    return None


def _partner_view(placement: Placement, pseudonyms: AudiencePseudonyms) -> PartnerPlacementUpdated:
    """Only what the partner needs; the participant's id (the partner's own for them, see
    shared/audience.py) only with consent to sharing, and never for a person with protected
    identity."""
    view = PartnerPlacementUpdated(
        placement_id=placement.placement_id,
        partner_id=placement.partner_id,
        participant_id=placement.participant_id if placement.partner_may_know_who else None,
        status=placement.status,
        workplace_id=placement.workplace_id,
        activity=placement.activity,
        hours_per_week=placement.hours_per_week,
        offered_on=placement.offered_on,
        start_date=placement.start_date,
        end_date=placement.end_date,
        municipal_contact=placement.municipal_contact,
    )
    return for_partner(view, pseudonyms)
