"""Events intake publishes: who was enrolled, and which referrals were not, and why."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from shared.contracts import topics
from shared.contracts.envelope import ContractModel, EventData
from shared.contracts.municipal import Preferences
from shared.contracts.plans import Plan
from shared.contracts.vocabulary import (
    MANY,
    SOME,
    ConsentPurpose,
    EducationLevel,
    EligibilityCriterion,
    ErasureReason,
    ExitReason,
    Gender,
    Identifier,
    Kommunkod,
    LabourMarketStatus,
    Name,
    RejectionReason,
    TargetGroup,
)


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
    target_groups: list[TargetGroup] = Field(
        description="Never a special category (disability, addiction or mental ill-health): "
        "those travel apart, on insats.intake.special-categories."
    )
    referral_date: date
    consents: list[ConsentPurpose] = Field(
        default_factory=list, description="Purposes consented to at enrolment."
    )
    preferences: Preferences = Field(default_factory=Preferences)
    protected_identity: bool = Field(
        default=False,
        description="A restriction: the person has protected identity, so no consumer may let a "
        "partner or an export tell who they are, whatever their consents.",
    )
    participation: int = Field(
        default=1,
        ge=1,
        le=1_000,
        description="Which of the person's enrolments in this programme this is: 1 for the "
        "first, 2 for a return after an exit, and so on. Every later event about the "
        "enrolment carries it.",
    )
    labour_market_status: LabourMarketStatus | None = Field(
        default=None, description="At entry, as the referral gave it (ESF+)."
    )
    education_level: EducationLevel | None = Field(
        default=None, description="Highest education completed at entry (ISCED), for ESF+."
    )

    def subject(self) -> str:
        return self.participant_id


class ReferralRejected(EventData):
    """A referral that was not enrolled, with a reason code systems can act on."""

    TYPE = "insats.referral.rejected.v1"
    TOPIC = topics.INTAKE_EVENTS

    referral_id: Identifier = Field(
        description="The case system's reference, or the record coordinates "
        "when the message was unreadable."
    )
    programme_id: Identifier | None = None
    municipality: Kommunkod | None = None
    reason: RejectionReason
    rule: str | None = Field(default=None, description="The eligibility rule that failed.")
    message: str = Field(description="What was wrong, in English.")
    message_sv: str = Field(description="What was wrong, in Swedish.")
    received_at: datetime

    def subject(self) -> str:
        return self.referral_id


class RejectionMessages(ContractModel):
    """The human-readable explanation, one text per language. Systems branch on the reason code;
    these are for the people who read them. A further language is an additive change."""

    sv: str = Field(description="What was wrong, in Swedish.")
    en: str = Field(description="What was wrong, in English.")


class ReferralRejectedV2(EventData):
    """Version 2 of a rejected referral: the texts travel together, keyed by language.

    Breaking for v1's consumers (message and message_sv are gone), so it is a new type, published
    beside insats.referral.rejected.v1, with the same subject and id-derivation, for the transition
    period the versioning policy in docs/contract/README.md sets.
    """

    TYPE = "insats.referral.rejected.v2"
    TOPIC = topics.INTAKE_EVENTS

    referral_id: Identifier = Field(
        description="The case system's reference, or the record coordinates "
        "when the message was unreadable."
    )
    programme_id: Identifier | None = None
    municipality: Kommunkod | None = None
    reason: RejectionReason = Field(description="Machine-readable: act on this, not on the text.")
    rule: str | None = Field(default=None, description="The eligibility rule that failed.")
    messages: RejectionMessages
    received_at: datetime

    def subject(self) -> str:
        return self.referral_id


def referral_rejected_v2(v1: ReferralRejected) -> ReferralRejectedV2:
    """The v2 form of a v1 rejection, for publishing both during the transition period. Pure and
    lossless: every v1 fact has its place in v2, so the two never disagree."""
    return ReferralRejectedV2(
        referral_id=v1.referral_id,
        programme_id=v1.programme_id,
        municipality=v1.municipality,
        reason=v1.reason,
        rule=v1.rule,
        messages=RejectionMessages(sv=v1.message_sv, en=v1.message),
        received_at=v1.received_at,
    )


class SpecialCategoriesRecorded(EventData):
    """GDPR art. 9 facts of an enrolled participant, for funder statistics only."""

    TYPE = "insats.special-categories.recorded.v1"
    TOPIC = topics.INTAKE_SPECIAL_CATEGORIES

    participant_id: Identifier
    programme_id: Identifier
    target_groups: list[TargetGroup]
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment's.")

    def subject(self) -> str:
        return self.participant_id


class AgreementEligibility(ContractModel):
    agreement_id: Identifier
    criteria: Identifier = Field(
        description="The digest of the agreement's conditions this was decided on "
        "(PlaceEligibility.digest): it counts only while the agreement has these conditions."
    )
    eligible: bool
    unmet: list[EligibilityCriterion] = Field(
        default_factory=list,
        max_length=4,
        description="Why not: the conditions not met, never the facts behind them.",
    )


class EligibilityDecided(EventData):
    """Which of its programme's restricted agreements (those with PlaceEligibility) an enrolment
    may be offered places under, decided by intake from facts only intake holds, at enrolment
    and whenever such an agreement is signed. Replaces the enrolment's earlier decision."""

    TYPE = "insats.eligibility.decided.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    programme_id: Identifier
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment's.")
    agreements: list[AgreementEligibility] = Field(max_length=SOME)
    decided_on: date

    def subject(self) -> str:
        return self.participant_id


class ConsentChanged(EventData):
    """A consent given or withdrawn. Every consumer honours it from this event on: a partner's
    stream stops carrying the participant's details when sharing is withdrawn."""

    TYPE = "insats.consent.changed.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    purpose: ConsentPurpose
    granted: bool
    recorded_on: date
    source: Name

    def subject(self) -> str:
        return self.participant_id


class ProtectedIdentityChanged(EventData):
    """A participant's identity became protected, or stopped being. Consumers honour it from
    this event on: a partner's stream stops (or may again start) carrying the participant's id."""

    TYPE = "insats.protected-identity.changed.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    protected: bool
    recorded_on: date

    def subject(self) -> str:
        return self.participant_id


class ParticipationExited(EventData):
    """A participant left a programme before or between placements, or during one, as their
    caseworker recorded it. Placement frees what they held; outcomes closes the journey. The
    reason is never LONG_TERM_SICK (a health fact): that leaves intake as UNAVAILABLE."""

    TYPE = "insats.participation.exited.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    programme_id: Identifier
    referral_id: Identifier = Field(description="The referral that opened the enrolment.")
    municipality: Kommunkod
    reason: ExitReason
    exited_on: date = Field(description="The participant's last day in the programme.")
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment it ends.")

    def subject(self) -> str:
        return self.participant_id


class PlanAdopted(EventData):
    """A revision of a participant's individual plan, for one enrolment, as the caseworker
    recorded it (insats.plan.recorded.v1) and intake accepted it: for an open enrolment of the
    municipality's own resident, newer than the revision before."""

    TYPE = "insats.plan.adopted.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    programme_id: Identifier
    municipality: Kommunkod
    participation: int = Field(default=1, ge=1, le=1_000, description="The enrolment it plans.")
    plan: Plan
    recorded_on: date

    def subject(self) -> str:
        return self.participant_id


class ParticipantMoved(EventData):
    """An open enrolment follows its participant to another municipality of its programme: from
    `moved_on` the home municipality is `to_municipality`. The envelope names the new
    municipality, whose stream carries the person from now on; the old one's stream is told too."""

    TYPE = "insats.participant.moved.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    programme_id: Identifier
    participation: int = Field(default=1, ge=1, le=1_000)
    from_municipality: Kommunkod
    to_municipality: Kommunkod
    moved_on: date

    def subject(self) -> str:
        return self.participant_id


class ParticipantHandedOver(EventData):
    """A participant moved to a municipality their programme does not cover: the enrolment ended
    (an exit `flyttat`, published beside this) and the person is handed over to the new
    municipality, as a written request for it to take the case on (socialtjänstlagen 2 a kap.
    10 §). The envelope names the new municipality, whose stream carries it. `programmes` are
    those that cover the new municipality and run on `moved_on`; a referral by the new
    municipality (under the person's number) re-enrols the same participant."""

    TYPE = "insats.participant.handed-over.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    programme_id: Identifier = Field(description="The programme whose enrolment ended.")
    participation: int = Field(default=1, ge=1, le=1_000)
    from_municipality: Kommunkod
    to_municipality: Kommunkod
    moved_on: date
    programmes: list[Identifier] = Field(
        default_factory=list,
        max_length=MANY,
        description="Programmes the new municipality may refer the person to, by id.",
    )

    def subject(self) -> str:
        return self.participant_id


class ParticipantsMerged(EventData):
    """Two participants were one person: one referred under a samordningsnummer, one under the
    personnummer the person was later given, before the link was recorded. From now on
    `merged_participant_id` is `participant_id`: its enrolments, queue places, placements,
    journeys and follow-ups are theirs, and an event still under the old id counts for them.
    Keyed by the merged id, so it follows every earlier event about it."""

    TYPE = "insats.participants.merged.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier = Field(description="The participant that remains.")
    merged_participant_id: Identifier = Field(description="The participant merged into it.")
    request_id: Identifier
    merged_on: date
    reissued: bool = Field(
        default=False,
        description="One person under a new id, not two people: the merged id was of a "
        "version before 3 December 2026 (a keyed hash of the number), the remaining id is a "
        "random one given in its place (insats identity reissue-legacy-ids). Forget the merged "
        "id once no record under it can reach you any more.",
    )

    def subject(self) -> str:
        return self.merged_participant_id


class IdentityLinked(EventData):
    """A samordningsnummer and the personnummer the person was given now name one participant:
    this one. The participant id does not change; the answer to the municipality's request."""

    TYPE = "insats.identity.linked.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    request_id: Identifier
    linked_on: date

    def subject(self) -> str:
        return self.participant_id


class ParticipantErased(EventData):
    """The person is erased. Consumers remove or anonymise everything they hold under this id; it
    is the last event that carries it."""

    TYPE = "insats.participant.erased.v1"
    TOPIC = topics.INTAKE_EVENTS

    participant_id: Identifier
    reason: ErasureReason
    erased_on: date

    def subject(self) -> str:
        return self.participant_id
