"""Events intake publishes: who was enrolled, and which referrals were not, and why."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from shared.contracts import topics
from shared.contracts.envelope import EventData
from shared.contracts.vocabulary import Gender, Identifier, Kommunkod, RejectionReason, TargetGroup


class ParticipantEnrolled(EventData):
    """A referral passed the programme's rules. Carries a pseudonym, never the personnummer."""

    TYPE = "insats.participant.enrolled.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier = Field(description="Pseudonymous id: keyed HMAC of the number.")
    referral_id: Identifier
    programme_id: Identifier
    municipality: Kommunkod
    birth_year: int
    age_at_referral: int
    gender: Gender
    income_support: bool
    target_groups: list[TargetGroup]
    referral_date: date

    def subject(self) -> str:
        return self.participant_id


class ReferralRejected(EventData):
    """A referral that was not enrolled, with a reason code systems can act on."""

    TYPE = "insats.referral.rejected.v1"
    TOPIC = topics.INTAKE_EVENTS

    referral_id: str = Field(
        description="The case system's reference, or the record coordinates "
        "when the message was unreadable."
    )
    programme_id: str | None = None
    municipality: Kommunkod | None = None
    reason: RejectionReason
    rule: str | None = Field(default=None, description="The eligibility rule that failed.")
    message: str = Field(description="What was wrong, in English.")
    message_sv: str = Field(description="What was wrong, in Swedish.")
    received_at: datetime

    def subject(self) -> str:
        return self.referral_id
