"""Each municipality's own stream: the events about its residents, as a municipality's systems
may receive them — pseudonymous, without income-support or special-category facts, and without
free text that could reveal them (such as an offer's decision).

Every service adds the resident view of what it publishes to the resident's municipality's
topic, in the same outbox write, so the stream is exactly as complete and ordered as the
services' own topics. After an erasure no new event names the person, on any stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import Field

from shared.contracts import topics
from shared.contracts.envelope import Envelope, EventData
from shared.contracts.vocabulary import Identifier, Kommunkod

# What each event type may show a municipality: everything else in its payload is left out.
VISIBLE_FIELDS: Final[dict[str, frozenset[str]]] = {
    "insats.participant.enrolled.v1": frozenset(
        {
            "participant_id",
            "referral_id",
            "programme_id",
            "birth_year",
            "gender",
            "referral_date",
            "participation",
        }
    ),
    "insats.referral.rejected.v1": frozenset({"referral_id", "programme_id", "reason", "rule"}),
    "insats.consent.changed.v1": frozenset({"participant_id", "purpose", "granted", "recorded_on"}),
    "insats.participant.erased.v1": frozenset({"participant_id", "erased_on"}),
    "insats.identity.linked.v1": frozenset({"participant_id", "request_id", "linked_on"}),
    "insats.participants.merged.v1": frozenset(
        {"participant_id", "merged_participant_id", "request_id", "merged_on", "reissued"}
    ),
    "insats.participant.moved.v1": frozenset(
        {
            "participant_id",
            "programme_id",
            "participation",
            "from_municipality",
            "to_municipality",
            "moved_on",
        }
    ),
    "insats.participant.handed-over.v1": frozenset(
        {
            "participant_id",
            "programme_id",
            "participation",
            "from_municipality",
            "to_municipality",
            "moved_on",
            "programmes",
        }
    ),
    "insats.participation.exited.v1": frozenset(
        {"participant_id", "programme_id", "referral_id", "reason", "exited_on", "participation"}
    ),
    "insats.placement.offered.v1": frozenset(
        {
            "placement_id",
            "participant_id",
            "plan_step_id",
            "programme_id",
            "partner_id",
            "activity",
            "hours_per_week",
            "offered_on",
            "waited_days",
            "participation",
        }
    ),
    "insats.placement.started.v1": frozenset(
        {
            "placement_id",
            "participant_id",
            "plan_step_id",
            "programme_id",
            "partner_id",
            "activity",
            "hours_per_week",
            "start_date",
            "waited_days",
            "participation",
        }
    ),
    "insats.placement.changed.v1": frozenset(
        {
            "placement_id",
            "participant_id",
            "programme_id",
            "partner_id",
            "status",
            "change",
            "on",
            "hours_per_week",
        }
    ),
    "insats.placement.ended.v1": frozenset(
        {
            "placement_id",
            "participant_id",
            "plan_step_id",
            "programme_id",
            "partner_id",
            "start_date",
            "end_date",
            "reason",
            "exits_programme",
            "participation",
        }
    ),
    "insats.placement.at-risk.v1": frozenset(
        {
            "placement_id",
            "participant_id",
            "programme_id",
            "partner_id",
            "period_start",
            "period_end",
            "missed_share",
            "unexcused_share",
        }
    ),
    "insats.attendance.recorded.v1": frozenset(
        {
            "placement_id",
            "participant_id",
            "programme_id",
            "partner_id",
            "period_start",
            "period_end",
            "expected_hours",
            "attended_hours",
            "sick_hours",
            "care_of_child_hours",
            "excused_hours",
            "unexcused_hours",
            "participant_confirmed_on",
            "participation",
        }
    ),
    "insats.support-check-in.due.v1": frozenset(
        {"check_in_id", "placement_id", "participant_id", "programme_id", "due_date"}
    ),
    "insats.support-task.closed.v1": frozenset(
        {
            "task_id",
            "placement_id",
            "participant_id",
            "programme_id",
            "opened_on",
            "closed_on",
            "overdue",
            "action",
        }
    ),
    "insats.support-task.opened.v1": frozenset(
        {
            "task_id",
            "placement_id",
            "participant_id",
            "programme_id",
            "partner_id",
            "reason",
            "owner",
            "opened_on",
            "due_date",
            "participation",
        }
    ),
    "insats.plan.adopted.v1": frozenset(
        {"participant_id", "programme_id", "participation", "plan", "recorded_on"}
    ),
    "insats.plan.progressed.v1": frozenset(
        {
            "participant_id",
            "programme_id",
            "participation",
            "revision",
            "change",
            "step_id",
            "step_status",
            "on",
            "waiting_for",
            "under_way",
            "complete",
        }
    ),
    "insats.outcome.recorded.v1": frozenset(
        {
            "outcome_id",
            "participant_id",
            "programme_id",
            "follow_up",
            "status",
            "in_sysselsattning",
            "observed_on",
            "participation",
        }
    ),
    "insats.follow-up.due.v1": frozenset(
        {
            "follow_up_id",
            "participant_id",
            "programme_id",
            "follow_up",
            "due_date",
            "participation",
        }
    ),
}


class ResidentEvent(EventData):
    """One event about a resident, as the resident's municipality sees it."""

    TYPE = "insats.resident-event.v1"
    TOPIC = topics.MUNICIPALITY_EVENTS_TEMPLATE

    source_event_id: str = Field(description="The id of the event this is a view of.")
    source_type: str = Field(description="Its type, e.g. insats.placement.started.v1.")
    occurred_at: datetime
    municipality: Kommunkod
    subject_id: Identifier = Field(
        description="The participant (under the municipality's own id for them) or referral it "
        "concerns; participant ids in facts are the municipality's own too."
    )
    facts: dict[str, Any] = Field(description="The visible fields of the source event.")

    def subject(self) -> str:
        return self.subject_id


def resident_view(envelope: Envelope[Any]) -> ResidentEvent | None:
    """The municipality's view of an event, or None if it concerns no one's municipality."""
    visible = VISIBLE_FIELDS.get(envelope.type)
    if visible is None or envelope.municipality is None:
        return None
    data = envelope.data.model_dump(mode="json")
    return ResidentEvent(
        source_event_id=str(envelope.id),
        source_type=envelope.type,
        occurred_at=envelope.time,
        municipality=envelope.municipality,
        subject_id=envelope.subject,
        facts={key: value for key, value in data.items() if key in visible},
    )
