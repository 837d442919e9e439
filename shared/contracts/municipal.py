"""Events municipal systems publish into Insats: referrals, programmes, partners, follow-ups."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from shared.contracts import topics
from shared.contracts.envelope import ContractModel, EventData
from shared.contracts.vocabulary import (
    ActivityType,
    FollowUpPoint,
    Gender,
    Identifier,
    Kommunkod,
    OutcomeSource,
    OutcomeStatus,
    PartnerKind,
    TargetGroup,
)

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class ReferralReceived(EventData):
    """A caseworker refers a resident to a programme. The only event with a clear personnummer."""

    TYPE = "insats.referral.received.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS

    referral_id: Identifier = Field(description="The case system's own reference; the record key.")
    personnummer: str = Field(
        description="Personnummer or samordningsnummer: YYYYMMDDNNNN, YYYYMMDD-NNNN or "
        "YYMMDD-NNNN (YYMMDD+NNNN for people over 100)."
    )
    municipality: Kommunkod = Field(description="The resident's home municipality.")
    programme_id: Identifier
    income_support: bool = Field(description="Receives försörjningsstöd / ekonomiskt bistånd.")
    target_groups: list[TargetGroup] = Field(default_factory=list)
    referral_date: date
    gender: Gender | None = Field(
        default=None, description="Legal gender; derived from the personnummer when absent."
    )

    def subject(self) -> str:
        return self.referral_id


class PriorityRule(StrEnum):
    # Kungsbacka: income-support recipients first, others only where places remain.
    INCOME_SUPPORT_FIRST = "forsorjningsstod_forst"
    REFERRAL_DATE = "remissdatum"


class Eligibility(ContractModel):
    """A programme's entry rules, as data. Every rejection names the rule that failed."""

    min_age: int = Field(default=16, ge=0, le=120)
    max_age: int = Field(default=66, ge=0, le=120)
    requires_income_support: bool = False
    accepted_target_groups: list[TargetGroup] = Field(
        default_factory=list,
        description="If not empty, a participant must belong to at least one of these.",
    )


class ProgrammeDefined(EventData):
    """A programme as its owner defines it. A later definition of the same id replaces it."""

    TYPE = "insats.programme.defined.v1"
    TOPIC = topics.MUNICIPAL_PROGRAMMES

    programme_id: Identifier
    name: str
    owner: str = Field(description="The owning municipality or association of municipalities.")
    municipalities: list[Kommunkod] = Field(min_length=1)
    period_start: date
    period_end: date
    capacity: int = Field(ge=0, description="Places that can be used at the same time.")
    planned_participants: int = Field(ge=0)
    goal_sysselsattning: Share | None = Field(
        default=None, description="Goal share in work, studies or praktik at exit, 0..1."
    )
    eligibility: Eligibility = Field(default_factory=Eligibility)
    priority: PriorityRule = PriorityRule.REFERRAL_DATE
    activities: list[ActivityType] = Field(default_factory=list)

    @model_validator(mode="after")
    def _period_in_order(self) -> ProgrammeDefined:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self

    def subject(self) -> str:
        return self.programme_id


class PartnerRegistered(EventData):
    TYPE = "insats.partner.registered.v1"
    TOPIC = topics.MUNICIPAL_PARTNERS

    partner_id: Identifier
    organisationsnummer: str = Field(pattern=r"^\d{6}-?\d{4}$")
    name: str
    kind: PartnerKind
    municipality: Kommunkod

    def subject(self) -> str:
        return self.partner_id


class AgreementKind(StrEnum):
    IOP = "iop"
    SOCIAL_CLAUSE = "sociala_hansyn"
    MUNICIPAL = "kommunal"


class ContributionKind(StrEnum):
    MONEY = "pengar"  # SEK
    STAFF_HOURS = "personaltimmar"  # hours per year
    PREMISES = "lokaler"  # square metres or a description
    OTHER = "annat"


class Contribution(ContractModel):
    """What one party puts in. IOP requires co-financing: every party contributes material or
    immaterial resources."""

    party: str = Field(description="Who contributes: the municipality or the partner's name.")
    kind: ContributionKind
    amount: float | None = Field(default=None, ge=0, description="In the kind's unit, if counted.")
    description: str = ""


class AgreementSigned(EventData):
    """An IOP agreement or social-clause contract: a partner offers places in a programme."""

    TYPE = "insats.agreement.signed.v1"
    TOPIC = topics.MUNICIPAL_PARTNERS

    agreement_id: Identifier
    partner_id: Identifier
    programme_id: Identifier
    places: int = Field(ge=0)
    activities: list[ActivityType] = Field(min_length=1)
    period_start: date
    period_end: date
    kind: AgreementKind = AgreementKind.IOP
    parties: list[str] = Field(default_factory=list)
    contributions: list[Contribution] = Field(default_factory=list)
    evaluation_plan: str = Field(default="", description="How the parties evaluate together.")

    def subject(self) -> str:
        return self.partner_id


class OutcomeReported(EventData):
    """A caseworker, a register or the participant answers a follow-up."""

    TYPE = "insats.outcome.reported.v1"
    TOPIC = topics.MUNICIPAL_OUTCOME_REPORTS

    report_id: Identifier
    participant_id: Identifier
    programme_id: Identifier
    municipality: Kommunkod = Field(description="The participant's home municipality.")
    follow_up: FollowUpPoint
    status: OutcomeStatus
    income_support: bool | None = Field(
        default=None, description="Still receives income support; null if not known."
    )
    source: OutcomeSource
    observed_on: date = Field(description="The date the status applies to.")
    # Details some indicators need (Kolada's "resultat vid avslut"); additive, so optional.
    employment_months: float | None = Field(
        default=None, ge=0, description="For work: how long the employment runs, in months."
    )
    municipal_labour_market_job: bool | None = Field(
        default=None, description="For work: a municipal labour-market job (e.g. OSA, extratjänst)."
    )
    studies_with_student_aid: bool | None = Field(
        default=None, description="For studies: studies that qualify for CSN student aid."
    )

    def subject(self) -> str:
        return self.participant_id
