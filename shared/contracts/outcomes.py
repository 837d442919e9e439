"""Events outcomes publishes: follow-ups that fall due, and follow-up answers as recorded facts."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.contracts import topics
from shared.contracts.envelope import EventData
from shared.contracts.vocabulary import (
    FollowUpPoint,
    Identifier,
    Kommunkod,
    OutcomeSource,
    OutcomeStatus,
)


class OutcomeRecorded(EventData):
    TYPE = "insats.outcome.recorded.v1"
    TOPIC = topics.OUTCOMES_EVENTS

    outcome_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    municipality: Kommunkod
    follow_up: FollowUpPoint
    status: OutcomeStatus
    in_sysselsattning: bool
    income_support: bool | None
    source: OutcomeSource
    observed_on: date
    # Carried over from the report (additive): what Kolada's "resultat vid avslut" needs.
    employment_months: float | None = Field(default=None, ge=0)
    municipal_labour_market_job: bool | None = None
    studies_with_student_aid: bool | None = None
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment's.")

    def subject(self) -> str:
        return self.participant_id


class FollowUpDue(EventData):
    """A follow-up of a participant who left a programme has fallen due: the municipality's case
    system (or a partner) asks the person and answers with insats.outcome.reported.v1, giving
    the same participant, programme and follow-up point."""

    TYPE = "insats.follow-up.due.v1"
    TOPIC = topics.OUTCOMES_EVENTS

    follow_up_id: Identifier = Field(description="programme:participant:point; stable.")
    participant_id: Identifier
    programme_id: Identifier
    municipality: Kommunkod = Field(description="The participant's home municipality.")
    follow_up: FollowUpPoint
    exit_date: date
    due_date: date = Field(description="A business day: the exit date plus the interval.")
    participation: int = Field(
        default=1, ge=1, le=1_000, description="The enrolment it follows up; give it back."
    )

    def subject(self) -> str:
        return self.participant_id
