"""Placement's rules: who waits, who is offered which place, and how a placement may change.

A programme's book holds its definition, its agreements (partners' places) and the best-ranked
part of its waiting list. Places are offered whenever something changes: a participant is
enrolled, an offer is declined, a placement ends, capacity or an agreement is added, a partner is
vetted. The waiting list is ordered by the programme's priority rule: income-support recipients
first where the rule says so, then by referral date, then by enrolment. Each participant in that
order is offered the best free place that suits them (activity, municipality, declined before);
one who fits no free place keeps their position while those behind them may fit elsewhere.

Dates are business dates from the events (a referral date, a reported end date), never the wall
clock, so replaying the history reproduces the same placements.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from shared.business_day import SWEDEN
from shared.cofinancing import parties_without_contribution
from shared.contracts.intake import ParticipationExited
from shared.contracts.municipal import (
    AgreementKind,
    AgreementSigned,
    Allocation,
    AllocationMode,
    Contribution,
    Preferences,
    PriorityRule,
    ProgrammeDefined,
    ReservedGroup,
    SupportPolicy,
    Weekday,
)
from shared.contracts.partner import (
    AttendanceReported,
    PlacementChangeReported,
    PlacementEndReported,
)
from shared.contracts.placement import (
    AttendanceRecorded,
    PlacementEnded,
    PlacementOffered,
    SupportTaskOpened,
)
from shared.contracts.plans import PlanStep
from shared.contracts.vocabulary import (
    AbsenceReason,
    ActivityType,
    EndReason,
    ExitReason,
    IopCriterion,
    PlacementAction,
    PlacementStatus,
    SupportTaskReason,
)
from shared.luhn import valid_organisationsnummer

_PLACEMENT_NAMESPACE = uuid.UUID("0c7b8f4e-2d7a-4f7e-b3f1-5b0e6a9c1d22")
# States that hold a place: an offer reserves it until it is declined.
OCCUPYING = frozenset(
    {
        PlacementStatus.OFFERED,
        PlacementStatus.ACCEPTED,
        PlacementStatus.STARTED,
        PlacementStatus.PAUSED,
    }
)


# --- partners ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Eligibility:
    missing: tuple[IopCriterion, ...] = ()
    failed: tuple[IopCriterion, ...] = ()
    parties_without_contribution: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.missing or self.failed or self.parties_without_contribution)


def iop_eligibility(
    kind: AgreementKind,
    vetting: Mapping[IopCriterion, bool],
    parties: Collection[str],
    contributions: Collection[Contribution],
    party_ids: Collection[str] = (),
) -> Eligibility:
    """Can this agreement receive placements? Only IOP agreements are vetted: every criterion of
    Kungsbacka's invitation must be assessed and met, and every party must contribute (by the
    rule in shared.cofinancing)."""
    if kind is not AgreementKind.IOP:
        return Eligibility()
    missing = tuple(c for c in IopCriterion if c not in vetting)
    failed = tuple(c for c in IopCriterion if vetting.get(c) is False)
    without = parties_without_contribution(parties, contributions, party_ids)
    return Eligibility(missing, failed, without)


def agreement_eligibility(
    agreement: AgreementSigned, vetting: Mapping[IopCriterion, bool]
) -> Eligibility:
    """Whether a signed agreement can receive placements, given its partner's vetting."""
    return iop_eligibility(
        agreement.kind,
        vetting,
        agreement.parties,
        agreement.contributions,
        agreement.party_ids,
    )


def organisationsnummer_problem(number: str) -> str | None:
    if not valid_organisationsnummer(number):
        return f"organisationsnummer {number} is not valid (check digit or form)"
    return None


# --- the queue and the places --------------------------------------------------------------


@dataclass(frozen=True)
class WaitingEntry:
    participant_id: str
    programme_id: str
    municipality: str
    income_support: bool
    referral_date: date
    enrolled_at: datetime
    preferences: Preferences = field(default_factory=Preferences)
    declined: frozenset[str] = frozenset()  # agreements this participant declined
    shares_details: bool = False  # consent to share placement details with the partner
    # Skyddade personuppgifter: a restriction no consent lifts.
    protected_identity: bool = False
    # Which of the person's enrolments in the programme this is (a return after an exit: 2).
    participation: int = 1
    # The restricted agreements intake found this enrolment eligible for, each as
    # "agreement:digest of its conditions" (AgreementPlaces.admission_key).
    eligible_for: frozenset[str] = frozenset()
    # The step of the participant's plan this entry waits for a place for; None without a plan.
    plan_step: PlanStep | None = None

    @property
    def plan_step_id(self) -> str | None:
        return self.plan_step.step_id if self.plan_step else None

    @property
    def queue_key(self) -> tuple[str, str | None]:
        return (self.participant_id, self.plan_step_id)

    def rank(self, rule: PriorityRule) -> tuple[int, date, datetime, str]:
        first = rule is PriorityRule.INCOME_SUPPORT_FIRST and self.income_support
        return (0 if first else 1, self.referral_date, self.enrolled_at, self.participant_id)

    def in_group(self, group: ReservedGroup) -> bool:
        return group is ReservedGroup.INCOME_SUPPORT and self.income_support


def admission_key(agreement_id: str, conditions: str | None) -> str:
    """How an enrolment's eligibility names an agreement: with the digest of the conditions it
    was decided on, so a decision on earlier conditions matches nothing."""
    return f"{agreement_id}:{conditions}"


@dataclass
class AgreementPlaces:
    agreement_id: str
    partner_id: str
    places: int
    activities: list[ActivityType]
    period_start: date
    period_end: date
    occupied: int = 0
    kind: AgreementKind = AgreementKind.IOP
    workplace_id: str | None = None
    workplace_municipality: str | None = None
    hours_per_week: int | None = None
    municipal_contact: str | None = None
    eligibility: Eligibility = field(default_factory=Eligibility)
    # The tenant that signed it: only an agreement its programme's owner signed offers places.
    # None for agreements signed before tenants were known, which count as the owner's.
    signed_by: str | None = None
    # Where the agreement's event was on the broker, and its id: to answer its signer if it is
    # dropped because the programme turned out to be someone else's.
    origin: str | None = None
    input_id: str | None = None
    # The digest of the conditions of who the places are for (Kalejdo's: women), or None if
    # they are for everyone in the programme. Intake decides who meets them.
    restricted_to: str | None = None

    @property
    def admission_key(self) -> str:
        return admission_key(self.agreement_id, self.restricted_to)

    def admits(self, entry: WaitingEntry) -> bool:
        """Whether the participant may be offered these places: open to all, or intake found
        them eligible on the conditions the agreement has now."""
        return self.restricted_to is None or self.admission_key in entry.eligible_for

    @classmethod
    def signed(
        cls,
        agreement: AgreementSigned,
        *,
        occupied: int,
        municipality: str | None,
        eligibility: Eligibility,
        signed_by: str | None = None,
        origin: str | None = None,
        input_id: str | None = None,
    ) -> AgreementPlaces:
        """The places of a signed agreement, as the book holds them."""
        return cls(
            agreement_id=agreement.agreement_id,
            partner_id=agreement.partner_id,
            places=agreement.places,
            activities=list(agreement.activities),
            period_start=agreement.period_start,
            period_end=agreement.period_end,
            occupied=occupied,
            kind=agreement.kind,
            workplace_id=agreement.workplace_id,
            workplace_municipality=municipality,
            hours_per_week=agreement.hours_per_week,
            municipal_contact=agreement.municipal_contact,
            eligibility=eligibility,
            signed_by=signed_by,
            origin=origin,
            input_id=input_id,
            restricted_to=agreement.restricted_to(),
        )

    def free_on(self, day: date) -> int:
        if not self.eligibility.ok or not self.period_start <= day <= self.period_end:
            return 0
        return max(0, self.places - self.occupied)

    def fits_step(self, step: PlanStep | None) -> bool:
        """Whether the place may serve the plan's step: at its partner or under its agreement,
        where the step names one."""
        if step is None:
            return True
        if step.agreement_id is not None and step.agreement_id != self.agreement_id:
            return False
        return step.partner_id is None or step.partner_id == self.partner_id

    def activity_for(
        self, preferences: Preferences, step: PlanStep | None = None
    ) -> ActivityType | None:
        """The activity this place offers the participant, or None if it offers nothing they
        want or cannot reach. A plan's step decides the activity; their preferences, where."""
        if step is not None:
            wanted = [a for a in self.activities if a is step.activity]
        else:
            wanted = [
                a
                for a in self.activities
                if not preferences.activities or a in preferences.activities
            ]
        if not wanted:
            return None
        if (
            preferences.municipalities
            and self.workplace_municipality is not None
            and self.workplace_municipality not in preferences.municipalities
        ):
            return None
        return wanted[0]

    def hours_for(self, preferences: Preferences, step: PlanStep | None = None) -> int | None:
        planned = step.hours_per_week if step else None
        limits = [
            h
            for h in (self.hours_per_week, preferences.max_hours_per_week, planned)
            if h is not None
        ]
        return min(limits) if limits else None


@dataclass
class ProgrammeBook:
    """The state of one programme that matching needs. Mutated while a batch is applied."""

    programme_id: str
    definition: ProgrammeDefined | None
    agreements: dict[str, AgreementPlaces]
    occupied: int
    waiting: list[WaitingEntry]
    waiting_total: int
    removed_from_queue: list[WaitingEntry] = field(default_factory=list)
    added_to_queue: list[WaitingEntry] = field(default_factory=list)
    # The tenant that owns the programme: the first that defined it.
    owner: str | None = None
    dropped_agreements: list[str] = field(default_factory=list)
    # Places held by members of the reserved group, and since when the reservation has had
    # places held free for the group (None while it is filled): after `days` they open.
    occupied_by_group: int = 0
    reserved_free_since: date | None = None
    # When places are next offered, where the programme waits for a burst to settle, and as of
    # which day; and the last scheduled round held, where it holds rounds.
    allocation_due_at: datetime | None = None
    pending_since: datetime | None = None
    pending_day: date | None = None
    last_round_at: datetime | None = None
    # Who is in `waiting`: a batch enqueues hundreds, and a scan of the list for each was
    # quadratic in the batch (measured in placement's profile).
    _queued: set[tuple[str, str | None]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._queued = {entry.queue_key for entry in self.waiting}

    def defer(self, day: date, now: datetime) -> None:
        """The queue or the places changed in a programme that lets a burst settle: offer once
        no change has come for its settle time (and at the latest after five of them)."""
        assert self.definition is not None
        settle = timedelta(seconds=self.definition.allocation.settle_seconds)
        self.pending_since = self.pending_since or now
        self.allocation_due_at = min(now + settle, self.pending_since + 5 * settle)
        self.pending_day = max(self.pending_day or day, day)

    def settled(self) -> None:
        self.allocation_due_at = self.pending_since = self.pending_day = None

    @property
    def rule(self) -> PriorityRule:
        return self.definition.priority if self.definition else PriorityRule.REFERRAL_DATE

    def free_places(self, day: date) -> int:
        if self.definition is None:
            return 0
        if not self.definition.period_start <= day <= self.definition.period_end:
            return 0
        return max(0, self.definition.capacity - self.occupied)

    def define(self, definition: ProgrammeDefined) -> None:
        self.definition = definition

    def signed_by_owner(self, agreement: AgreementPlaces) -> bool:
        return agreement.signed_by is None or agreement.signed_by == self.owner

    def sign(
        self,
        agreement: AgreementSigned,
        municipality: str | None,
        eligibility: Eligibility,
        signed_by: str | None = None,
        origin: str | None = None,
        input_id: str | None = None,
    ) -> None:
        current = self.agreements.get(agreement.agreement_id)
        self.agreements[agreement.agreement_id] = AgreementPlaces.signed(
            agreement,
            occupied=current.occupied if current else 0,
            municipality=municipality,
            eligibility=eligibility,
            signed_by=signed_by,
            origin=origin,
            input_id=input_id,
        )

    def unsigned_by_owner(self) -> list[AgreementPlaces]:
        """Agreements someone other than the owner signed before the owner defined the
        programme: they offer no places, and are dropped."""
        found = [a for a in self.agreements.values() if not self.signed_by_owner(a)]
        for agreement in found:
            del self.agreements[agreement.agreement_id]
            self.dropped_agreements.append(agreement.agreement_id)
        return found

    def enqueue(self, entry: WaitingEntry) -> None:
        if entry.queue_key in self._queued:
            return
        self._queued.add(entry.queue_key)
        self.waiting.append(entry)
        self.added_to_queue.append(entry)
        self.waiting_total += 1

    def leave_queue(self, participant_id: str) -> list[WaitingEntry]:
        """Every entry of the participant in the part of the queue loaded (one per plan step
        that waits)."""
        left = [entry for entry in self.waiting if entry.participant_id == participant_id]
        for entry in left:
            self._take(entry)
        return left

    def withdraw(self, entry: WaitingEntry) -> None:
        """The entry leaves the queue wherever it stands in it, in the part loaded or not."""
        if entry.queue_key in self._queued:
            queued = next(e for e in self.waiting if e.queue_key == entry.queue_key)
            self._take(queued)
        else:
            self.waiting_total = max(0, self.waiting_total - 1)
            self.removed_from_queue.append(entry)

    def release(self, agreement_id: str, *, in_group: bool = False) -> None:
        self.occupied = max(0, self.occupied - 1)
        if in_group:
            self.occupied_by_group = max(0, self.occupied_by_group - 1)
        agreement = self.agreements.get(agreement_id)
        if agreement is not None:
            agreement.occupied = max(0, agreement.occupied - 1)

    def held_for_group(self, day: date) -> int:
        """Free places held for the reserved group on `day`: the reservation's places its members
        do not hold, until they have waited free for the reservation's days."""
        reservation = self.definition.reserved if self.definition else None
        if reservation is None:
            return 0
        unfilled = max(0, reservation.places - self.occupied_by_group)
        if unfilled == 0:
            self.reserved_free_since = None
            return 0
        since = self.reserved_free_since = self.reserved_free_since or day
        if (day - since).days >= reservation.days:
            return 0  # held long enough: open to everyone ("i mån av plats")
        return min(unfilled, self.free_places(day))

    def allocate(
        self, day: date, cause: str, *, round_id: str | None = None
    ) -> list[PlacementOffered]:
        """Offer free places down the whole queue in priority order, as of `day` (or the
        programme's first day, if that is later: people referred before a programme opens wait
        for it). Whoever is first in line is offered first, whatever order they arrived in."""
        offers: list[PlacementOffered] = []
        if self.definition is None:
            return offers
        day = max(day, self.definition.period_start)
        rule = self.rule
        reservation = self.definition.reserved
        self.waiting.sort(key=lambda entry: entry.rank(rule))
        for position, entry in enumerate(list(self.waiting)):
            if self.free_places(day) <= 0:
                break
            member = reservation is not None and entry.in_group(reservation.group)
            if not member and self.free_places(day) <= self.held_for_group(day):
                continue  # the free places are held for the reserved group: they wait
            choice = self._best_place_for(entry, day)
            if choice is None:
                continue  # nothing free suits them: they keep their place in the queue
            agreement, activity = choice
            free_before = agreement.free_on(day)
            held = member and self.held_for_group(day) > 0
            self._take(entry)
            self.occupied += 1
            agreement.occupied += 1
            if member:
                self.occupied_by_group += 1
            offers.append(
                PlacementOffered(
                    placement_id=placement_id(
                        cause, entry.participant_id, self.programme_id, entry.plan_step_id
                    ),
                    participant_id=entry.participant_id,
                    programme_id=self.programme_id,
                    partner_id=agreement.partner_id,
                    agreement_id=agreement.agreement_id,
                    workplace_id=agreement.workplace_id,
                    activity=activity,
                    hours_per_week=agreement.hours_for(entry.preferences, entry.plan_step),
                    municipality=entry.municipality,
                    offered_on=max(day, entry.referral_date),
                    waited_days=(max(day, entry.referral_date) - entry.referral_date).days,
                    decision=_explain(entry, rule, agreement, activity, free_before, position),
                    ranked_by=rule.value,
                    priority_class=priority_class(entry, rule),
                    queue_position=position + 1,
                    reserved_place=held,
                    round_id=round_id,
                    participation=entry.participation,
                    plan_step_id=entry.plan_step_id,
                )
            )
        return offers

    def _take(self, entry: WaitingEntry) -> None:
        self.waiting.remove(entry)
        self._queued.discard(entry.queue_key)
        self.waiting_total = max(0, self.waiting_total - 1)
        if entry in self.added_to_queue:
            self.added_to_queue.remove(entry)
        else:
            self.removed_from_queue.append(entry)

    def _best_place_for(
        self, entry: WaitingEntry, day: date
    ) -> tuple[AgreementPlaces, ActivityType] | None:
        choices = []
        for agreement in self.agreements.values():
            if agreement.agreement_id in entry.declined or agreement.free_on(day) <= 0:
                continue
            if not self.signed_by_owner(agreement) or not agreement.admits(entry):
                continue
            if not agreement.fits_step(entry.plan_step):
                continue
            activity = agreement.activity_for(entry.preferences, entry.plan_step)
            if activity is None:
                continue
            preferred = entry.preferences.activities
            fit = preferred.index(activity) if activity in preferred else len(preferred)
            choices.append(
                ((fit, -agreement.free_on(day), agreement.agreement_id), agreement, activity)
            )
        if not choices:
            return None
        _, agreement, activity = min(choices, key=lambda choice: choice[0])
        return agreement, activity


def priority_class(entry: WaitingEntry, rule: PriorityRule) -> str:
    """The class the programme's rule puts the person in: income-support recipients first under
    forsorjningsstod_forst, everyone else after them."""
    first = rule is PriorityRule.INCOME_SUPPORT_FIRST and entry.income_support
    return "forsorjningsstod" if first else "ovriga"


# --- when places are offered ----------------------------------------------------------------

_WEEKDAYS = list(Weekday)  # Monday first, as date.weekday() counts


def latest_round(allocation: Allocation, now: datetime) -> datetime | None:
    """The most recent scheduled round at or before `now` (Swedish time), if the programme holds
    rounds on a schedule."""
    if allocation.mode is not AllocationMode.ROUNDS or not allocation.weekdays:
        return None
    hour, minute = (int(part) for part in allocation.at.split(":"))
    local = now.astimezone(SWEDEN)
    for back in range(8):
        day = local.date() - timedelta(days=back)
        held = datetime.combine(day, time(hour, minute), SWEDEN)
        if _WEEKDAYS[day.weekday()] in allocation.weekdays and held <= local:
            return held
    return None


def offers_at_once(definition: ProgrammeDefined | None) -> bool:
    """Whether a batch that changes the queue or the places offers at its end, in the same
    transaction; else a settle time or a round decides when."""
    if definition is None:
        return True
    allocation = definition.allocation
    return allocation.mode is AllocationMode.IMMEDIATE and allocation.settle_seconds == 0


def placement_id(
    cause: str, participant_id: str, programme_id: str, plan_step_id: str | None = None
) -> str:
    # A plan's steps side by side may be offered from one cause: each step its own placement.
    name = f"{cause}/{programme_id}/{participant_id}"
    if plan_step_id is not None:
        name += f"/{plan_step_id}"
    return "pl-" + uuid.uuid5(_PLACEMENT_NAMESPACE, name).hex


def _explain(
    entry: WaitingEntry,
    rule: PriorityRule,
    agreement: AgreementPlaces,
    activity: ActivityType,
    free_before: int,
    position: int,
) -> str:
    if rule is PriorityRule.INCOME_SUPPORT_FIRST:
        why = (
            "income-support recipient: first under forsorjningsstod_forst, by referral date"
            if entry.income_support
            else "no income support: after every income-support recipient waiting, by referral "
            "date (i mån av plats)"
        )
    else:
        why = "first in line by referral date (remissdatum)"
    passed = f"; {position} ahead in the queue had no suitable free place" if position else ""
    if agreement.restricted_to is not None:
        passed += "; eligible for the agreement's places (intake's decision)"
    if entry.plan_step is not None:
        passed += f"; step {entry.plan_step.step_id} of the participant's plan"
    wanted = (
        f"; asked for {', '.join(a.value for a in entry.preferences.activities)}"
        if entry.preferences.activities
        else ""
    )
    return (
        f"{why}; referred {entry.referral_date.isoformat()}{passed}{wanted}; {activity.value} at "
        f"partner {agreement.partner_id} under agreement {agreement.agreement_id} "
        f"({free_before} of {agreement.places} places free)"
    )


# --- one placement's lifecycle --------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    placement_id: str
    participant_id: str
    programme_id: str
    partner_id: str
    agreement_id: str
    municipality: str
    activity: ActivityType
    status: PlacementStatus
    offered_on: date
    entry: WaitingEntry
    decision: str = ""
    workplace_id: str | None = None
    hours_per_week: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    municipal_contact: str | None = None
    shares_details: bool = False
    protected_identity: bool = False
    # The business day the offer was made. `offered_on` is the day the placement's dates count
    # from (a referral's first offer: its referral date), which may be weeks earlier.
    made_on: date | None = None

    @property
    def partner_may_know_who(self) -> bool:
        """The participant consented to the partner seeing their id, and has no protected
        identity (which no consent lifts)."""
        return self.shares_details and not self.protected_identity


# offered -> accepted or declined -> started -> paused -> resumed -> ended
_TRANSITIONS: dict[PlacementStatus, dict[PlacementAction, PlacementStatus]] = {
    PlacementStatus.OFFERED: {
        PlacementAction.ACCEPT: PlacementStatus.ACCEPTED,
        PlacementAction.DECLINE: PlacementStatus.DECLINED,
    },
    PlacementStatus.ACCEPTED: {
        PlacementAction.START: PlacementStatus.STARTED,
        PlacementAction.DECLINE: PlacementStatus.DECLINED,
    },
    PlacementStatus.STARTED: {
        PlacementAction.PAUSE: PlacementStatus.PAUSED,
        PlacementAction.CHANGE_HOURS: PlacementStatus.STARTED,
    },
    PlacementStatus.PAUSED: {
        PlacementAction.RESUME: PlacementStatus.STARTED,
        PlacementAction.CHANGE_HOURS: PlacementStatus.PAUSED,
    },
}
_CHANGE_NAMES = {
    PlacementAction.ACCEPT: "accepted",
    PlacementAction.DECLINE: "declined",
    PlacementAction.START: "started",
    PlacementAction.PAUSE: "paused",
    PlacementAction.RESUME: "resumed",
    PlacementAction.CHANGE_HOURS: "hours_changed",
}


@dataclass(frozen=True)
class Refusal:
    reason: str


@dataclass(frozen=True)
class Changed:
    placement: Placement
    change: str

    @property
    def frees_place(self) -> bool:
        return self.placement.status is PlacementStatus.DECLINED


def change(placement: Placement | None, report: PlacementChangeReported) -> Changed | Refusal:
    """Apply a reported step, or refuse it with the reason; an illegal step is never applied."""
    if refusal := _check_owner(placement, report.placement_id, report.participant_id):
        return refusal
    assert placement is not None
    target = _TRANSITIONS.get(placement.status, {}).get(report.action)
    if target is None:
        return Refusal(f"cannot {report.action.value} a placement that is {placement.status.value}")
    if report.on < placement.offered_on:
        return Refusal(
            f"{report.on.isoformat()} is before the offer ({placement.offered_on.isoformat()})"
        )
    updated = replace(placement, status=target)
    if report.action is PlacementAction.START:
        updated = replace(updated, start_date=report.on)
    if report.hours_per_week is not None:
        updated = replace(updated, hours_per_week=report.hours_per_week)
    return Changed(updated, _CHANGE_NAMES[report.action])


def expired(placement: Placement, response_days: int | None, today: date) -> Changed | None:
    """An offer left unanswered past the programme's response time, declined on the
    participant's behalf (change `expired`), so that its place goes to the next in line; None
    while it may still be answered, once answered, or where offers wait until answered."""
    if response_days is None or placement.status is not PlacementStatus.OFFERED:
        return None
    # The time to answer runs from when the person could first have heard of the offer.
    made = max(placement.offered_on, placement.made_on or placement.offered_on)
    if today <= made + timedelta(days=response_days):
        return None
    return Changed(replace(placement, status=PlacementStatus.DECLINED), "expired")


# How a placement ends when its participant leaves the programme during it.
_END_ON_EXIT: dict[ExitReason, EndReason] = {
    ExitReason.FOUND_WORK: EndReason.MOVED_TO_WORK,
    ExitReason.STARTED_STUDIES: EndReason.MOVED_TO_STUDIES,
    ExitReason.MOVED_AWAY: EndReason.MOVED_AWAY,
    ExitReason.WITHDRAWN: EndReason.DROPPED_OUT,
    ExitReason.NO_CONTACT: EndReason.DROPPED_OUT,
}


@dataclass(frozen=True)
class Withdrawn:
    """What a participant's exit from the programme does to one of their placements: an offer
    (answered or not) is withdrawn; a placement under way ends, with the programme."""

    placement: Placement
    change: str
    ended: PlacementEnded | None = None


def withdrawn_for_plan(placement: Placement) -> Placement | None:
    """An offer made before the participant had a plan and not answered yet gives way to the
    plan, which decides what they wait for; one accepted or under way runs its course."""
    if placement.entry.plan_step_id is None and placement.status is PlacementStatus.OFFERED:
        return replace(placement, status=PlacementStatus.DECLINED)
    return None


def withdraw_on_exit(placement: Placement, exited: ParticipationExited) -> Withdrawn | None:
    """None for a placement of another programme or enrolment, or one that holds no place."""
    if (
        placement.programme_id != exited.programme_id
        or placement.entry.participation != exited.participation
        or placement.status not in OCCUPYING
    ):
        return None
    if placement.start_date is None:
        return Withdrawn(replace(placement, status=PlacementStatus.DECLINED), "withdrawn")
    # A placement cannot end before it started; an exit dated earlier ends it the day it began.
    end_date = max(exited.exited_on, placement.start_date)
    reason = _END_ON_EXIT.get(exited.reason, EndReason.OTHER)
    ended = _ended(placement, end_date, reason, exits_programme=True)
    return Withdrawn(
        replace(placement, status=PlacementStatus.ENDED, end_date=end_date),
        f"ended:{ended.reason.value}",
        ended,
    )


def end(placement: Placement | None, report: PlacementEndReported) -> PlacementEnded | Refusal:
    """End a placement that has started (and may be paused), or refuse with the reason."""
    if refusal := _check_owner(placement, report.placement_id, report.participant_id):
        return refusal
    assert placement is not None
    if placement.status not in {PlacementStatus.STARTED, PlacementStatus.PAUSED}:
        return Refusal(f"cannot end a placement that is {placement.status.value}")
    assert placement.start_date is not None
    if report.end_date < placement.start_date:
        return Refusal(
            f"end date {report.end_date.isoformat()} is before the start "
            f"{placement.start_date.isoformat()}"
        )
    return _ended(placement, report.end_date, report.reason, report.exits_programme)


def _ended(
    placement: Placement, end_date: date, reason: EndReason, exits_programme: bool
) -> PlacementEnded:
    assert placement.start_date is not None
    return PlacementEnded(
        placement_id=placement.placement_id,
        participant_id=placement.participant_id,
        programme_id=placement.programme_id,
        partner_id=placement.partner_id,
        municipality=placement.municipality,
        start_date=placement.start_date,
        end_date=end_date,
        reason=reason,
        exits_programme=exits_programme,
        participation=placement.entry.participation,
        plan_step_id=placement.entry.plan_step_id,
    )


def _check_owner(
    placement: Placement | None, placement_id: str, participant_id: str | None
) -> Refusal | None:
    if placement is None:
        return Refusal(f"unknown placement {placement_id}")
    if participant_id is not None and placement.participant_id != participant_id:
        return Refusal(f"placement {placement_id} belongs to another participant")
    if placement.status in {PlacementStatus.ENDED, PlacementStatus.DECLINED}:
        return Refusal(f"placement {placement_id} is already {placement.status.value}")
    return None


# --- attendance and support -----------------------------------------------------------------

ATTENDANCE_WINDOW = timedelta(days=28)


@dataclass(frozen=True)
class AttendanceRisk:
    missed_share: float
    unexcused_share: float
    period_start: date
    period_end: date


def attendance_risk(
    reports: Collection[AttendanceReported], threshold: float
) -> AttendanceRisk | None:
    """The share of expected hours missed without a valid reason over the four weeks up to the
    latest report, if at or over the threshold: a participant home sick, caring for a sick
    child or excused by the caseworker is not at risk for it. Missed hours given no reason are
    unexcused, so a partner that reports no reasons is judged on every missed hour."""
    if not reports:
        return None
    latest = max(r.period_end for r in reports)
    recent = [r for r in reports if r.period_end > latest - ATTENDANCE_WINDOW]
    expected = sum(r.expected_hours for r in recent)
    if not expected:
        return None
    missed = sum(r.missed_hours for r in recent) / expected
    unexcused = sum(r.absent_hours(AbsenceReason.UNEXCUSED) for r in recent) / expected
    if unexcused < threshold:
        return None
    return AttendanceRisk(
        round(min(missed, 1.0), 3),
        round(min(unexcused, 1.0), 3),
        min(r.period_start for r in recent),
        latest,
    )


def attendance_recorded(report: AttendanceReported, placement: Placement) -> AttendanceRecorded:
    """The report as the municipality sees it: hours by reason, never the partner's own text."""
    return AttendanceRecorded(
        placement_id=placement.placement_id,
        participant_id=placement.participant_id,
        programme_id=placement.programme_id,
        partner_id=placement.partner_id,
        municipality=placement.municipality,
        period_start=report.period_start,
        period_end=report.period_end,
        expected_hours=report.expected_hours,
        attended_hours=report.attended_hours,
        sick_hours=report.absent_hours(AbsenceReason.SICK),
        care_of_child_hours=report.absent_hours(AbsenceReason.CARE_OF_CHILD),
        excused_hours=report.absent_hours(AbsenceReason.EXCUSED),
        unexcused_hours=report.absent_hours(AbsenceReason.UNEXCUSED),
        participant_confirmed_on=report.participant_confirmed_on,
        participation=placement.entry.participation,
    )


def support_check_ins(
    ended: PlacementEnded, policy: SupportPolicy | None = None
) -> list[tuple[str, date]]:
    """The check-ins after an end the programme follows up (Helsingborg's lesson: people who
    move on into work or studies still need support), at its days after the end."""
    policy = policy or SupportPolicy()
    if ended.reason not in policy.after:
        return []
    return [
        (f"{ended.placement_id}:stod:{n + 1}", ended.end_date + timedelta(days=days))
        for n, days in enumerate(sorted(set(policy.check_in_days)))
    ]


NO_CONTACT_PERSON = "Kommunens handläggare"


def support_task(
    placement: Placement,
    reason: SupportTaskReason,
    task_id: str,
    on: date,
    policy: SupportPolicy | None = None,
) -> SupportTaskOpened:
    """A task for the municipality's contact for the placement's agreement (or the caseworker,
    if it names none), due within the programme's days."""
    policy = policy or SupportPolicy()
    return SupportTaskOpened(
        task_id=task_id,
        placement_id=placement.placement_id,
        participant_id=placement.participant_id,
        programme_id=placement.programme_id,
        partner_id=placement.partner_id,
        municipality=placement.municipality,
        reason=reason,
        owner=placement.municipal_contact or NO_CONTACT_PERSON,
        opened_on=on,
        due_date=on + timedelta(days=policy.task_due_days),
        participation=placement.entry.participation,
    )
