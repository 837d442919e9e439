"""Events placement publishes about participants' placements at partners."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.contracts import topics
from shared.contracts.envelope import EventData
from shared.contracts.vocabulary import ActivityType, EndReason, Identifier, Kommunkod


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

    def subject(self) -> str:
        return self.participant_id
