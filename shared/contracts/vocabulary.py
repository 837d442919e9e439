"""The shared vocabulary of the event contract: codes every producer and consumer agrees on.

Member names are English identifiers; values are the Swedish domain words users search for
(DOMAIN.md), kept ASCII so that shell tools such as kcat and grep handle them without fuss.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

# Statistics Sweden's four-digit municipality code, e.g. "1384" for Kungsbacka.
Kommunkod = Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
# Identifiers chosen by the publishing system: programme ids, partner ids, referral ids.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^\S+$")]


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


class Gender(StrEnum):
    """Legal gender as funders ask for it (ESF reports by women and men)."""

    FEMALE = "kvinna"
    MALE = "man"
    UNKNOWN = "okant"


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
