"""The shared vocabulary of the event contract: codes every producer and consumer agrees on.

Member names are English identifiers; values are the Swedish domain words users search for
(DOMAIN.md), kept ASCII so that shell tools such as kcat and grep handle them without fuss.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

# Every pattern spells its digits [0-9]: `\d` also matches Arabic-Indic, Devanagari and other
# Unicode digits, which would give one person several pseudonyms and non-ASCII topic names.

# Statistics Sweden's four-digit municipality code, e.g. "1384" for Kungsbacka.
Kommunkod = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
# Identifiers chosen by the publishing system: programme ids, referral ids, agreement ids.
# Printable ASCII without spaces: they become record keys, log fields and parts of other ids.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
# An id that becomes part of a topic name and a Kafka user name (a partner, a programme owner):
# lower-case ASCII letters, digits, '-' and '_', so `insats.partner.<id>.placements` is a legal
# topic and cannot be mistaken for another tenant's.
TenantId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
]
# Free text from outside systems, bounded so that no single field can make a record too large.
Name = Annotated[str, StringConstraints(max_length=200)]
# A party to an agreement or a funder, by its organisationsnummer (a municipality has one too):
# what co-financing is checked by, since two spellings of a name are not two parties.
PartyId = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}-?[0-9]{4}$")]
ShortText = Annotated[str, StringConstraints(max_length=500)]
Note = Annotated[str, StringConstraints(max_length=2_000)]

# The widest span of business dates Insats accepts: a date outside it is a typing error or an
# attack (a year 9999 overflows every date calculation), never a real programme's date.
EARLIEST_DATE: Final = date(2000, 1, 1)
LATEST_DATE: Final = date(2100, 12, 31)


def _within_business_span(day: date) -> date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(
            f"must lie between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"
        )
    return day


_DATE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date",
    "formatMinimum": EARLIEST_DATE.isoformat(),
    "formatMaximum": LATEST_DATE.isoformat(),
}
# A business date (a referral date, a start, an end, a period) as outside systems send it.
BusinessDate = Annotated[date, AfterValidator(_within_business_span), WithJsonSchema(_DATE_SCHEMA)]

# How many entries a list from outside may hold: a programme's municipalities (Sweden has 290),
# a partner's workplaces, an agreement's parties.
FEW: Final = 20
SOME: Final = 100
MANY: Final = 300


class TargetGroup(StrEnum):
    """Target groups named in the seed programmes (Kalmar län, Helsingborg, Halmstad)."""

    YOUNG = "unga"
    NEWLY_ARRIVED = "nyanlanda"
    LONG_TERM_UNEMPLOYED = "langtidsarbetslosa"
    DISABILITY = "funktionsnedsattning"
    INCOME_SUPPORT = "forsorjningsstod"
    ADDICTION_OR_MENTAL_ILL_HEALTH = "missbruk_psykisk_ohalsa"


# GDPR art. 9 special categories: health, including disability and addiction. These are used for
# eligibility and funder statistics only and never appear in events partners can read.
SPECIAL_CATEGORY_GROUPS: frozenset[TargetGroup] = frozenset(
    {TargetGroup.DISABILITY, TargetGroup.ADDICTION_OR_MENTAL_ILL_HEALTH}
)


class AbsenceReason(StrEnum):
    """Why reported hours were not attended, as the social services and ESF time reports ask:
    sickness and care of a sick child (vård av barn) are benefits of their own, an excused
    absence is agreed with the caseworker, an unexcused one is none of these."""

    SICK = "sjuk"
    CARE_OF_CHILD = "vard_av_barn"
    EXCUSED = "giltig"
    UNEXCUSED = "ogiltig"


class EligibilityCriterion(StrEnum):
    """A condition of an agreement's places (AgreementSigned.eligibility) a participant did not
    meet. Names the condition, never the participant's fact behind it."""

    GENDER = "kon"
    AGE = "alder"
    TARGET_GROUP = "malgrupp"
    # Enrolled before intake kept the facts the agreement asks about: never offered, to be safe.
    FACTS_NOT_KNOWN = "uppgifter_saknas"


class Gender(StrEnum):
    """Gender as funders ask for it: ESF+ reports women, men and non-binary persons. A referral
    without it gets the legal gender of the personnummer."""

    FEMALE = "kvinna"
    MALE = "man"
    NON_BINARY = "icke_binar"
    UNKNOWN = "okant"


class LabourMarketStatus(StrEnum):
    """Where a participant stood on the labour market at entry, as ESF+ counts participants
    (Regulation (EU) 2021/1057, Annex I). The long-term unemployed are among the unemployed."""

    UNEMPLOYED = "arbetslos"
    LONG_TERM_UNEMPLOYED = "langtidsarbetslos"
    INACTIVE = "utanfor_arbetskraften"
    EMPLOYED = "sysselsatt"  # including self-employed


class EducationLevel(StrEnum):
    """The highest education completed at entry, in ISCED 2011 levels as ESF+ groups them."""

    ISCED_0_2 = "isced_0_2"  # lower secondary or less (förgymnasial)
    ISCED_3_4 = "isced_3_4"  # upper secondary or post-secondary non-tertiary (gymnasial)
    ISCED_5_8 = "isced_5_8"  # tertiary (eftergymnasial)


class ActivityType(StrEnum):
    """The steps the seed programmes offer (Halmstad, Helsingborg, Kalmar län)."""

    INTRODUCTION = "introduktion"
    EDUCATION = "utbildning"
    PRAKTIK = "praktik"
    LANGUAGE_TRAINING = "spraktraning"
    ARBETSTRANING = "arbetstraning"
    OSA_EMPLOYMENT = "osa"
    COACHING = "coachning"
    STUDY_PLANNING = "studieplanering"
    SUPPORTED_EMPLOYMENT = "supported_employment"


class PartnerKind(StrEnum):
    IOP_NON_PROFIT = "ideburen_iop"
    SOCIAL_CLAUSE_EMPLOYER = "arbetsgivare_sociala_hansyn"
    MUNICIPAL_WORKPLACE = "kommunal_arbetsplats"


class IopCriterion(StrEnum):
    """Kungsbacka's criteria for an IOP (seed 001): who may enter one, and what the partnership
    itself must be. An IOP placement needs every one of them met."""

    # Who may enter an IOP ("Vilka kan ingå i ett IOP")
    NON_PROFIT = "ideburen_aktor"
    PUBLIC_BENEFIT_PURPOSE = "allmannyttigt_syfte"
    SURPLUS_REINVESTED = "overskott_aterinvesteras"
    DEMOCRATIC_PRINCIPLES = "demokratiska_principer"  # democracy, human rights, equality, inclusion
    CONSISTENT_WITH_GOVERNING_DOCUMENTS = "forenlig_med_styrdokument"
    FREE_FROM_VIOLENCE_AND_DRUGS = "fritt_fran_vald_och_droger"
    NO_DISCRIMINATION = "ingen_diskriminering"
    NO_TAX_DEBTS = "inga_skatteskulder"
    RELEVANT_KNOWLEDGE_AND_EXPERIENCE = "relevant_kunskap_och_erfarenhet"
    WILL_TO_SOLVE_SOCIETAL_CHALLENGES = "vilja_att_losa_samhallsutmaningar"
    # What the partnership must be ("Kriterier för IOP")
    STRENGTHENS_MUNICIPAL_GOALS = "starker_kommunens_mal"
    ADDED_VALUE_FOR_TARGET_GROUP = "mervarde_for_malgruppen"
    JOINT_EVALUATION = "gemensam_utvardering"
    CO_FINANCED = "samfinansierat"
    SHARED_SOCIETAL_CHALLENGE = "gemensam_samhallsutmaning"
    SHARED_GOALS_AND_TARGET_GROUP = "samsyn_mal_och_malgrupp"


class PlacementStatus(StrEnum):
    OFFERED = "erbjuden"
    ACCEPTED = "accepterad"
    DECLINED = "avbojd"
    STARTED = "pagar"
    PAUSED = "pausad"
    ENDED = "avslutad"


class PlacementAction(StrEnum):
    """What a caseworker or partner reports about a placement."""

    ACCEPT = "acceptera"
    DECLINE = "avboj"
    START = "starta"
    PAUSE = "pausa"
    RESUME = "ateruppta"
    CHANGE_HOURS = "andra_timmar"


class CheckInStatus(StrEnum):
    DOING_WELL = "gar_bra"
    NEEDS_SUPPORT = "behover_stod"
    NO_CONTACT = "ingen_kontakt"


class SupportTaskReason(StrEnum):
    """Why someone needs support now."""

    NEEDS_SUPPORT = "behover_stod"  # a support check-in was answered so
    ATTENDANCE_RISK = "franvaro"  # unexcused absence put the placement at risk


class EndReason(StrEnum):
    COMPLETED = "genomford"
    MOVED_TO_WORK = "till_arbete"
    MOVED_TO_STUDIES = "till_studier"
    DROPPED_OUT = "avbrott"
    SICK = "sjuk"
    MOVED_AWAY = "flyttat"
    OTHER = "annat"


class OutcomeStatus(StrEnum):
    """A participant's situation at a follow-up."""

    UNSUBSIDISED_WORK = "arbete_osubventionerat"
    SUBSIDISED_WORK = "arbete_subventionerat"  # OSA, lönebidrag and other wage subsidies
    STUDIES = "studier"
    PRAKTIK = "praktik_arbetstraning"
    JOB_SEEKING = "arbetssokande"
    SICK_OR_UNAVAILABLE = "sjuk_ej_tillganglig"
    PARENTAL_LEAVE = "foraldraledig"
    MOVED = "flyttat"
    UNKNOWN = "okand"


# "Sysselsättning" as the Kalmar län project counts it: work of either kind, studies or praktik.
SYSSELSATTNING: frozenset[OutcomeStatus] = frozenset(
    {
        OutcomeStatus.UNSUBSIDISED_WORK,
        OutcomeStatus.SUBSIDISED_WORK,
        OutcomeStatus.STUDIES,
        OutcomeStatus.PRAKTIK,
    }
)


class OutcomeSource(StrEnum):
    REGISTER = "register"
    CASEWORKER = "handlaggare"
    SELF_REPORT = "egen_uppgift"
    PARTNER = "partner"


class FollowUpPoint(StrEnum):
    AT_EXIT = "vid_avslut"
    WEEKS_4 = "4_veckor"
    MONTHS_3 = "3_manader"
    MONTHS_6 = "6_manader"
    MONTHS_12 = "12_manader"


class ConsentPurpose(StrEnum):
    """What a participant may consent to, each on its own (GDPR art. 6-7: specific purposes)."""

    SHARE_WITH_PARTNER = "dela_med_partner"  # placement details to the partner's own system
    FUNDER_REPORTING = "rapportering_finansiar"  # individual-level data in funder reports
    FOLLOW_UP_CONTACT = "uppfoljningskontakt"  # being contacted for follow-ups after exit


class ErasureReason(StrEnum):
    GDPR_ARTICLE_17 = "gdpr_art17"  # the person asked to be erased
    DELETION_RULE = "gallring"  # the social services' deletion (gallring) rules
    RETENTION = "lagringstid"  # Insats's own retention period ran out


class ExitReason(StrEnum):
    """Why a participant left a programme other than by a placement's end: the reasons for
    leaving that SUS and the ESF reports distinguish. Each indicator definition says which of
    them it excludes from its denominator."""

    WITHDRAWN = "avbrutit_pa_egen_begaran"  # the participant chose to leave
    MOVED_AWAY = "flyttat"
    # Health is a special category (GDPR art. 9): a caseworker may record LONG_TERM_SICK, but
    # intake publishes it as UNAVAILABLE, so no service or partner learns of the sickness.
    LONG_TERM_SICK = "langvarigt_sjuk"
    UNAVAILABLE = "ej_tillganglig"  # cannot take part for a reason not stated outside intake
    PARENTAL_LEAVE = "foraldraledig"
    FOUND_WORK = "fatt_arbete"
    STARTED_STUDIES = "borjat_studera"
    NO_CONTACT = "ingen_kontakt"
    DECEASED = "avliden"
    # The participation should never have been registered: it leaves every figure.
    ERRONEOUS_REGISTRATION = "felregistrering"


class RejectionReason(StrEnum):
    """Machine-readable reasons a referral is not enrolled. Stable: systems branch on them."""

    INVALID_JSON = "INVALID_JSON"
    SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    INVALID_PERSONNUMMER = "INVALID_PERSONNUMMER"
    UNKNOWN_MUNICIPALITY = "UNKNOWN_MUNICIPALITY"
    UNKNOWN_PROGRAMME = "UNKNOWN_PROGRAMME"
    AGE_OUT_OF_RANGE = "AGE_OUT_OF_RANGE"
    MUNICIPALITY_NOT_IN_PROGRAMME = "MUNICIPALITY_NOT_IN_PROGRAMME"
    INCOME_SUPPORT_REQUIRED = "INCOME_SUPPORT_REQUIRED"
    TARGET_GROUP_NOT_ACCEPTED = "TARGET_GROUP_NOT_ACCEPTED"
    ALREADY_ENROLLED = "ALREADY_ENROLLED"
    REFERRAL_DATE_OUT_OF_RANGE = "REFERRAL_DATE_OUT_OF_RANGE"
    # The referral names a home municipality other than the municipality that sent it.
    MUNICIPALITY_MISMATCH = "MUNICIPALITY_MISMATCH"
    # The same municipality asked for the person's erasure after it sent this referral (the
    # request reached intake first): the person is not enrolled again.
    ERASURE_REQUESTED = "ERASURE_REQUESTED"


class InputRefusal(StrEnum):
    """Machine-readable reasons any other input from outside is not applied, answered to the
    tenant that sent it (insats.input.rejected.v1). Stable: systems branch on them."""

    INVALID_JSON = "INVALID_JSON"
    SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    # The payload names a municipality other than the tenant's own (its topic).
    MUNICIPALITY_MISMATCH = "MUNICIPALITY_MISMATCH"
    # A shared topic's record whose `source` names no tenant.
    UNKNOWN_TENANT = "UNKNOWN_TENANT"
    # Deliberately the same answer for "no such participant" and "not one you referred", so that
    # no tenant can probe who is enrolled elsewhere; the audit records which it was.
    UNKNOWN_PARTICIPANT = "UNKNOWN_PARTICIPANT"
    UNKNOWN_PLACEMENT = "UNKNOWN_PLACEMENT"
    UNKNOWN_CHECK_IN = "UNKNOWN_CHECK_IN"
    # A support task no one opened, or not for this placement, or already closed.
    UNKNOWN_SUPPORT_TASK = "UNKNOWN_SUPPORT_TASK"
    # A support task is the municipality's: a partner reports a check-in, it does not close one.
    NOT_TASK_OWNER = "NOT_TASK_OWNER"
    # An allocation round, a cost report or a delivered contribution for a programme no one
    # has defined.
    UNKNOWN_PROGRAMME = "UNKNOWN_PROGRAMME"
    NOT_PROGRAMME_OWNER = "NOT_PROGRAMME_OWNER"
    NOT_PARTNER_OWNER = "NOT_PARTNER_OWNER"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    # An exit for a programme the person has no open enrolment in (never, or already exited).
    NOT_ENROLLED = "NOT_ENROLLED"
    # An exit dated before the enrolment's referral date or after the day it was received.
    EXIT_DATE_OUT_OF_RANGE = "EXIT_DATE_OUT_OF_RANGE"
    # A plan whose revision is not newer than the one the enrolment has.
    PLAN_SUPERSEDED = "PLAN_SUPERSEDED"
    # A move to a municipality code Statistics Sweden does not know, or dated in the future.
    UNKNOWN_MUNICIPALITY = "UNKNOWN_MUNICIPALITY"
    MOVE_DATE_OUT_OF_RANGE = "MOVE_DATE_OUT_OF_RANGE"
    # A personnummer to link a samordningsnummer to that already names another participant.
    IDENTITY_IN_USE = "IDENTITY_IN_USE"
    INVALID_PERSONNUMMER = "INVALID_PERSONNUMMER"
    INVALID_ORGANISATIONSNUMMER = "INVALID_ORGANISATIONSNUMMER"
    HANDLER_ERROR = "HANDLER_ERROR"
