"""Events outcomes publishes: follow-up answers as recorded facts."""

from __future__ import annotations

from datetime import date

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

    def subject(self) -> str:
        return self.participant_id
