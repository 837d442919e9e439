"""Events partners publish back about the placements at their workplaces."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.contracts import topics
from shared.contracts.envelope import EventData
from shared.contracts.vocabulary import EndReason, Identifier


class PlacementEndReported(EventData):
    """A partner or caseworker reports that a placement has ended, and why."""

    TYPE = "insats.placement.end-reported.v1"
    TOPIC = topics.PARTNER_REPORTS

    placement_id: Identifier
    participant_id: Identifier
    reason: EndReason
    end_date: date
    exits_programme: bool = Field(
        default=True, description="False when the participant moves on to another step."
    )

    def subject(self) -> str:
        return self.participant_id
