"""Intake's rules: is this referral a valid person, for a known programme, and eligible for it?

Eligibility is data (the programme's definition), evaluated here; every rejection names the rule
that failed, in English and Swedish. Pure: callers pass in the programme, the known
municipalities, what is already enrolled and the pseudonymisation function.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.intake.personnummer import InvalidPersonnummer, Personnummer, parse
from shared.contracts.intake import (
    ParticipantEnrolled,
    ParticipantHandedOver,
    ParticipantMoved,
    ParticipationExited,
)
from shared.contracts.municipal import (
    ParticipationExitRecorded,
    PlanRecorded,
    ProgrammeDefined,
    ReferralReceived,
    ResidenceChangeRecorded,
)
from shared.contracts.vocabulary import (
    SPECIAL_CATEGORY_GROUPS,
    ExitReason,
    InputRefusal,
    RejectionReason,
    TargetGroup,
)

# Rejections caused by bad data rather than by the programme's rules: these are also dead-lettered
# so an operator sees them beside malformed messages.
BAD_INPUT: frozenset[RejectionReason] = frozenset(
    {
        RejectionReason.INVALID_PERSONNUMMER,
        RejectionReason.UNKNOWN_MUNICIPALITY,
        RejectionReason.UNKNOWN_PROGRAMME,
    }
)


@dataclass(frozen=True)
class Rejection:
    reason: RejectionReason
    rule: str | None
    message: str
    message_sv: str


@dataclass(frozen=True)
class Enrolment:
    participant: ParticipantEnrolled
    person: Personnummer
    # GDPR art. 9 facts: used for the eligibility decision and funder statistics, and travel
    # apart from the enrolment.
    special_categories: tuple[TargetGroup, ...] = ()


Decision = Enrolment | Rejection


def person_lookup(key: bytes) -> Callable[[Personnummer], str]:
    """The keyed lookup of a person's number in intake's person index (person_index.py), so the
    same person referred by two municipalities is one participant. Never leaves intake: the
    participant id itself is random. (Participants of earlier versions have this as their id.)"""

    def lookup(person: Personnummer) -> str:
        digest = hmac.new(key, person.normalised.encode(), hashlib.sha256).hexdigest()
        return f"p-{digest[:32]}"

    return lookup


def boundary_failure(
    referral: ReferralReceived, sender: str | None, received_on: date, max_age: timedelta
) -> Rejection | None:
    """What the sender cannot claim: a resident of another municipality than its own, or a
    referral date it could move to pass an age rule (a future date) or jump a queue (a date long
    past). `sender` is the kommunkod of the municipality whose topic the referral came on."""
    if sender is None or referral.municipality != sender:
        return Rejection(
            RejectionReason.MUNICIPALITY_MISMATCH,
            "tenant.municipality",
            "The referral names another home municipality than the one that sent it.",
            "Remissen anger en annan hemkommun än den kommun som skickade den.",
        )
    if referral.referral_date > received_on + timedelta(days=1):
        return Rejection(
            RejectionReason.REFERRAL_DATE_OUT_OF_RANGE,
            "referral_date.future",
            "The referral date is more than a day after the referral was received.",
            "Remissdatumet ligger mer än en dag efter att remissen togs emot.",
        )
    if referral.referral_date < received_on - max_age:
        return Rejection(
            RejectionReason.REFERRAL_DATE_OUT_OF_RANGE,
            "referral_date.age",
            f"The referral date is more than {max_age.days} days before the referral was received.",
            f"Remissdatumet ligger mer än {max_age.days} dagar före att remissen togs emot.",
        )
    return None


def sent_before_erasure(
    sent_at: datetime, erasure_requested_at: datetime | None
) -> Rejection | None:
    """A referral that reaches intake after the same municipality's request to erase the person,
    but was made before it (by the times the municipality gave both), is the erased past, not
    a new referral: records on different partitions have no order, and applying it would enrol
    the person again the moment they were erased."""
    if erasure_requested_at is None:
        return None
    # The database keeps the request's time to the millisecond: so is the referral's compared.
    if sent_at.replace(microsecond=sent_at.microsecond // 1000 * 1000) > erasure_requested_at:
        return None
    return Rejection(
        RejectionReason.ERASURE_REQUESTED,
        "erasure.requested_after",
        "The municipality asked for the person's erasure after it made this referral.",
        "Kommunen begärde att personen skulle raderas efter att den gjorde remissen.",
    )


def identify(referral: ReferralReceived, received_on: date) -> Personnummer | Rejection:
    """The person, as of the day intake received the referral (a date the sender cannot move:
    a two-digit year's century and the birth date's plausibility are judged against it)."""
    try:
        return parse(referral.personnummer, received_on)
    except InvalidPersonnummer as problem:
        return Rejection(
            RejectionReason.INVALID_PERSONNUMMER,
            f"personnummer.{problem.problem}",
            f"Invalid personnummer: {problem.message}.",
            f"Ogiltigt personnummer: {problem.message_sv}.",
        )


def decide(
    referral: ReferralReceived,
    person: Personnummer,
    participant_id: str,
    programme: ProgrammeDefined | None,
    known_municipalities: Collection[str],
    enrolled_programmes: Collection[str],
    received_on: date,
    participation: int = 1,
) -> Decision:
    """Enrol, or say which rule failed. Rules are checked in a fixed order, so the reason given is
    the first that fails, and the same referral always gets the same answer. Age is reckoned on
    `received_on`, the day intake received the referral, not on the sender's referral date.
    `enrolled_programmes` are those the person has an open enrolment in; a person who left a
    programme may return to it, as its `participation`-th enrolment."""
    if referral.municipality not in known_municipalities:
        return Rejection(
            RejectionReason.UNKNOWN_MUNICIPALITY,
            "municipality.known",
            f"Unknown municipality code {referral.municipality}.",
            f"Okänd kommunkod {referral.municipality}.",
        )
    if programme is None:
        return Rejection(
            RejectionReason.UNKNOWN_PROGRAMME,
            "programme.known",
            f"Unknown programme {referral.programme_id}.",
            f"Okänt program {referral.programme_id}.",
        )
    if failure := _eligibility_failure(referral, person, programme, received_on):
        return failure
    if programme.programme_id in enrolled_programmes:
        return Rejection(
            RejectionReason.ALREADY_ENROLLED,
            "participant.one_open_enrolment_per_programme",
            "The person is already enrolled in this programme and has not left it.",
            "Personen är redan inskriven i programmet och har inte avslutats.",
        )
    age = person.age_on(received_on)
    ordinary, special = split_special_categories(_with_income_support(referral))
    return Enrolment(
        participant=ParticipantEnrolled(
            participant_id=participant_id,
            referral_id=referral.referral_id,
            programme_id=programme.programme_id,
            municipality=referral.municipality,
            birth_year=person.birth_date.year,
            age_at_referral=age,
            gender=referral.gender or person.gender,
            income_support=referral.income_support,
            target_groups=list(ordinary),
            referral_date=referral.referral_date,
            consents=list(dict.fromkeys(referral.consents)),
            preferences=referral.preferences,
            participation=participation,
            labour_market_status=referral.labour_market_status,
            education_level=referral.education_level,
        ),
        person=person,
        special_categories=special,
    )


def split_special_categories(
    groups: Collection[TargetGroup],
) -> tuple[tuple[TargetGroup, ...], tuple[TargetGroup, ...]]:
    ordinary = tuple(g for g in groups if g not in SPECIAL_CATEGORY_GROUPS)
    special = tuple(g for g in groups if g in SPECIAL_CATEGORY_GROUPS)
    return ordinary, special


def _eligibility_failure(
    referral: ReferralReceived, person: Personnummer, programme: ProgrammeDefined, received_on: date
) -> Rejection | None:
    rules = programme.eligibility
    if referral.municipality not in programme.municipalities:
        return Rejection(
            RejectionReason.MUNICIPALITY_NOT_IN_PROGRAMME,
            "eligibility.municipalities",
            f"Municipality {referral.municipality} is not part of programme "
            f"{programme.programme_id}.",
            f"Kommun {referral.municipality} ingår inte i programmet {programme.programme_id}.",
        )
    age = person.age_on(received_on)
    if not rules.min_age <= age <= rules.max_age:
        return Rejection(
            RejectionReason.AGE_OUT_OF_RANGE,
            "eligibility.age",
            f"Age {age} is outside the programme's range {rules.min_age}-{rules.max_age}.",
            f"Åldern {age} ligger utanför programmets intervall {rules.min_age}-{rules.max_age}.",
        )
    if rules.requires_income_support and not referral.income_support:
        return Rejection(
            RejectionReason.INCOME_SUPPORT_REQUIRED,
            "eligibility.income_support",
            "The programme is for people who receive income support.",
            "Programmet är för personer som har ekonomiskt bistånd.",
        )
    accepted = set(rules.accepted_target_groups)
    if accepted and not accepted & set(_with_income_support(referral)):
        names = ", ".join(sorted(group.value for group in accepted))
        return Rejection(
            RejectionReason.TARGET_GROUP_NOT_ACCEPTED,
            "eligibility.target_groups",
            f"The person belongs to none of the programme's target groups ({names}).",
            f"Personen tillhör ingen av programmets målgrupper ({names}).",
        )
    return None


def _with_income_support(referral: ReferralReceived) -> list[TargetGroup]:
    groups = list(dict.fromkeys(referral.target_groups))
    if referral.income_support and TargetGroup.INCOME_SUPPORT not in groups:
        groups.append(TargetGroup.INCOME_SUPPORT)
    return groups


# --- exits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenEnrolment:
    """An enrolment not yet exited: the referral that opened it, and whose resident it is."""

    programme_id: str
    referral_id: str
    municipality: str
    referral_date: date
    participation: int = 1


def participations(enrolments: Iterable[Mapping[str, Any]], programme_id: str) -> int:
    """How many times the person has been enrolled in the programme, open or exited."""
    return sum(1 for stored in enrolments if stored.get("programme_id") == programme_id)


def open_enrolments(enrolments: Iterable[Mapping[str, Any]]) -> list[OpenEnrolment]:
    """The person's enrolments not yet exited, from intake's stored enrolments."""
    return [
        OpenEnrolment(
            programme_id=str(stored["programme_id"]),
            referral_id=str(stored["referral_id"]),
            municipality=str(stored["municipality"]),
            referral_date=date.fromisoformat(stored["referral_date"]),
            participation=int(stored.get("participation", 1)),
        )
        for stored in enrolments
        if not stored.get("exited_on")
    ]


def open_enrolment(
    enrolments: Iterable[Mapping[str, Any]], programme_id: str
) -> OpenEnrolment | None:
    """The person's open enrolment in the programme, if any."""
    return next((e for e in open_enrolments(enrolments) if e.programme_id == programme_id), None)


@dataclass(frozen=True)
class RequestRefusal:
    code: InputRefusal
    message: str
    message_sv: str


def exit_refusal(
    enrolment: OpenEnrolment | None, request: ParticipationExitRecorded, received_on: date
) -> RequestRefusal | None:
    """Why an exit cannot be applied, or None. An exit is of an open enrolment, dated no earlier
    than its referral and no later than the day after intake received it (a date in the future
    would close a participation that is still going on)."""
    if enrolment is None:
        return RequestRefusal(
            InputRefusal.NOT_ENROLLED,
            f"The person has no open enrolment in programme {request.programme_id}.",
            f"Personen är inte inskriven i programmet {request.programme_id}.",
        )
    if request.exited_on < enrolment.referral_date:
        return RequestRefusal(
            InputRefusal.EXIT_DATE_OUT_OF_RANGE,
            "The exit date is before the referral date of the enrolment.",
            "Avslutsdatumet ligger före inskrivningens remissdatum.",
        )
    if request.exited_on > received_on + timedelta(days=1):
        return RequestRefusal(
            InputRefusal.EXIT_DATE_OUT_OF_RANGE,
            "The exit date is more than a day after the exit was received.",
            "Avslutsdatumet ligger mer än en dag efter att avslutet togs emot.",
        )
    return None


def plan_refusal(
    enrolment: OpenEnrolment | None,
    enrolments: Iterable[Mapping[str, Any]],
    request: PlanRecorded,
) -> RequestRefusal | None:
    """Why a plan cannot be adopted, or None: a plan is for an open enrolment, and newer than the
    one it replaces (two case systems, or a resent old version, must not turn a plan back)."""
    if enrolment is None:
        return RequestRefusal(
            InputRefusal.NOT_ENROLLED,
            f"The person has no open enrolment in programme {request.programme_id}.",
            f"Personen är inte inskriven i programmet {request.programme_id}.",
        )
    held = max(
        (
            int(e.get("plan_revision", 0))
            for e in enrolments
            if e.get("programme_id") == request.programme_id and not e.get("exited_on")
        ),
        default=0,
    )
    if request.plan.revision <= held:
        return RequestRefusal(
            InputRefusal.PLAN_SUPERSEDED,
            f"Revision {request.plan.revision} is not newer than the plan's revision {held}.",
            f"Version {request.plan.revision} är inte nyare än planens version {held}.",
        )
    return None


def published_exit_reason(reason: ExitReason) -> ExitReason:
    """The reason as it may leave intake: a health fact (long-term sickness) is a special
    category, so the services and partners learn only that the person cannot take part."""
    return ExitReason.UNAVAILABLE if reason is ExitReason.LONG_TERM_SICK else reason


def exited(
    enrolment: OpenEnrolment, participant_id: str, request: ParticipationExitRecorded
) -> ParticipationExited:
    return ParticipationExited(
        participant_id=participant_id,
        programme_id=enrolment.programme_id,
        referral_id=enrolment.referral_id,
        municipality=enrolment.municipality,
        reason=published_exit_reason(request.reason),
        exited_on=request.exited_on,
        participation=enrolment.participation,
    )


# --- moves ------------------------------------------------------------------------------------


def move_refusal(
    enrolments: Sequence[OpenEnrolment],
    request: ResidenceChangeRecorded,
    known_municipalities: Collection[str],
    received_on: date,
) -> RequestRefusal | None:
    """Why a move cannot be applied, or None: it is of someone enrolled, to a municipality that
    exists, and has happened (at the latest the day after intake received it)."""
    if not enrolments:
        return RequestRefusal(
            InputRefusal.NOT_ENROLLED,
            "The person has no open enrolment to move.",
            "Personen har ingen pågående inskrivning att flytta.",
        )
    if request.to_municipality not in known_municipalities:
        return RequestRefusal(
            InputRefusal.UNKNOWN_MUNICIPALITY,
            f"Unknown municipality code {request.to_municipality}.",
            f"Okänd kommunkod {request.to_municipality}.",
        )
    if request.moved_on > received_on + timedelta(days=1):
        return RequestRefusal(
            InputRefusal.MOVE_DATE_OUT_OF_RANGE,
            "The move is dated more than a day after it was received.",
            "Flytten är daterad mer än en dag efter att den togs emot.",
        )
    return None


def moved(
    enrolment: OpenEnrolment,
    participant_id: str,
    request: ResidenceChangeRecorded,
    programme: ProgrammeDefined | None,
) -> ParticipantMoved | ParticipationExited | None:
    """What a move does to one open enrolment: it follows the person where the programme covers
    the new municipality, and ends (as an exit for moving away, on the last day before the move)
    where it does not; nothing for a "move" within the same municipality."""
    if enrolment.municipality == request.to_municipality:
        return None
    if programme is not None and request.to_municipality in programme.municipalities:
        return ParticipantMoved(
            participant_id=participant_id,
            programme_id=enrolment.programme_id,
            participation=enrolment.participation,
            from_municipality=enrolment.municipality,
            to_municipality=request.to_municipality,
            moved_on=request.moved_on,
        )
    return ParticipationExited(
        participant_id=participant_id,
        programme_id=enrolment.programme_id,
        referral_id=enrolment.referral_id,
        municipality=enrolment.municipality,
        reason=ExitReason.MOVED_AWAY,
        exited_on=max(enrolment.referral_date, request.moved_on - timedelta(days=1)),
        participation=enrolment.participation,
    )


def open_to(programmes: Iterable[ProgrammeDefined], municipality: str, on: date) -> list[str]:
    """The programmes a municipality may refer someone to on a day: those that cover it and
    run then, by id."""
    return sorted(
        p.programme_id
        for p in programmes
        if municipality in p.municipalities and p.period_start <= on <= p.period_end
    )


def handed_over(
    ended: ParticipationExited, request: ResidenceChangeRecorded, programmes: Sequence[str]
) -> ParticipantHandedOver:
    """The handover that goes with an enrolment a move ended: the new municipality is asked to
    take the person on, and told which programmes it may refer them to."""
    return ParticipantHandedOver(
        participant_id=ended.participant_id,
        programme_id=ended.programme_id,
        participation=ended.participation,
        from_municipality=ended.municipality,
        to_municipality=request.to_municipality,
        moved_on=request.moved_on,
        programmes=list(programmes),
    )


# --- two participants who were one person -----------------------------------------------------


def merge_conflict(kept: Mapping[str, Any], merged: Mapping[str, Any]) -> str | None:
    """A programme both were enrolled in (open or exited), or None. Two such enrolments could not
    be told apart downstream (each is its programme's participation 1, 2, ...), so the two are
    not merged."""
    ours = {e.get("programme_id") for e in kept.get("enrolments", [])}
    theirs = {e.get("programme_id") for e in merged.get("enrolments", [])}
    common = sorted(str(p) for p in ours & theirs if p)
    return common[0] if common else None


def merged(kept: Mapping[str, Any], merged: Mapping[str, Any]) -> dict[str, Any]:
    """The record of the participant that remains: both one's enrolments, each consent as last
    recorded under either number, and protected identity if either had it."""
    consents: dict[str, Any] = {}
    for purpose, value in [
        *merged.get("consents", {}).items(),
        *kept.get("consents", {}).items(),
    ]:
        earlier = consents.get(purpose)
        if earlier is None or str(value.get("on", "")) >= str(earlier.get("on", "")):
            consents[purpose] = value
    return {
        "enrolments": sorted(
            [*kept.get("enrolments", []), *merged.get("enrolments", [])],
            key=lambda e: str(e.get("referral_date", "")),
        ),
        "consents": consents,
        "protected_identity": bool(kept.get("protected_identity"))
        or bool(merged.get("protected_identity")),
    }
