"""Events placement publishes: offers, the placement's lifecycle, risks, partner eligibility,
support check-ins, and each partner's own stream of the placements that concern it."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.contracts import topics
from shared.contracts.envelope import EventData
from shared.contracts.plans import StepStatus
from shared.contracts.vocabulary import (
    ActivityType,
    EndReason,
    Identifier,
    IopCriterion,
    Kommunkod,
    Name,
    PlacementStatus,
    SupportTaskReason,
)


class PlacementOffered(EventData):
    """A free place was matched to the participant first in line for it. The place is held
    until the offer is accepted (then started) or declined."""

    TYPE = "insats.placement.offered.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    partner_id: Identifier
    agreement_id: Identifier
    workplace_id: Identifier | None = None
    activity: ActivityType
    hours_per_week: int | None = None
    municipality: Kommunkod
    offered_on: date
    waited_days: int = Field(ge=0, description="Days from referral to the offer.")
    decision: str = Field(description="Why this participant and this place.")
    # Why this person now, as data (additive): the rule that ranked the queue, the person's
    # class under it, where they stood, and the round that offered, if the programme has rounds.
    ranked_by: str | None = Field(
        default=None, description="The programme's priority rule that ordered the queue."
    )
    priority_class: str | None = Field(
        default=None,
        description="forsorjningsstod (first under forsorjningsstod_forst) or ovriga.",
    )
    queue_position: int | None = Field(
        default=None, ge=1, description="Their place in the ordered queue when offered."
    )
    reserved_place: bool | None = Field(
        default=None, description="The place was one held for the person's group."
    )
    participation: int = Field(
        default=1, ge=1, le=1_000, description="The enrolment the offer is for."
    )
    round_id: str | None = Field(
        default=None, description="The allocation round that offered it, in rounds mode."
    )
    plan_step_id: Identifier | None = Field(
        default=None, description="The step of the participant's plan it is, if they have one."
    )

    def subject(self) -> str:
        return self.participant_id


class PlacementStarted(EventData):
    TYPE = "insats.placement.started.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    partner_id: Identifier
    agreement_id: Identifier
    activity: ActivityType
    municipality: Kommunkod
    start_date: date
    waited_days: int = Field(ge=0, description="Days from referral to this placement.")
    decision: str = Field(description="Why this participant got this place.")
    workplace_id: Identifier | None = None
    hours_per_week: int | None = None
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment's.")
    plan_step_id: Identifier | None = Field(
        default=None, description="The step of the participant's plan it is, if they have one."
    )

    def subject(self) -> str:
        return self.participant_id


class PlacementChanged(EventData):
    """Every other step of the lifecycle: accepted, declined, paused, resumed, hours changed, or
    an offer that expired unanswered (status avbojd, change expired)."""

    TYPE = "insats.placement.changed.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    partner_id: Identifier
    municipality: Kommunkod
    status: PlacementStatus = Field(description="The status after the change.")
    change: str = Field(
        description="accepted, declined, paused, resumed, hours_changed, expired (an offer "
        "not answered within the programme's offer_response_days) or withdrawn (an offer whose "
        "participant left the programme)."
    )
    on: date
    hours_per_week: int | None = None
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment's.")

    def subject(self) -> str:
        return self.participant_id


class PlacementEnded(EventData):
    TYPE = "insats.placement.ended.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    partner_id: Identifier
    municipality: Kommunkod
    start_date: date
    end_date: date
    reason: EndReason
    exits_programme: bool
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment's.")
    plan_step_id: Identifier | None = Field(
        default=None, description="The step of the participant's plan it is, if they have one."
    )

    def subject(self) -> str:
        return self.participant_id


class PlacementAtRisk(EventData):
    """Missed attendance passed the programme's threshold: the caseworker should act."""

    TYPE = "insats.placement.at-risk.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    partner_id: Identifier
    municipality: Kommunkod
    period_start: date
    period_end: date
    missed_share: float = Field(
        ge=0, le=1, description="Of the expected hours, missed for any reason."
    )
    threshold: float = Field(ge=0, le=1)
    unexcused_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Of the expected hours, missed without a valid reason (not sick, not care "
        "of a child, not excused): what the threshold is held against.",
    )

    def subject(self) -> str:
        return self.participant_id


class AttendanceRecorded(EventData):
    """A partner's attendance report, as the participant's municipality needs it for income
    support and ESF time reports: hours expected and attended, the hours missed by reason, and
    whether the participant confirmed them. The partner's free text never travels."""

    TYPE = "insats.attendance.recorded.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    partner_id: Identifier
    municipality: Kommunkod
    period_start: date
    period_end: date
    expected_hours: float = Field(ge=0, le=744)
    attended_hours: float = Field(ge=0, le=744)
    sick_hours: float = Field(default=0, ge=0, le=744)
    care_of_child_hours: float = Field(default=0, ge=0, le=744)
    excused_hours: float = Field(default=0, ge=0, le=744)
    unexcused_hours: float = Field(
        default=0, ge=0, le=744, description="Including missed hours given no reason."
    )
    participant_confirmed_on: date | None = None
    participation: int = Field(default=1, ge=1, le=1_000)

    def subject(self) -> str:
        return self.participant_id


class PartnerNotEligible(EventData):
    """An IOP agreement cannot receive placements: its partner lacks IOP criteria, or a party
    contributes nothing (IOP requires co-financing from every party)."""

    TYPE = "insats.partner.not-eligible.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    partner_id: Identifier
    agreement_id: Identifier
    programme_id: Identifier
    missing_criteria: list[IopCriterion] = Field(description="Never assessed.")
    failed_criteria: list[IopCriterion] = Field(description="Assessed and not met.")
    parties_without_contribution: list[str] = Field(default_factory=list)

    def subject(self) -> str:
        return self.partner_id


class SupportCheckInDue(EventData):
    """A participant who left a placement for work or studies is due a support check-in
    (Helsingborg's lesson: people placed still need support)."""

    TYPE = "insats.support-check-in.due.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    check_in_id: Identifier
    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    partner_id: Identifier
    municipality: Kommunkod
    due_date: date

    def subject(self) -> str:
        return self.participant_id


class SupportTaskOpened(EventData):
    """Someone needs support now: a check-in was answered behover_stod, or unexcused absence
    put the placement at risk. The task has an owner (the agreement's municipal contact) and a
    due date (the programme's support.task_due_days); the participant's municipality sees it,
    and so does the partner where the participant consented to sharing."""

    TYPE = "insats.support-task.opened.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    task_id: Identifier
    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    partner_id: Identifier
    municipality: Kommunkod
    reason: SupportTaskReason
    owner: Name
    opened_on: date
    due_date: date
    participation: int = Field(default=1, ge=1, le=1_000)

    def subject(self) -> str:
        return self.participant_id


class SupportTaskClosed(EventData):
    """A support task the municipality has acted on, as it reported it."""

    TYPE = "insats.support-task.closed.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    task_id: Identifier
    placement_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    municipality: Kommunkod
    opened_on: date
    closed_on: date
    overdue: bool = Field(description="Closed after its due date.")
    action: str = Field(max_length=500)

    def subject(self) -> str:
        return self.participant_id


class PartnerSupportNotice(EventData):
    """On a partner's own stream: a support check-in due for a placement at its workplace,
    which the partner may answer (insats.support-check-in.reported.v1, as the municipality
    may), or a support task opened (only where the participant consented to sharing). The
    participant id only with that consent."""

    TYPE = "insats.partner-support.notice.v1"
    TOPIC = topics.PARTNER_PLACEMENTS_TEMPLATE

    placement_id: Identifier
    partner_id: Identifier
    participant_id: Identifier | None = Field(
        default=None,
        description="The partner's own id for the participant (no other audience's); only "
        "with the participant's consent to sharing.",
    )
    check_in_id: Identifier | None = Field(default=None, description="A check-in due: its id.")
    task_id: Identifier | None = Field(default=None, description="A support task: its id.")
    reason: SupportTaskReason | None = None
    owner: Name | None = Field(default=None, description="Who at the municipality owns the task.")
    due_date: date

    def subject(self) -> str:
        return self.placement_id


class PartnerPlacementUpdated(EventData):
    """A partner's own view of one placement at its workplaces: what it needs to receive the
    participant and nothing more: never income support or special-category data. Without the
    participant's consent to sharing, the participant id is left out."""

    TYPE = "insats.partner-placement.updated.v1"
    TOPIC = topics.PARTNER_PLACEMENTS_TEMPLATE

    placement_id: Identifier
    partner_id: Identifier
    participant_id: Identifier | None = Field(
        default=None,
        description="The partner's own id for the participant (no other audience's); only "
        "with the participant's consent to sharing.",
    )
    status: PlacementStatus | None = Field(
        default=None, description="None when the placement was withdrawn (the person erased)."
    )
    workplace_id: Identifier | None = None
    activity: ActivityType | None = None
    hours_per_week: int | None = None
    offered_on: date | None = Field(
        default=None, description="Steps reported for the placement may not be dated earlier."
    )
    start_date: date | None = None
    end_date: date | None = None
    municipal_contact: str | None = None

    def subject(self) -> str:
        return self.placement_id


class PlanProgressed(EventData):
    """Where a participant's plan stands after it was adopted or one of its placement steps
    started or ended: what they now wait for a place for, what is under way, and whether every
    step has ended (then the caseworker decides what comes next; nobody is queued for whatever
    the queue offers)."""

    TYPE = "insats.plan.progressed.v1"
    TOPIC = topics.PLACEMENT_EVENTS

    participant_id: Identifier
    programme_id: Identifier
    municipality: Kommunkod
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment's.")
    revision: int = Field(ge=1, description="The plan's revision it follows.")
    change: str = Field(description="adopted, step_started or step_ended.")
    step_id: Identifier | None = Field(default=None, description="The step that started or ended.")
    step_status: StepStatus | None = None
    on: date
    waiting_for: list[Identifier] = Field(
        default_factory=list,
        description="Placement steps the participant now waits for a place for.",
    )
    under_way: list[Identifier] = Field(
        default_factory=list, description="Steps begun and not ended."
    )
    complete: bool = Field(description="Every step of the plan has ended.")

    def subject(self) -> str:
        return self.participant_id
