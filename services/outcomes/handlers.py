"""Outcomes' use cases: fold the other services' events into journeys, schedule and announce
follow-ups, and record their answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from services.outcomes import store as read_model
from services.outcomes.domain import FollowUp, in_sysselsattning
from services.outcomes.store import OutcomesStore
from shared.business_day import Clock
from shared.contracts.envelope import derive_event_id, new_event
from shared.contracts.intake import (
    ConsentChanged,
    ParticipantEnrolled,
    ParticipantErased,
    ParticipantMoved,
    ParticipantsMerged,
    ParticipationExited,
    PlanAdopted,
    ReferralRejected,
    SpecialCategoriesRecorded,
)
from shared.contracts.municipal import (
    AgreementSigned,
    ContributionDelivered,
    CostReported,
    OutcomeReported,
    PartnerRegistered,
    ProgrammeDefined,
)
from shared.contracts.outcomes import FollowUpDue, OutcomeRecorded
from shared.contracts.placement import (
    PlacementChanged,
    PlacementEnded,
    PlacementStarted,
    SupportTaskOpened,
)
from shared.contracts.vocabulary import ConsentPurpose, InputRefusal
from shared.messaging.consumer import HandlerContext
from shared.messaging.records import Received
from shared.observability import get_logger
from shared.ownership import may_act_on_participant, owner_after
from shared.persistence import ServiceDatabase, Transaction

SOURCE = "/insats/outcomes"
log = get_logger(__name__)


class OutcomesHandlers:
    def __init__(self, store: OutcomesStore) -> None:
        self.store = store

    async def on_programmes(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        """A programme is its first definer's, as in placement (which answers the refusals):
        a definition from anyone else is passed over."""
        definitions = [item for item in batch if isinstance(item.event.data, ProgrammeDefined)]
        owners = await self.store.owners_of(
            "programmes", (item.event.data.programme_id for item in definitions), ctx.session
        )
        latest: dict[str, tuple[ProgrammeDefined, str]] = {}
        for item in definitions:
            assert item.tenant is not None
            definition: ProgrammeDefined = item.event.data
            owner = owner_after(owners.get(definition.programme_id), item.tenant)
            if owner is None:
                continue
            owners[definition.programme_id] = owner
            latest[definition.programme_id] = (definition, owner)
        await self.store.save_programmes(latest.values(), ctx.session)
        await self.store.save_reports("costs", _reports(batch, CostReported), ctx.session)

    async def on_partners(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        """Partners and agreements by the rules placement applies (and answers): a partner is
        the first to name it's; an agreement counts if its signer owns the partner and, once it
        is defined, the programme."""
        named = [item for item in batch if isinstance(item.event.data, PartnerRegistered)]
        signed = [item for item in batch if isinstance(item.event.data, AgreementSigned)]
        partner_ids = {item.event.data.partner_id for item in [*named, *signed]}
        partner_owners = await self.store.owners_of("partners", partner_ids, ctx.session)
        programme_owners = await self.store.owners_of(
            "programmes", (item.event.data.programme_id for item in signed), ctx.session
        )
        claimed: dict[str, str] = {}
        partners: list[tuple[PartnerRegistered, str]] = []
        agreements: list[tuple[AgreementSigned, str]] = []
        for item in batch:
            data = item.event.data
            if not isinstance(data, PartnerRegistered | AgreementSigned):
                continue
            assert item.tenant is not None
            owner = owner_after(partner_owners.get(data.partner_id), item.tenant)
            if owner is None:
                continue
            if data.partner_id not in partner_owners:
                claimed[data.partner_id] = owner
            partner_owners[data.partner_id] = owner
            if isinstance(data, PartnerRegistered):
                partners.append((data, owner))
            elif programme_owners.get(data.programme_id) in (None, owner):
                agreements.append((data, owner))
        await self.store.claim_partners(claimed, ctx.session)
        await self.store.save_partners(partners, ctx.session)
        await self.store.save_agreements(agreements, ctx.session)
        await self.store.save_reports(
            "deliveries", _reports(batch, ContributionDelivered), ctx.session
        )

    async def _about_live_participants(
        self, batch: Sequence[Received], ctx: HandlerContext
    ) -> list[Received]:
        """Events about someone erased meanwhile (still in flight on another topic) are dropped:
        after an erasure nothing may be folded in under the person's id again."""
        ids = {str(getattr(item.event.data, "participant_id", "")) for item in batch} - {""}
        erased = await self.store.erased_among(ids, ctx.session)
        live = [
            item
            for item in batch
            if str(getattr(item.event.data, "participant_id", "")) not in erased
        ]
        # An event still under the id of a participant merged into another counts for that one.
        redirect = await self.store.merged_into(ids - erased, ctx.session)
        return [_redirected(item, redirect) for item in live] if redirect else live

    async def on_intake(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        operations = []
        follow_ups = []
        exited = []
        rejected: Counter[str] = Counter()
        for item in await self._about_live_participants(batch, ctx):
            data = item.event.data
            if isinstance(data, ParticipantEnrolled):
                operations.append(read_model.enrolled_update(data))
            elif isinstance(data, ParticipantMoved):
                operations.append(read_model.moved_update(data))
            elif isinstance(data, PlanAdopted):
                operations.append(read_model.plan_adopted_update(data))
            elif isinstance(data, ParticipationExited):
                operations.append(read_model.exited_update(data))
                follow_ups += read_model.follow_ups_on_exit(data)
                exited.append(data.participant_id)
            elif isinstance(data, ReferralRejected):
                rejected[data.programme_id or "(unknown)"] += 1
            elif isinstance(data, ConsentChanged):
                if data.purpose is ConsentPurpose.FOLLOW_UP_CONTACT and not data.granted:
                    await self.store.apply(operations, ctx.session)
                    operations = []
                    await self.store.withdraw_follow_up_contact([data.participant_id], ctx.session)
            elif isinstance(data, ParticipantErased):
                await self.store.apply(operations, ctx.session)
                operations = []
                await ctx.purge_unsent(self.store.db, [data.participant_id])
                await self.store.anonymise(data.participant_id, ctx.now, ctx.session)
            elif isinstance(data, ParticipantsMerged):
                await self.store.apply(operations, ctx.session)
                await self.store.apply_follow_ups(follow_ups, ctx.session)
                operations, follow_ups = [], []
                await self.store.merge(
                    data.merged_participant_id,
                    data.participant_id,
                    ctx.session,
                    reissued_at=ctx.now if data.reissued else None,
                )
        await self.store.apply(operations, ctx.session)
        await self.store.apply_follow_ups(follow_ups, ctx.session)
        if exited:
            # As after a placement's end: those who withdrew consent to follow-up contact.
            await self.store.withdraw_follow_up_contact(
                await self.store.contact_withdrawn_among(exited, ctx.session), ctx.session
            )
        await self.store.count_rejections(dict(rejected), ctx.session)
        await self.store.forget_old_erasure_marks(ctx.now)

    async def on_special_categories(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        await self.store.apply(
            [
                read_model.special_categories_update(item.event.data)
                for item in await self._about_live_participants(batch, ctx)
                if isinstance(item.event.data, SpecialCategoriesRecorded)
            ],
            ctx.session,
        )

    async def on_placements(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        operations = []
        follow_ups = []
        exited = []
        for item in await self._about_live_participants(batch, ctx):
            data = item.event.data
            if isinstance(data, PlacementStarted):
                operations.append(read_model.placement_started_update(data))
            elif isinstance(data, PlacementEnded):
                operations.append(read_model.placement_ended_update(data))
                follow_ups += read_model.follow_ups_scheduled(data)
                exited.append(data.participant_id)
            elif isinstance(data, SupportTaskOpened):
                operations.append(read_model.support_task_update(data))
            elif isinstance(data, PlacementChanged) and (
                hours := read_model.hours_changed_update(data)
            ):
                operations.append(hours)
        await self.store.apply(operations, ctx.session)
        await self.store.apply_follow_ups(follow_ups, ctx.session)
        # Those who withdrew consent to follow-up contact are not contacted after this exit either.
        withdrawn = await self.store.contact_withdrawn_among(exited, ctx.session)
        await self.store.withdraw_follow_up_contact(withdrawn, ctx.session)

    async def _answerable(
        self, batch: Sequence[Received], ctx: HandlerContext
    ) -> list[tuple[Received, int]]:
        """The follow-up answers their senders may give: a municipality about the residents it
        referred (or, in a programme whose municipalities share case handling, about any of its
        participants), a programme owner about its programmes' participants. Anyone else's is
        answered exactly as an unknown participant is. Each with the enrolment it answers for:
        the one it names, or the person's latest in the programme."""
        reports = [item for item in batch if isinstance(item.event.data, OutcomeReported)]
        keys = {(i.event.data.programme_id, i.event.data.participant_id) for i in reports}
        homes = await self.store.journey_municipalities(keys, ctx.session)
        programmes = {p.programme_id: p for p in await self.store.programme_definitions()}
        owners = await self.store.owners_of(
            "programmes", {programme for programme, _ in keys}, ctx.session
        )
        allowed = []
        for item in reports:
            report: OutcomeReported = item.event.data
            assert item.tenant is not None
            enrolments = homes.get((report.programme_id, report.participant_id), {})
            participation = report.participation or max(enrolments, default=1)
            home = enrolments.get(participation)
            if home is None:
                ctx.reject(
                    item,
                    InputRefusal.UNKNOWN_PARTICIPANT.value,
                    "No participant with that id in that programme.",
                    message_sv="Ingen deltagare med det id:t i programmet.",
                )
                continue
            programme = programmes.get(report.programme_id)
            claim = may_act_on_participant(
                item.tenant,
                {home},
                shared_in=[programme.municipalities]
                if programme and programme.cross_municipality_case_handling
                else [],
            )
            if not (claim.allowed or owners.get(report.programme_id) == item.tenant.key):
                ctx.refuse(
                    item,
                    InputRefusal.UNKNOWN_PARTICIPANT,
                    "No participant with that id in that programme.",
                    message_sv="Ingen deltagare med det id:t i programmet.",
                    audit={"participant_id": report.participant_id, "ground": claim.ground},
                )
            elif report.municipality != home:
                ctx.refuse(
                    item,
                    InputRefusal.MUNICIPALITY_MISMATCH,
                    "The answer names another home municipality than the participant's.",
                    message_sv="Svaret anger en annan hemkommun än deltagarens.",
                )
            else:
                allowed.append((item, participation))
        return allowed

    async def on_outcome_reports(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        recorded = []
        live = await self._about_live_participants(batch, ctx)
        for item, participation in await self._answerable(live, ctx):
            report = item.event.data
            outcome = OutcomeRecorded(
                outcome_id=report.report_id,
                participant_id=report.participant_id,
                programme_id=report.programme_id,
                municipality=report.municipality,
                follow_up=report.follow_up,
                status=report.status,
                in_sysselsattning=in_sysselsattning(report.status),
                income_support=report.income_support,
                source=report.source,
                observed_on=report.observed_on,
                employment_months=report.employment_months,
                municipal_labour_market_job=report.municipal_labour_market_job,
                studies_with_student_aid=report.studies_with_student_aid,
                participation=participation,
            )
            recorded.append(outcome)
            ctx.emit(
                new_event(
                    outcome, source=SOURCE, municipality=report.municipality, cause=item.event
                )
            )
        await self.store.save_outcomes(recorded, ctx.session)
        await self.store.apply([read_model.outcome_update(o) for o in recorded], ctx.session)
        await self.store.apply_follow_ups(
            [read_model.follow_up_answered(o) for o in recorded], ctx.session
        )


def follow_up_due_event(follow_up: FollowUp) -> FollowUpDue:
    assert follow_up.municipality is not None
    assert follow_up.exit_date is not None
    assert follow_up.due_date is not None
    return FollowUpDue(
        follow_up_id=follow_up.follow_up_id,
        participant_id=follow_up.participant_id,
        programme_id=follow_up.programme_id,
        municipality=follow_up.municipality,
        follow_up=follow_up.point,
        exit_date=follow_up.exit_date,
        due_date=follow_up.due_date,
        participation=follow_up.participation,
    )


class FollowUpsChanged(RuntimeError):
    """Another replica announced some of the same follow-ups: this round is undone and redone."""


class FollowUpAnnouncer:
    """Announces follow-ups that have fallen due (FollowUpDue) and marks them announced in the
    same transaction as the outbox records, so each is announced once, or not at all."""

    def __init__(
        self,
        db: ServiceDatabase,
        store: OutcomesStore,
        clock: Clock,
        *,
        batch: int = 500,
        on_committed: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.store = store
        self.clock = clock
        self.batch = batch
        self._on_committed = on_committed

    async def announce_due(self) -> int:
        today = self.clock()
        programmes = await self.store.programme_definitions()
        points = {p.programme_id: p.follow_ups for p in programmes}
        announced = 0
        while True:
            count = await self.db.in_transaction(lambda tx: self._announce_batch(tx, today, points))
            announced += count
            if count:
                self._on_committed()
            if count < self.batch:
                break
        if announced:
            log.info("follow-ups announced", count=announced, today=today.isoformat())
        return announced

    async def _announce_batch(self, tx: Transaction, today: date, points: dict[str, Any]) -> int:
        due = await self.store.due_follow_ups(today, points, tx.session, self.batch)
        marked = await self.store.mark_emitted([f.follow_up_id for f in due], tx.now, tx.session)
        if marked != len(due):
            raise FollowUpsChanged(f"{len(due) - marked} follow-ups were announced elsewhere")
        for follow_up in due:
            tx.emit(
                new_event(
                    follow_up_due_event(follow_up),
                    source=SOURCE,
                    municipality=follow_up.municipality,
                    # Derived from the follow-up itself: announcing it again (a retried
                    # transaction, a rebuild) yields the same event id, which consumers skip.
                    event_id=derive_event_id(follow_up.follow_up_id, FollowUpDue.TYPE),
                )
            )
        return len(due)


def _redirected(item: Received, into: Mapping[str, str]) -> Received:
    pid = str(getattr(item.event.data, "participant_id", ""))
    if pid not in into:
        return item
    data = item.event.data.model_copy(update={"participant_id": into[pid]})
    return replace(item, event=item.event.model_copy(update={"data": data}))


def _reports(
    batch: Sequence[Received], kind: type[CostReported] | type[ContributionDelivered]
) -> list[tuple[str, Any, str]]:
    """Each report of the kind, with its sender: whether that is the programme's owner is
    decided when the figures are read (the programme may be defined later)."""
    found = []
    for item in batch:
        if isinstance(item.event.data, kind):
            assert item.tenant is not None
            found.append((item.event.data.report_id, item.event.data, item.tenant.key))
    return found
