"""Events municipal systems publish into Insats: referrals, programmes, partners, follow-ups."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from shared.contracts import topics
from shared.contracts.envelope import ContractModel, EventData
from shared.contracts.plans import Plan
from shared.contracts.tenants import Channel
from shared.contracts.vocabulary import (
    FEW,
    MANY,
    SOME,
    ActivityType,
    BusinessDate,
    ConsentPurpose,
    EducationLevel,
    EndReason,
    ErasureReason,
    ExitReason,
    FollowUpPoint,
    Gender,
    Identifier,
    IopCriterion,
    Kommunkod,
    LabourMarketStatus,
    Name,
    Note,
    OutcomeSource,
    OutcomeStatus,
    PartnerKind,
    PartyId,
    ShortText,
    TargetGroup,
    TenantId,
)

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class Preferences(ContractModel):
    """What the participant has said they want and can manage; matching honours it."""

    activities: list[ActivityType] = Field(
        default_factory=list, max_length=FEW, description="Acceptable activities; empty means any."
    )
    max_hours_per_week: int | None = Field(default=None, ge=1, le=40)
    municipalities: list[Kommunkod] = Field(
        default_factory=list,
        max_length=MANY,
        description="Where they can travel; empty means anywhere in the programme.",
    )


class ReferralReceived(EventData):
    """A caseworker refers a resident to a programme. The only event with a clear personnummer."""

    TYPE = "insats.referral.received.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS
    CHANNEL = Channel.REFERRALS

    referral_id: Identifier = Field(description="The case system's own reference; the record key.")
    personnummer: str = Field(
        max_length=20,
        description="Personnummer or samordningsnummer: YYYYMMDDNNNN, YYYYMMDD-NNNN or "
        "YYMMDD-NNNN (YYMMDD+NNNN for people over 100).",
    )
    municipality: Kommunkod = Field(description="The resident's home municipality.")
    programme_id: Identifier
    income_support: bool = Field(description="Receives försörjningsstöd / ekonomiskt bistånd.")
    target_groups: list[TargetGroup] = Field(default_factory=list, max_length=FEW)
    referral_date: BusinessDate = Field(
        description="The caseworker's decision date. Not more than a day after intake received "
        "the referral, nor older than INSATS_REFERRAL_MAX_AGE_DAYS (a decision, not bad data)."
    )
    gender: Gender | None = Field(
        default=None, description="Legal gender; derived from the personnummer when absent."
    )
    protected_identity: bool = Field(
        default=False,
        description="Skyddade personuppgifter: registered with no identity data at all, only a "
        "pseudonym, gender and birth year. Sticky: once a participant is protected, a later "
        "referral without the flag neither stores identity data nor clears the protection "
        "(insats.protected-identity.recorded.v1 does).",
    )
    name: Name | None = None
    contact: ContactDetails | None = None
    consents: list[ConsentPurpose] = Field(
        default_factory=list,
        max_length=FEW,
        description="Purposes the person consented to at referral.",
    )
    preferences: Preferences = Field(default_factory=Preferences)
    labour_market_status: LabourMarketStatus | None = Field(
        default=None, description="At entry, for the ESF+ participant indicators."
    )
    education_level: EducationLevel | None = Field(
        default=None, description="Highest education completed at entry (ISCED), for ESF+."
    )

    def subject(self) -> str:
        return self.referral_id


class PersonRequest(EventData):
    """What a caseworker records about one person: identified by personnummer (as the case
    system knows them) or by the participant id intake returned, exactly one of the two, and
    named by a request id the answer carries back."""

    request_id: Identifier
    personnummer: str | None = Field(default=None, max_length=20)
    participant_id: Identifier | None = None
    municipality: Kommunkod

    @model_validator(mode="after")
    def _identifies_someone(self) -> Self:
        if (self.personnummer is None) == (self.participant_id is None):
            raise ValueError("give exactly one of personnummer and participant_id")
        return self

    def subject(self) -> str:
        return self.request_id


class ProtectedIdentityRecorded(PersonRequest):
    """A caseworker records that a participant's identity has become protected (skyddade
    personuppgifter), or that the protection has ended. Protected, Insats holds no identity
    data of the person at all, and partners never see who the person is; the protection holds
    until this event clears it, whatever later referrals say."""

    TYPE = "insats.protected-identity.recorded.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS
    CHANNEL = Channel.REFERRALS

    protected: bool = Field(description="True: protected from now on. False: no longer.")
    source: Name = Field(description="Who recorded it: the case system and caseworker role.")
    recorded_on: BusinessDate


class ContactDetails(ContractModel):
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=400)


class ConsentRecorded(PersonRequest):
    """A caseworker records a consent given or withdrawn, for one purpose. Identifies the person
    by personnummer (as the case system knows them) or by the participant id intake returned."""

    TYPE = "insats.consent.recorded.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS
    CHANNEL = Channel.REFERRALS

    purpose: ConsentPurpose
    granted: bool
    source: Name = Field(description="Who recorded it: the case system and caseworker role.")
    recorded_on: BusinessDate


class ErasureRequested(PersonRequest):
    """Erase a person (GDPR art. 17, or the social services' deletion rules): intake destroys the
    person's key and every service removes or anonymises what it holds."""

    TYPE = "insats.erasure.requested.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS
    CHANNEL = Channel.REFERRALS

    reason: ErasureReason
    requested_by: Name = Field(description="The case system and role that asks, for the audit.")


class ParticipationExitRecorded(PersonRequest):
    """A caseworker records that a participant left a programme at any point: while waiting,
    between steps or during a placement. Intake closes the enrolment; placement frees what the
    person held; outcomes closes the journey. An erroneous registration (felregistrering, as SUS
    calls it) removes the participation from every figure."""

    TYPE = "insats.participation.exit-recorded.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS
    CHANNEL = Channel.REFERRALS

    programme_id: Identifier
    reason: ExitReason
    exited_on: BusinessDate = Field(description="The participant's last day in the programme.")
    recorded_by: Name = Field(description="The case system and role that records it.")


class PlanRecorded(PersonRequest):
    """The caseworker's individual plan (handlingsplan) for a participant's open enrolment in a
    programme, whole, as it now stands: a new revision replaces the last, and every revision is
    kept as the plan's history. The plan decides what the participant waits for next: when a step
    ends, the steps after it begin; a placement step waits for a place in the queue, an internal
    step or a subsidised employment does not."""

    TYPE = "insats.plan.recorded.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS
    CHANNEL = Channel.REFERRALS

    programme_id: Identifier
    plan: Plan
    recorded_on: BusinessDate
    recorded_by: Name = Field(description="The case system and role that records it.")


class ResidenceChangeRecorded(PersonRequest):
    """A participant moved to another municipality. Sent by the municipality whose resident they
    were. Each open enrolment follows them where its programme covers the new municipality (their
    home municipality changes from `moved_on`, and the new municipality's stream carries them from
    then); where it does not, the enrolment ends, as an exit for moving away."""

    TYPE = "insats.residence-change.recorded.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS
    CHANNEL = Channel.REFERRALS

    to_municipality: Kommunkod
    moved_on: BusinessDate = Field(description="The first day in the new municipality.")
    recorded_by: Name = Field(description="The case system and role that records it.")


class IdentityLinkRecorded(EventData):
    """A person known to Insats by a samordningsnummer (a coordination number, common for
    newcomers) has been given a personnummer. Intake makes the personnummer name the same
    participant: a referral, consent or exit under either number finds them, and their sealed
    identity carries the personnummer from now on."""

    TYPE = "insats.identity.link-recorded.v1"
    TOPIC = topics.MUNICIPAL_REFERRALS
    CHANNEL = Channel.REFERRALS

    request_id: Identifier
    municipality: Kommunkod
    samordningsnummer: str = Field(max_length=20, description="The number they are known by.")
    personnummer: str = Field(max_length=20, description="The personnummer they were given.")
    recorded_on: BusinessDate
    recorded_by: Name = Field(description="The case system and role that records it.")

    def subject(self) -> str:
        return self.request_id


class PriorityRule(StrEnum):
    # Kungsbacka: income-support recipients first, others only where places remain.
    INCOME_SUPPORT_FIRST = "forsorjningsstod_forst"
    REFERRAL_DATE = "remissdatum"


class AllocationMode(StrEnum):
    # Places are offered as soon as they can be: after each applied batch, over everyone waiting.
    IMMEDIATE = "direkt"
    # Places are offered at set times (a labour-market unit's allocation meeting), or when the
    # programme's owner asks for a round (insats.allocation.round-requested.v1).
    ROUNDS = "omgangar"


class Weekday(StrEnum):
    MONDAY = "mandag"
    TUESDAY = "tisdag"
    WEDNESDAY = "onsdag"
    THURSDAY = "torsdag"
    FRIDAY = "fredag"
    SATURDAY = "lordag"
    SUNDAY = "sondag"


class Allocation(ContractModel):
    """When places are offered. Whenever it is, the places go down the whole queue in priority
    order: never to whoever happened to be applied first."""

    mode: AllocationMode = AllocationMode.IMMEDIATE
    settle_seconds: int = Field(
        default=0,
        ge=0,
        le=3_600,
        description="Immediate mode: wait until no enrolment has arrived for this long before "
        "offering, so that a burst of referrals is allocated as one.",
    )
    weekdays: list[Weekday] = Field(
        default_factory=list,
        max_length=7,
        description="Rounds: the days a round is held (Swedish time); none: only the rounds "
        "the owner asks for.",
    )
    at: str = Field(
        default="08:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Rounds: the time of day a round is held, HH:MM in Swedish time.",
    )


class ReservedGroup(StrEnum):
    INCOME_SUPPORT = "forsorjningsstod"


class Reservation(ContractModel):
    """Places held for a group ("i mån av plats" for the others): while fewer of the group hold
    places than `places`, that many free places are offered to the group only, for `days` from
    when they were first held free; then they open to everyone."""

    group: ReservedGroup = ReservedGroup.INCOME_SUPPORT
    places: int = Field(ge=1, le=10_000)
    days: int = Field(ge=0, le=365, description="How long free places wait for the group.")


class Eligibility(ContractModel):
    """A programme's entry rules, as data. Every rejection names the rule that failed."""

    min_age: int = Field(default=16, ge=0, le=120)
    max_age: int = Field(default=66, ge=0, le=120)
    requires_income_support: bool = False
    accepted_target_groups: list[TargetGroup] = Field(
        default_factory=list,
        max_length=FEW,
        description="If not empty, a participant must belong to at least one of these.",
    )


class SupportPolicy(ContractModel):
    """Support after a placement ends, and when someone needs it (Helsingborg's lesson: people
    who move on into work need continued support)."""

    check_in_days: list[Annotated[int, Field(ge=1, le=730)]] = Field(
        default_factory=lambda: [14, 30, 91],
        max_length=12,
        description="Days after the end at which a support check-in falls due.",
    )
    after: list[EndReason] = Field(
        default_factory=lambda: [
            EndReason.MOVED_TO_WORK,
            EndReason.MOVED_TO_STUDIES,
            EndReason.COMPLETED,
        ],
        max_length=8,
        description="The ends that are followed by check-ins: work (OSA and other subsidised "
        "employments included), studies, a completed placement.",
    )
    task_due_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="Days the owner of a support task (opened by a check-in answered "
        "behover_stod, or by a placement at risk) has to act on it.",
    )


class FundingShare(ContractModel):
    funder: Name = Field(description="E.g. Europeiska socialfonden, Kalmar kommun.")
    funder_id: PartyId | None = Field(default=None, description="Its organisationsnummer.")
    share: Share = Field(description="Its share of the budget, 0..1.")


class Budget(ContractModel):
    """What a programme may cost and who pays: Kalmar län's ESF project, 21 MSEK with two
    thirds from the ESF."""

    total_sek: float = Field(ge=0, le=1e12)
    funding: list[FundingShare] = Field(default_factory=list, max_length=FEW)


class CostCategory(StrEnum):
    STAFF = "personal"
    PREMISES = "lokaler"
    PURCHASED_SERVICES = "kopta_tjanster"
    PARTICIPANT_ALLOWANCES = "deltagarersattning"
    OTHER = "ovrigt"


class CostReported(EventData):
    """What a programme actually cost in a period, by the programme's owner. A report sent
    again with the same `report_id` replaces the earlier one (a correction)."""

    TYPE = "insats.programme.cost-reported.v1"
    TOPIC = topics.MUNICIPAL_PROGRAMMES
    CHANNEL = Channel.PROGRAMMES

    report_id: Identifier
    programme_id: Identifier
    period_start: BusinessDate
    period_end: BusinessDate
    category: CostCategory
    amount_sek: float = Field(ge=0, le=1e12)
    note: ShortText = ""

    def subject(self) -> str:
        return self.programme_id


class ProgrammeDefined(EventData):
    """A programme as its owner defines it. A later definition of the same id replaces it."""

    TYPE = "insats.programme.defined.v1"
    TOPIC = topics.MUNICIPAL_PROGRAMMES
    CHANNEL = Channel.PROGRAMMES

    programme_id: Identifier
    name: Name
    owner: Name = Field(
        description="The owning municipality or association of municipalities, by name. Who may "
        "change the programme is the tenant that first defined it, not this text."
    )
    municipalities: list[Kommunkod] = Field(min_length=1, max_length=MANY)
    period_start: BusinessDate
    period_end: BusinessDate
    capacity: int = Field(ge=0, le=100_000, description="Places that can be used at the same time.")
    planned_participants: int = Field(ge=0, le=1_000_000)
    goal_sysselsattning: Share | None = Field(
        default=None, description="Goal share in work, studies or praktik at exit, 0..1."
    )
    goals: dict[Identifier, Annotated[float, Field(ge=0, le=1_000_000)]] = Field(
        default_factory=dict,
        max_length=SOME,
        description="Goals on any indicator, by `key` or `key@version` (the more specific wins, "
        "and either wins over goal_sysselsattning): a share 0..1, a number of days (lower is "
        "better) or a number of people, as the indicator is measured.",
    )
    eligibility: Eligibility = Field(default_factory=Eligibility)
    budget: Budget | None = Field(
        default=None, description="The programme's budget and who funds which share of it."
    )
    priority: PriorityRule = PriorityRule.REFERRAL_DATE
    activities: list[ActivityType] = Field(default_factory=list, max_length=FEW)
    attendance_risk_threshold: Share = Field(
        default=0.3,
        description="Share of expected hours missed without a valid reason (unexcused, or "
        "given no reason) over four weeks that raises insats.placement.at-risk.v1.",
    )
    allocation: Allocation = Field(
        default_factory=Allocation, description="When places are offered: at once or in rounds."
    )
    reserved: Reservation | None = Field(
        default=None, description="Places held for a group before they open to everyone."
    )
    hours_step_up: int = Field(
        default=10,
        ge=1,
        le=40,
        description="Hours a week by which a participant's hours must rise from their first "
        "placement's for the indicator timmar_okade (Helsingborg: from a few hours a week to "
        "arbetsträning).",
    )
    support: SupportPolicy = Field(
        default_factory=SupportPolicy,
        description="Check-ins after a placement ends, and support tasks when needed.",
    )
    offer_response_days: int | None = Field(
        default=None,
        ge=1,
        le=90,
        description="Days an offer waits for an answer. One not accepted or declined by then "
        "expires: the place goes to the next in line and the person waits again, for another "
        "place than this one. None: offers wait until answered.",
    )
    cross_municipality_case_handling: bool = Field(
        default=False,
        description="For a programme across several municipalities (a regional one): any of its "
        "municipalities may record consents, request erasure and answer follow-ups for any of "
        "its participants, not only for those it referred. Every such action is audited.",
    )
    follow_ups: list[FollowUpPoint] = Field(
        default_factory=lambda: list(FollowUpPoint),
        max_length=FEW,
        description="The follow-ups outcomes schedules after a participant exits; all by default.",
    )

    @model_validator(mode="after")
    def _period_in_order(self) -> ProgrammeDefined:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self

    def subject(self) -> str:
        return self.programme_id


class AllocationRoundRequested(EventData):
    """The programme's owner holds an allocation round now (its allocation meeting): every free
    place is offered down the queue in priority order, as of `on`."""

    TYPE = "insats.allocation.round-requested.v1"
    TOPIC = topics.MUNICIPAL_PROGRAMMES
    CHANNEL = Channel.PROGRAMMES

    programme_id: Identifier
    on: BusinessDate = Field(description="The day of the round: offers are dated on it.")
    requested_by: Name = Field(description="Who asks, for the record.")

    def subject(self) -> str:
        return self.programme_id


class Workplace(ContractModel):
    """A place where participants can be placed: a shop, a hotel, a home-care team."""

    workplace_id: Identifier
    name: Name
    municipality: Kommunkod
    activities: list[ActivityType] = Field(default_factory=list, max_length=FEW)


class PartnerRegistered(EventData):
    TYPE = "insats.partner.registered.v1"
    TOPIC = topics.MUNICIPAL_PARTNERS
    CHANNEL = Channel.PARTNERS

    partner_id: TenantId = Field(
        description="Also the name of the partner's own topics and Kafka user: lower-case ASCII "
        "letters, digits, '-' and '_'."
    )
    organisationsnummer: str = Field(
        pattern=r"^[0-9]{6}-?[0-9]{4}$",
        description="Validated with its Luhn check digit by placement.",
    )
    name: Name
    kind: PartnerKind
    municipality: Kommunkod
    workplaces: list[Workplace] = Field(default_factory=list, max_length=SOME)

    def subject(self) -> str:
        return self.partner_id


class CriterionAssessment(ContractModel):
    criterion: IopCriterion
    met: bool
    assessed_on: BusinessDate
    note: Note = ""


class PartnerVetted(EventData):
    """An assessment of a non-profit partner against the IOP criteria. Later assessments of a
    criterion replace earlier ones; criteria never assessed count as not met."""

    TYPE = "insats.partner.vetted.v1"
    TOPIC = topics.MUNICIPAL_PARTNERS
    CHANNEL = Channel.PARTNERS

    partner_id: TenantId
    assessed_by: Name
    assessments: list[CriterionAssessment] = Field(min_length=1, max_length=SOME)

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

    party: Name = Field(description="Who contributes: the municipality or the partner's name.")
    party_id: PartyId | None = Field(
        default=None,
        description="The party's organisationsnummer. Where an agreement names its parties by "
        "`party_ids`, co-financing is checked by these, not by names.",
    )
    kind: ContributionKind
    amount: float | None = Field(
        default=None,
        ge=0,
        le=1e12,
        description="In the kind's unit: SEK, staff hours, square metres. A zero or missing "
        "amount is not a contribution.",
    )
    description: ShortText = ""


class PlaceEligibility(ContractModel):
    """Who an agreement's places are for: Kalejdo's for women, Sökandelots's for people with a
    disability. Intake, which holds the facts, decides who meets it and tells placement only
    which agreements each participant is eligible for; a participant who is not is never
    offered the places. Every condition given must hold; an empty list or a missing bound sets
    none. Age is the age at referral."""

    genders: list[Gender] = Field(default_factory=list, max_length=4)
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)
    target_groups: list[TargetGroup] = Field(
        default_factory=list,
        max_length=FEW,
        description="The participant belongs to at least one. May name a special category "
        "(funktionsnedsattning): intake alone knows who belongs to it.",
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("min_age is above max_age")
        return self

    def restricts(self) -> bool:
        return bool(self.genders or self.target_groups) or (
            self.min_age is not None or self.max_age is not None
        )

    def digest(self) -> str:
        """The conditions' fingerprint: a decision taken on other conditions (the agreement was
        signed again with new ones) does not count for these."""
        canonical = "|".join(
            (
                ",".join(sorted(g.value for g in self.genders)),
                str(self.min_age),
                str(self.max_age),
                ",".join(sorted(t.value for t in self.target_groups)),
            )
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class AgreementSigned(EventData):
    """An IOP agreement or social-clause contract: a partner offers places in a programme."""

    TYPE = "insats.agreement.signed.v1"
    TOPIC = topics.MUNICIPAL_PARTNERS
    CHANNEL = Channel.PARTNERS

    agreement_id: Identifier
    partner_id: TenantId
    programme_id: Identifier
    places: int = Field(ge=0, le=100_000)
    activities: list[ActivityType] = Field(min_length=1, max_length=FEW)
    period_start: BusinessDate
    period_end: BusinessDate
    kind: AgreementKind = Field(
        description="IOP agreements need a vetted partner and co-financing from every party."
    )
    parties: list[Name] = Field(default_factory=list, max_length=FEW)
    party_ids: list[PartyId] = Field(
        default_factory=list,
        max_length=FEW,
        description="The parties by organisationsnummer; where given, every one of them must "
        "contribute (by `party_id`) for an IOP agreement to receive placements.",
    )
    contributions: list[Contribution] = Field(default_factory=list, max_length=SOME)
    evaluation_plan: Note = Field(default="", description="How the parties evaluate together.")
    workplace_id: Identifier | None = Field(
        default=None, description="The partner's workplace the places are at, if one."
    )
    hours_per_week: int | None = Field(default=None, ge=1, le=40, description="Hours offered.")
    municipal_contact: Name | None = Field(
        default=None, description="The municipality's contact person for these placements."
    )
    eligibility: PlaceEligibility | None = Field(
        default=None,
        description="Who the places are for, if not everyone in the programme: offered only to "
        "participants intake has found eligible (insats.eligibility.decided.v1).",
    )

    def restricted_to(self) -> str | None:
        """The digest of the conditions its places are offered under, or None if open to all."""
        if self.eligibility is None or not self.eligibility.restricts():
            return None
        return self.eligibility.digest()

    def subject(self) -> str:
        return self.partner_id


class ContributionDelivered(EventData):
    """What a party actually put into an agreement in a period (money, staff hours, premises),
    against what it committed to; by the programme's owner. A report sent again with the same
    `report_id` replaces the earlier one."""

    TYPE = "insats.contribution.delivered.v1"
    TOPIC = topics.MUNICIPAL_PARTNERS
    CHANNEL = Channel.PARTNERS

    report_id: Identifier
    agreement_id: Identifier
    programme_id: Identifier
    party: Name
    party_id: PartyId | None = None
    kind: ContributionKind
    amount: float = Field(gt=0, le=1e12, description="In the kind's unit, as committed.")
    period_start: BusinessDate
    period_end: BusinessDate
    description: ShortText = ""

    def subject(self) -> str:
        return self.agreement_id


class OutcomeReported(EventData):
    """A caseworker, a register or the participant answers a follow-up."""

    TYPE = "insats.outcome.reported.v1"
    TOPIC = topics.MUNICIPAL_OUTCOME_REPORTS
    CHANNEL = Channel.OUTCOME_REPORTS

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
    observed_on: BusinessDate = Field(description="The date the status applies to.")
    # Details some indicators need (Kolada's "resultat vid avslut"); additive, so optional.
    employment_months: float | None = Field(
        default=None,
        ge=0,
        le=1_200,
        description="For work: how long the employment runs, in months.",
    )
    municipal_labour_market_job: bool | None = Field(
        default=None, description="For work: a municipal labour-market job (e.g. OSA, extratjänst)."
    )
    studies_with_student_aid: bool | None = Field(
        default=None, description="For studies: studies that qualify for CSN student aid."
    )
    participation: int | None = Field(
        default=None,
        ge=1,
        le=1_000,
        description="The enrolment answered for, as the follow-up gave it; without it, the "
        "person's latest in the programme.",
    )

    def subject(self) -> str:
        return self.participant_id
