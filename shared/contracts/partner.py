"""Events partners (and caseworkers) publish back about placements: ends, changes of state,
attendance, concerns and follow-up support check-ins.

Keyed by the participant id, so one participant's reports stay in order with everything else
about them. A partner whose stream carries no participant id (the participant did not consent to
sharing) leaves it out and keys by the placement id instead: the placement names the participant,
and one placement's reports still stay in order."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from shared.contracts import topics
from shared.contracts.envelope import ContractModel, EventData
from shared.contracts.tenants import Channel
from shared.contracts.vocabulary import (
    AbsenceReason,
    BusinessDate,
    CheckInStatus,
    EndReason,
    Identifier,
    Name,
    Note,
    PlacementAction,
    ShortText,
)


class PlacementEndReported(EventData):
    """A partner or caseworker reports that a placement has ended, and why."""

    TYPE = "insats.placement.end-reported.v1"
    TOPIC = topics.PARTNER_REPORTS
    CHANNEL = Channel.PLACEMENT_REPORTS

    placement_id: Identifier
    # Optional, not nullable: a publisher leaves it out (SkipJsonSchema keeps null out of the
    # published schema, so this stays an additive change to v1).
    participant_id: Identifier | SkipJsonSchema[None] = Field(
        default=None, description="Pseudonymous; may be left out when the partner does not know it."
    )
    reason: EndReason
    end_date: BusinessDate
    exits_programme: bool = Field(
        default=True, description="False when the participant moves on to another step."
    )

    def subject(self) -> str:
        return self.participant_id or self.placement_id


class PlacementChangeReported(EventData):
    """An offer accepted or declined, a start, a pause, a resumption, or a change of hours."""

    TYPE = "insats.placement.change-reported.v1"
    TOPIC = topics.PARTNER_REPORTS
    CHANNEL = Channel.PLACEMENT_REPORTS

    placement_id: Identifier
    # Optional, not nullable: a publisher leaves it out (SkipJsonSchema keeps null out of the
    # published schema, so this stays an additive change to v1).
    participant_id: Identifier | SkipJsonSchema[None] = Field(
        default=None, description="Pseudonymous; may be left out when the partner does not know it."
    )
    action: PlacementAction
    on: BusinessDate
    hours_per_week: int | None = Field(default=None, ge=1, le=40)
    reason: ShortText = Field(default="", description="Why, for a decline or a pause.")
    reported_by: Name = ""

    @model_validator(mode="after")
    def _hours_given_when_changed(self) -> PlacementChangeReported:
        if self.action is PlacementAction.CHANGE_HOURS and self.hours_per_week is None:
            raise ValueError("a change of hours gives hours_per_week")
        return self

    def subject(self) -> str:
        return self.participant_id or self.placement_id


class Absence(ContractModel):
    reason: AbsenceReason
    hours: float = Field(gt=0, le=744)


class AttendanceReported(EventData):
    """Attendance over a day or a week, as the partner's own system records it: the hours
    expected and attended, why the others were missed, and whether the participant confirmed
    them."""

    TYPE = "insats.attendance.reported.v1"
    TOPIC = topics.PARTNER_REPORTS
    CHANNEL = Channel.PLACEMENT_REPORTS

    placement_id: Identifier
    # Optional, not nullable: a publisher leaves it out (SkipJsonSchema keeps null out of the
    # published schema, so this stays an additive change to v1).
    participant_id: Identifier | SkipJsonSchema[None] = Field(
        default=None, description="Pseudonymous; may be left out when the partner does not know it."
    )
    period_start: BusinessDate
    period_end: BusinessDate
    expected_hours: float = Field(gt=0, le=744, description="At most the hours of a month.")
    attended_hours: float = Field(ge=0, le=744)
    absences: list[Absence] = Field(
        default_factory=list,
        max_length=8,
        description="Why the hours not attended were missed, by reason. Missed hours given no "
        "reason count as unexcused; reasons for more hours than were missed are refused.",
    )
    participant_confirmed_on: BusinessDate | SkipJsonSchema[None] = Field(
        default=None,
        description="The day the participant confirmed (signed) these hours, where the programme "
        "asks for it, as ESF time reports (tidrapporter) do.",
    )

    @model_validator(mode="after")
    def _period_in_order(self) -> AttendanceReported:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if sum(a.hours for a in self.absences) > self.missed_hours + 1e-6:
            raise ValueError("the absences add up to more hours than were missed")
        return self

    @property
    def missed_hours(self) -> float:
        return max(0.0, self.expected_hours - self.attended_hours)

    def absent_hours(self, reason: AbsenceReason) -> float:
        """Hours missed for the reason; unexcused includes missed hours given no reason."""
        given = sum(a.hours for a in self.absences if a.reason is reason)
        if reason is AbsenceReason.UNEXCUSED:
            given += self.missed_hours - sum(a.hours for a in self.absences)
        return round(max(0.0, given), 2)

    def subject(self) -> str:
        return self.participant_id or self.placement_id


class ConcernReported(EventData):
    """A note of concern from the workplace. The note stays in placement: it is never published."""

    TYPE = "insats.concern.reported.v1"
    TOPIC = topics.PARTNER_REPORTS
    CHANNEL = Channel.PLACEMENT_REPORTS

    placement_id: Identifier
    # Optional, not nullable: a publisher leaves it out (SkipJsonSchema keeps null out of the
    # published schema, so this stays an additive change to v1).
    participant_id: Identifier | SkipJsonSchema[None] = Field(
        default=None, description="Pseudonymous; may be left out when the partner does not know it."
    )
    on: BusinessDate
    note: Note

    def subject(self) -> str:
        return self.participant_id or self.placement_id


class SupportCheckInReported(EventData):
    """A follow-up support check-in after a placement ended in work or studies."""

    TYPE = "insats.support-check-in.reported.v1"
    TOPIC = topics.PARTNER_REPORTS
    CHANNEL = Channel.PLACEMENT_REPORTS

    check_in_id: Identifier
    placement_id: Identifier
    # Optional, not nullable: a publisher leaves it out (SkipJsonSchema keeps null out of the
    # published schema, so this stays an additive change to v1).
    participant_id: Identifier | SkipJsonSchema[None] = Field(
        default=None, description="Pseudonymous; may be left out when the partner does not know it."
    )
    on: BusinessDate
    status: CheckInStatus
    note: Note = ""

    def subject(self) -> str:
        return self.participant_id or self.placement_id


class SupportTaskClosedReported(EventData):
    """The participant's municipality has acted on a support task (insats.support-task.opened.v1):
    what it did, in a word, and when. Only the municipality closes its tasks."""

    TYPE = "insats.support-task.closed-reported.v1"
    TOPIC = topics.PARTNER_REPORTS
    CHANNEL = Channel.PLACEMENT_REPORTS

    task_id: Identifier
    placement_id: Identifier
    participant_id: Identifier | SkipJsonSchema[None] = Field(default=None)
    on: BusinessDate
    action: ShortText = Field(
        description="What was done, e.g. 'samtal med deltagaren, stöd från jobbcoach'. Kept by "
        "placement, published to the municipality's own stream only."
    )
    reported_by: Name = ""

    def subject(self) -> str:
        return self.participant_id or self.placement_id
