"""Indicators: named, versioned definitions evaluated over journeys.

An indicator is identified as `key@version` (e.g. `sysselsattning_vid_avslut@1`). A definition
never changes once published: a correction is a new version beside the old one, so a report
names the version it used and can be reproduced, and two programmes are compared by the same
rule. Each definition's docstring is its definition; numerator and denominator are stated with
it. Evaluation is pure: the reference date (`as_of`) and the period are arguments.

Every figure carries the number of people behind it, and any group of fewer than
`MIN_GROUP_SIZE` people is suppressed (primary suppression). Where groups partition the people
(municipality, gender), a single suppressed group could be recovered from the total and the
others, so one more group is suppressed (secondary suppression; see `protect_line`).
"""

from __future__ import annotations

import inspect
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from services.outcomes.domain import WORK, Journey, due_date
from shared.contracts.municipal import ProgrammeDefined
from shared.contracts.vocabulary import (
    SYSSELSATTNING,
    ExitReason,
    FollowUpPoint,
    LabourMarketStatus,
    OutcomeStatus,
)

MIN_GROUP_SIZE = 5
WORK_OR_STUDIES: frozenset[OutcomeStatus] = WORK | {OutcomeStatus.STUDIES}

# Exits no programme could have turned into a result: WIOA's performance indicators leave out
# participants who died and those who left for medical treatment expected to last over 90 days
# (here: long-term sickness, which leaves intake as UNAVAILABLE).
CANNOT_TAKE_PART: frozenset[ExitReason] = frozenset(
    {ExitReason.DECEASED, ExitReason.UNAVAILABLE, ExitReason.LONG_TERM_SICK}
)
# ... and, for a municipality's own figures, those who moved away: their outcome is another
# municipality's to follow up.
LEFT_THE_MUNICIPALITY: frozenset[ExitReason] = CANNOT_TAKE_PART | {ExitReason.MOVED_AWAY}


class Dimension(StrEnum):
    PROGRAMME = "programme"
    MUNICIPALITY = "municipality"
    PARTNER = "partner"
    ACTIVITY = "activity"
    TARGET_GROUP = "target_group"
    GENDER = "gender"
    # Whether a support task was opened after the exit: only the indicators of who stays in
    # work break down by it (it says nothing of the other figures).
    SUPPORT = "support"


# Each person is in exactly one group of these, so a suppressed group could be derived from the
# total and the other groups; partners, activities and target groups overlap.
PARTITIONS: frozenset[Dimension] = frozenset(
    {Dimension.MUNICIPALITY, Dimension.GENDER, Dimension.SUPPORT}
)
ALL_DIMENSIONS: tuple[Dimension, ...] = tuple(d for d in Dimension if d is not Dimension.SUPPORT)
WITH_SUPPORT, WITHOUT_SUPPORT = "med_stod", "utan_stod"
UNKNOWN_GROUP = "okand"


_GROUPS: dict[Dimension, Callable[[Journey], frozenset[str]]] = {
    Dimension.PROGRAMME: lambda j: frozenset({j.programme_id}),
    Dimension.GENDER: lambda j: frozenset({j.gender.value if j.gender else UNKNOWN_GROUP}),
    Dimension.TARGET_GROUP: lambda j: frozenset(g.value for g in j.target_groups),
    Dimension.PARTNER: lambda j: frozenset(p.partner_id for p in j.placements if p.partner_id),
    Dimension.ACTIVITY: lambda j: frozenset(p.activity.value for p in j.placements if p.activity),
    Dimension.SUPPORT: lambda j: frozenset(
        {WITH_SUPPORT if j.supported_after_exit else WITHOUT_SUPPORT}
    ),
}


def groups_of(journey: Journey, dimension: Dimension, on: date | None = None) -> frozenset[str]:
    """The groups a journey belongs to along one dimension (none, one or several). A person is
    in the municipality they lived in `on` the day the figure is about (see `Indicator.dated`);
    without a day, where they lived at exit, or live now."""
    if dimension is Dimension.MUNICIPALITY:
        home = journey.home_on(on) if on is not None else journey.home_for_figures
        return frozenset({home or UNKNOWN_GROUP})
    return _GROUPS[dimension](journey)


@dataclass(frozen=True)
class Scope:
    """What a figure is about: the whole programme, or one group along one dimension."""

    dimension: Dimension | None = None
    group: str | None = None

    @property
    def whole(self) -> bool:
        return self.dimension is None


WHOLE = Scope()


@dataclass(frozen=True)
class Context:
    programme: ProgrammeDefined
    as_of: date
    period_start: date
    period_end: date
    places_by_partner: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def for_programme(
        cls,
        programme: ProgrammeDefined,
        as_of: date,
        places_by_partner: Mapping[str, int] | None = None,
        period: tuple[date, date] | None = None,
    ) -> Context:
        start, end = period or (programme.period_start, programme.period_end)
        return cls(programme, as_of, start, end, dict(places_by_partner or {}))

    @property
    def last_day(self) -> date:
        """The last day the figures can see: the period's end, or today if earlier."""
        return min(self.period_end, self.as_of)


@dataclass(frozen=True)
class Value:
    """A figure and the number of people it rests on."""

    people: int
    numerator: float | None = None
    denominator: float | None = None
    value: float | None = None


Compute = Callable[[Sequence[Journey], Context, Scope], Value]
Dated = Callable[[Journey, Context], date | None]


def at_exit_or_last_day(journey: Journey, ctx: Context) -> date:
    """The day of a figure about a journey's end: its exit, or, while it goes on, the last day
    the figures see (the period's end, or today)."""
    if journey.exit_date is not None and journey.exit_date <= ctx.last_day:
        return journey.exit_date
    return ctx.last_day


def at_referral(journey: Journey, ctx: Context) -> date | None:
    """The day of a figure about the people referred: the referral."""
    return journey.referral_date


def at_first_start(journey: Journey, ctx: Context) -> date | None:
    """The day of a figure about starts: the first placement's."""
    return journey.first_placement or at_exit_or_last_day(journey, ctx)


@dataclass(frozen=True)
class Indicator:
    key: str
    version: int
    title: str
    numerator: str
    denominator: str
    definition: str
    compute: Compute
    unit: Literal["share", "days", "count"] = "share"
    higher_is_better: bool = True
    goal: Callable[[ProgrammeDefined], float | None] = lambda _: None
    dimensions: tuple[Dimension, ...] = ALL_DIMENSIONS
    # Exits this definition leaves out of everything it counts: the person left for one of
    # these reasons (an erroneous registration is in no figure at all; see OutcomesStore).
    excludes: frozenset[ExitReason] = frozenset()
    # The day whose home municipality a journey is counted under in the breakdown by
    # municipality: a person who moved counts where they lived when the counted thing happened.
    dated: Dated = at_exit_or_last_day

    @property
    def name(self) -> str:
        return f"{self.key}@{self.version}"


CATALOGUE: dict[str, Indicator] = {}


def indicator(
    key: str,
    version: int,
    *,
    title: str,
    numerator: str,
    denominator: str,
    unit: Literal["share", "days", "count"] = "share",
    higher_is_better: bool = True,
    goal: Callable[[ProgrammeDefined], float | None] = lambda _: None,
    dimensions: tuple[Dimension, ...] = ALL_DIMENSIONS,
    excludes: frozenset[ExitReason] = frozenset(),
    definition: str | None = None,
    dated: Dated = at_exit_or_last_day,
) -> Callable[[Compute], Indicator]:
    """Register a definition. A new version that counts the same way over other people (only its
    exclusions differ) passes the earlier compute with its own `definition` text."""

    def register(compute: Compute) -> Indicator:
        registered = Indicator(
            key=key,
            version=version,
            title=title,
            numerator=numerator,
            denominator=denominator,
            definition=inspect.cleandoc(definition or compute.__doc__ or ""),
            compute=compute,
            unit=unit,
            higher_is_better=higher_is_better,
            goal=goal,
            dimensions=dimensions,
            excludes=excludes,
            dated=dated,
        )
        if registered.name in CATALOGUE:
            raise ValueError(f"{registered.name} is already defined; publish a new version")
        CATALOGUE[registered.name] = registered
        return registered

    return register


def current() -> list[Indicator]:
    """The newest version of every indicator, in catalogue order."""
    newest: dict[str, Indicator] = {}
    for item in CATALOGUE.values():
        if item.key not in newest or item.version > newest[item.key].version:
            newest[item.key] = item
    return list(newest.values())


def lookup(name: str) -> Indicator:
    """By `key@version`, or by `key` alone for its newest version."""
    if "@" in name:
        if name not in CATALOGUE:
            raise KeyError(f"no indicator {name}; known: {', '.join(sorted(CATALOGUE))}")
        return CATALOGUE[name]
    found = [item for item in current() if item.key == name]
    if not found:
        raise KeyError(f"no indicator {name}; known: {', '.join(sorted(CATALOGUE))}")
    return found[0]


# --- who is counted ------------------------------------------------------------------------


def _exits(journeys: Sequence[Journey], ctx: Context) -> list[Journey]:
    """Participants who left the programme within the period, up to today."""
    return [
        j
        for j in journeys
        if j.exited and j.exit_date is not None and ctx.period_start <= j.exit_date <= ctx.last_day
    ]


def _reached(journeys: Sequence[Journey], ctx: Context) -> list[Journey]:
    """Participants enrolled on a referral dated within the period, up to today."""
    return [
        j
        for j in journeys
        if j.referral_date is not None and ctx.period_start <= j.referral_date <= ctx.last_day
    ]


def _followed_up(journeys: Sequence[Journey], ctx: Context, point: FollowUpPoint) -> list[Journey]:
    """Exits whose follow-up at `point` the programme asks for and which has fallen due."""
    if point not in ctx.programme.follow_ups:
        return []
    return [
        j
        for j in _exits(journeys, ctx)
        if j.exit_date is not None and due_date(j.exit_date, point) <= ctx.as_of
    ]


def _status(journey: Journey, point: FollowUpPoint) -> OutcomeStatus | None:
    outcome = journey.outcomes.get(point)
    return outcome.status if outcome else None


def _share(base: Sequence[Journey], hits: Iterable[Journey]) -> Value:
    counted = sum(1 for _ in hits)
    return Value(
        people=len(base),
        numerator=counted,
        denominator=len(base),
        value=counted / len(base) if base else None,
    )


# --- the definitions -----------------------------------------------------------------------


@indicator(
    "sysselsattning_vid_avslut",
    1,
    title="Sysselsättning vid avslut (Kalmar län)",
    numerator="participants whose status at exit is unsubsidised or subsidised work, studies "
    "or praktik/arbetsträning",
    denominator="participants who exited in the period (an exit without a reported status "
    "counts as not in sysselsättning)",
    goal=lambda programme: programme.goal_sysselsattning,
)
def sysselsattning_vid_avslut(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Sysselsättning as the Kalmar län ESF project counts it: being occupied in work of either
    kind, studies or praktik at exit. The share is held against the programme's goal (Kalmar:
    at least 60 %)."""
    base = _exits(journeys, ctx)
    return _share(base, (j for j in base if _status(j, FollowUpPoint.AT_EXIT) in SYSSELSATTNING))


@indicator(
    "resultat_vid_avslut",
    1,
    title="Resultat vid avslut (arbete eller studier)",
    numerator="participants whose status at exit is work of either kind or studies",
    denominator="participants who exited in the period",
)
def resultat_vid_avslut_v1(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Superseded by version 2. The first definition, from before follow-up answers carried the
    employment's length, whether it is a municipal labour-market job and whether studies
    qualify for student aid: any work or studies at exit counted. Kept so that reports made
    with it can be reproduced."""
    base = _exits(journeys, ctx)
    return _share(base, (j for j in base if _status(j, FollowUpPoint.AT_EXIT) in WORK_OR_STUDIES))


def kolada_result(journey: Journey) -> bool:
    outcome = journey.outcomes.get(FollowUpPoint.AT_EXIT)
    if outcome is None:
        return False
    if outcome.status in WORK:
        return (
            outcome.employment_months is not None
            and outcome.employment_months >= 1
            and outcome.municipal_labour_market_job is False
        )
    return outcome.status is OutcomeStatus.STUDIES and outcome.studies_with_student_aid is True


@indicator(
    "resultat_vid_avslut",
    2,
    title="Resultat vid avslut (Kolada)",
    numerator="participants who at exit started work lasting at least one month that is not a "
    "municipal labour-market job, or studies that qualify for student aid (CSN)",
    denominator="participants who exited in the period",
)
def resultat_vid_avslut_v2(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Kolada's "resultat vid avslut" for municipal labour-market activities: the share of those
    who left that went on to work or studies. Work counts if it lasts at least one month and is
    not a municipal labour-market job (such as an extratjänst or OSA at the municipality);
    studies count if they qualify for student aid. A detail the answer leaves unknown is not
    counted: a missing fact is not a success."""
    base = _exits(journeys, ctx)
    return _share(base, (j for j in base if kolada_result(j)))


@indicator(
    "esf_direkt_resultat",
    1,
    title="ESF: direkt resultat (arbete eller studier inom 4 veckor)",
    numerator="of the denominator, those in work of either kind or studies at exit or at the "
    "4-week follow-up",
    denominator="participants who exited in the period and whose 4-week follow-up has fallen due",
)
def esf_direkt_resultat(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """The ESF's immediate result: in work or studies within four weeks of leaving. Only exits
    whose four weeks have passed are counted, so a recent exit does not pull the share down."""
    base = _followed_up(journeys, ctx, FollowUpPoint.WEEKS_4)
    return _share(
        base,
        (
            j
            for j in base
            if _status(j, FollowUpPoint.AT_EXIT) in WORK_OR_STUDIES
            or _status(j, FollowUpPoint.WEEKS_4) in WORK_OR_STUDIES
        ),
    )


@indicator(
    "esf_langsiktigt_resultat",
    1,
    title="ESF: längre resultat (i arbete 6 månader efter avslut)",
    numerator="of the denominator, those in work of either kind at the 6-month follow-up",
    denominator="participants who exited in the period and whose 6-month follow-up has fallen "
    "due (an unanswered follow-up counts as not in work)",
)
def esf_langsiktigt_resultat(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """The ESF's longer-term result: employed six months after leaving the programme."""
    base = _followed_up(journeys, ctx, FollowUpPoint.MONTHS_6)
    return _share(base, (j for j in base if _status(j, FollowUpPoint.MONTHS_6) in WORK))


def _self_sufficiency(journeys: Sequence[Journey], ctx: Context, point: FollowUpPoint) -> Value:
    base = [j for j in _followed_up(journeys, ctx, point) if j.income_support]
    return _share(
        base,
        (
            j
            for j in base
            if (outcome := j.outcomes.get(point)) is not None and outcome.income_support is False
        ),
    )


@indicator(
    "egen_forsorjning_6_manader",
    1,
    title="Egen försörjning 6 månader efter avslut",
    numerator="of the denominator, those whose 6-month follow-up says they no longer receive "
    "income support",
    denominator="participants who received income support at enrolment, exited in the period, "
    "and whose 6-month follow-up has fallen due",
)
def egen_forsorjning_6(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Self-sufficiency six months after exit: no longer needing försörjningsstöd, among those
    who needed it when they joined. An unanswered or unknown income-support status is not
    counted as self-sufficient."""
    return _self_sufficiency(journeys, ctx, FollowUpPoint.MONTHS_6)


@indicator(
    "egen_forsorjning_12_manader",
    1,
    title="Egen försörjning 12 månader efter avslut",
    numerator="of the denominator, those whose 12-month follow-up says they no longer receive "
    "income support",
    denominator="participants who received income support at enrolment, exited in the period, "
    "and whose 12-month follow-up has fallen due",
)
def egen_forsorjning_12(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Self-sufficiency twelve months after exit, as at six months."""
    return _self_sufficiency(journeys, ctx, FollowUpPoint.MONTHS_12)


# --- versions that leave out exits no result could follow ----------------------------------
# Since exits are recorded at any point (insats.participation.exited.v1), those who leave while
# waiting are in every denominator of exits, as they should be; so are those who died or fell
# ill. These versions count the same way over the exits that could have had a result.


indicator(
    "sysselsattning_vid_avslut",
    2,
    title="Sysselsättning vid avslut (Kalmar län), utan avlidna, sjuka och utflyttade",
    numerator="participants whose status at exit is unsubsidised or subsidised work, studies "
    "or praktik/arbetsträning",
    denominator="participants who exited in the period, placed or not, except those who died, "
    "could not take part (long-term sickness) or moved away (an exit without a reported "
    "status counts as not in sysselsättning)",
    goal=lambda programme: programme.goal_sysselsattning,
    excludes=LEFT_THE_MUNICIPALITY,
    definition="""Version 1's sysselsättning over the exits a programme could have turned into
    work or studies: whoever left, before, between or during placements, is counted, except
    those who died, could not take part for long-term sickness, or moved away (whose outcome is
    their new municipality's). Held against the programme's goal like version 1.""",
)(sysselsattning_vid_avslut.compute)

indicator(
    "esf_direkt_resultat",
    2,
    title="ESF: direkt resultat (arbete eller studier inom 4 veckor), utan avlidna och sjuka",
    numerator="of the denominator, those in work of either kind or studies at exit or at the "
    "4-week follow-up",
    denominator="participants who exited in the period, placed or not, and whose 4-week "
    "follow-up has fallen due, except those who died or could not take part (long-term "
    "sickness)",
    excludes=CANNOT_TAKE_PART,
    definition="""Version 1's immediate result, leaving out the exits for death or long-term
    sickness, as WIOA's performance indicators do; people who moved away stay in it, since the
    ESF follows every participant wherever they live.""",
)(esf_direkt_resultat.compute)

indicator(
    "esf_langsiktigt_resultat",
    2,
    title="ESF: längre resultat (i arbete 6 månader efter avslut), utan avlidna och sjuka",
    numerator="of the denominator, those in work of either kind at the 6-month follow-up",
    denominator="participants who exited in the period, placed or not, and whose 6-month "
    "follow-up has fallen due, except those who died or could not take part (long-term "
    "sickness); an unanswered follow-up counts as not in work",
    excludes=CANNOT_TAKE_PART,
    definition="""Version 1's longer-term result with the exclusions of esf_direkt_resultat@2.""",
)(esf_langsiktigt_resultat.compute)

indicator(
    "egen_forsorjning_6_manader",
    2,
    title="Egen försörjning 6 månader efter avslut, utan avlidna, sjuka och utflyttade",
    numerator="of the denominator, those whose 6-month follow-up says they no longer receive "
    "income support",
    denominator="participants who received income support at enrolment, exited in the period, "
    "and whose 6-month follow-up has fallen due, except those who died, could not take part "
    "(long-term sickness) or moved away",
    excludes=LEFT_THE_MUNICIPALITY,
    definition="""Version 1's self-sufficiency, leaving out those who died or could not take
    part, and those who moved away, whose income support is another municipality's to know.""",
)(egen_forsorjning_6.compute)

indicator(
    "egen_forsorjning_12_manader",
    2,
    title="Egen försörjning 12 månader efter avslut, utan avlidna, sjuka och utflyttade",
    numerator="of the denominator, those whose 12-month follow-up says they no longer receive "
    "income support",
    denominator="participants who received income support at enrolment, exited in the period, "
    "and whose 12-month follow-up has fallen due, except those who died, could not take part "
    "(long-term sickness) or moved away",
    excludes=LEFT_THE_MUNICIPALITY,
    definition="""As egen_forsorjning_6_manader@2, at twelve months.""",
)(egen_forsorjning_12.compute)


@indicator(
    "deltagare_mot_plan",
    1,
    dated=at_referral,
    title="Deltagare: nådda mot planerade",
    numerator="participants enrolled on referrals dated in the period",
    denominator="the programme's planned participants (for the whole programme only; a group "
    "shows its count)",
    unit="count",
    goal=lambda programme: 1.0 if programme.planned_participants else None,
)
def deltagare_mot_plan(journeys: Sequence[Journey], ctx: Context, scope: Scope) -> Value:
    """Planned against reached participants: how far the programme has come towards the number
    of people it planned to reach (Kalmar län: 418). The goal is the plan itself."""
    reached = _reached(journeys, ctx)
    planned = ctx.programme.planned_participants
    if not scope.whole or not planned:
        return Value(people=len(reached), numerator=len(reached))
    return Value(
        people=len(reached),
        numerator=len(reached),
        denominator=planned,
        value=len(reached) / planned,
    )


@indicator(
    "deltagare_mot_plan",
    2,
    dated=at_referral,
    title="Deltagare: nådda personer mot planerade",
    numerator="people enrolled on referrals dated in the period, each counted once however "
    "many times they left and returned",
    denominator="the programme's planned participants (for the whole programme only; a group "
    "shows its count)",
    unit="count",
    goal=lambda programme: 1.0 if programme.planned_participants else None,
)
def deltagare_mot_plan_v2(journeys: Sequence[Journey], ctx: Context, scope: Scope) -> Value:
    """Version 1 counted enrolments; since a person who left may be referred again, a plan of
    people reached (Kalmar län: 418) is met by people: a return is the same person."""
    people = len({j.participant_id for j in _reached(journeys, ctx)})
    planned = ctx.programme.planned_participants
    if not scope.whole or not planned:
        return Value(people=people, numerator=people)
    return Value(people=people, numerator=people, denominator=planned, value=people / planned)


def _count(people: Sequence[Journey]) -> Value:
    return Value(people=len(people), numerator=len(people), value=float(len(people)))


@indicator(
    "deltagare_paborjat",
    1,
    dated=at_first_start,
    title="Deltagare som påbörjat en placering",
    numerator="participants whose first placement started in the period",
    denominator="none: a count, which a programme may set a goal on",
    unit="count",
)
def deltagare_paborjat(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Reached is not started: of those enrolled, how many began a placement in the period."""
    return _count(
        [
            j
            for j in journeys
            if j.first_placement is not None
            and ctx.period_start <= j.first_placement <= ctx.last_day
        ]
    )


@indicator(
    "deltagare_avslutat",
    1,
    title="Deltagare som avslutat",
    numerator="participants who exited in the period, with or without a placement",
    denominator="none: a count",
    unit="count",
)
def deltagare_avslutat(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Everyone who left in the period, however they left (an erroneous registration is in no
    figure)."""
    return _count(_exits(journeys, ctx))


@indicator(
    "avslutade_utan_placering",
    1,
    title="Avslutade utan placering",
    numerator="participants who exited in the period without ever having started a placement",
    denominator="none: a count",
    unit="count",
    higher_is_better=False,
)
def avslutade_utan_placering(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Those who left while waiting: the exits a funder's auditor looks for in the denominators,
    shown on their own."""
    return _count([j for j in _exits(journeys, ctx) if j.first_placement is None])


def _place_days(journeys: Sequence[Journey], ctx: Context, scope: Scope) -> tuple[int, int]:
    """(days placements were in use within the window, people placed within it)."""
    first, last = ctx.period_start, ctx.last_day
    used, people = 0, 0
    for journey in journeys:
        mine = 0
        for placement in journey.placements:
            if placement.start_date is None:
                continue
            if scope.dimension is Dimension.PARTNER and placement.partner_id != scope.group:
                continue
            if scope.dimension is Dimension.ACTIVITY and (
                placement.activity is None or placement.activity.value != scope.group
            ):
                continue
            # A placement ending on a day no longer uses the place that day.
            end = placement.end_date - timedelta(days=1) if placement.end_date else last
            mine += max(0, (min(end, last) - max(placement.start_date, first)).days + 1)
        used += mine
        people += 1 if mine else 0
    return used, people


@indicator(
    "platsutnyttjande",
    1,
    title="Platser använda mot kapacitet",
    numerator="place-days in use in the period up to today (each day a placement runs)",
    denominator="capacity times days in the period up to today; for a partner, the places its "
    "agreements offer in the programme",
    dimensions=(Dimension.PROGRAMME, Dimension.PARTNER),
)
def platsutnyttjande(journeys: Sequence[Journey], ctx: Context, scope: Scope) -> Value:
    """Places used against capacity: the average share of the places that were in use. A
    programme that planned 90 places and kept 45 busy on average used 50 %."""
    used, people = _place_days(journeys, ctx, scope)
    days = max(0, (ctx.last_day - ctx.period_start).days + 1)
    places = (
        ctx.places_by_partner.get(scope.group or "", 0)
        if scope.dimension is Dimension.PARTNER
        else ctx.programme.capacity
    )
    available = places * days
    return Value(
        people=people,
        numerator=used,
        denominator=available or None,
        value=used / available if available else None,
    )


@indicator(
    "dagar_remiss_till_placering",
    1,
    dated=at_referral,
    title="Dagar från remiss till första placering (median)",
    numerator="the median of the days from referral to the first placement's start",
    denominator="participants referred in the period who have been placed",
    unit="days",
    higher_is_better=False,
)
def dagar_remiss_till_placering(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """How long people wait: the median number of calendar days from the referral date to the
    start of the first placement. Those still waiting are not in it (see the funnel)."""
    waits = [
        (j.first_placement - j.referral_date).days
        for j in _reached(journeys, ctx)
        if j.first_placement is not None and j.referral_date is not None
    ]
    return Value(people=len(waits), value=float(statistics.median(waits)) if waits else None)


def _retention(journeys: Sequence[Journey], ctx: Context, days: int) -> Value:
    base = [
        j
        for j in _reached(journeys, ctx)
        if j.first_placement is not None and j.first_placement + timedelta(days=days) <= ctx.as_of
    ]
    return _share(
        base,
        (
            j
            for j in base
            if j.first_placement is not None
            and j.in_placement_on(j.first_placement + timedelta(days=days))
        ),
    )


@indicator(
    "kvar_i_placering_90_dagar",
    1,
    dated=at_referral,
    title="Kvar i placering efter 90 dagar",
    numerator="of the denominator, those in a placement on the 90th day after their first "
    "placement started",
    denominator="participants referred in the period whose first placement started at least "
    "90 days before today",
)
def kvar_90(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Whether placements hold: the share still in a placement 90 days after the first one
    began. Between two placements a participant is not in placement."""
    return _retention(journeys, ctx, 90)


@indicator(
    "kvar_i_placering_180_dagar",
    1,
    dated=at_referral,
    title="Kvar i placering efter 180 dagar",
    numerator="of the denominator, those in a placement on the 180th day after their first "
    "placement started",
    denominator="participants referred in the period whose first placement started at least "
    "180 days before today",
)
def kvar_180(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """As at 90 days, at 180 days."""
    return _retention(journeys, ctx, 180)


def _still_in_work(journeys: Sequence[Journey], ctx: Context, point: FollowUpPoint) -> Value:
    base = [j for j in _followed_up(journeys, ctx, point) if j.left_for_work]
    return _share(base, (j for j in base if _status(j, point) in WORK))


@indicator(
    "kvar_i_arbete_3_manader",
    1,
    title="Kvar i arbete 3 månader efter avslut",
    numerator="of the denominator, those whose 3-month follow-up says work (unsubsidised or "
    "subsidised)",
    denominator="participants who left for work in the period (work at exit, or a placement "
    "ended till_arbete) and whose 3-month follow-up has fallen due",
    dimensions=(*ALL_DIMENSIONS, Dimension.SUPPORT),
)
def kvar_i_arbete_3(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Whether work holds (Helsingborg's lesson): the share of those who left for work still in
    work three months on. Broken down by support: med_stod where a support task was opened
    after the exit (a check-in answered behover_stod), utan_stod otherwise. An unanswered
    follow-up counts as not in work."""
    return _still_in_work(journeys, ctx, FollowUpPoint.MONTHS_3)


@indicator(
    "kvar_i_arbete_6_manader",
    1,
    title="Kvar i arbete 6 månader efter avslut",
    numerator="of the denominator, those whose 6-month follow-up says work (unsubsidised or "
    "subsidised)",
    denominator="participants who left for work in the period (work at exit, or a placement "
    "ended till_arbete) and whose 6-month follow-up has fallen due",
    dimensions=(*ALL_DIMENSIONS, Dimension.SUPPORT),
)
def kvar_i_arbete_6(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """As at three months, at six."""
    return _still_in_work(journeys, ctx, FollowUpPoint.MONTHS_6)


@indicator(
    "timmar_okade",
    1,
    dated=at_first_start,
    title="Timmar som ökat",
    numerator="of the denominator, those whose weekly hours later rose by at least the "
    "programme's hours_step_up (default 10) above those of their first placement's start",
    denominator="participants whose first placement started in the period with its weekly "
    "hours known",
)
def timmar_okade(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Hours stepping up, as Helsingborg's participants go from a few hours a week to
    arbetsträning and on: each start and each change of hours counts, up to the as-of day."""
    step = ctx.programme.hours_step_up
    base = [
        j
        for j in journeys
        if j.first_placement is not None
        and ctx.period_start <= j.first_placement <= ctx.last_day
        and j.hours
        and j.hours[0][0] == j.first_placement
    ]
    return _share(
        base,
        (
            j
            for j in base
            if max(h for day, h in j.hours if day <= ctx.as_of) - j.hours[0][1] >= step
        ),
    )


# Ett steg närmare egen försörjning: where a person stands, from furthest to nearest, before
# and after, as SUS records a participant's situation at entry and at exit.
_LADDER_AT_ENTRY: dict[LabourMarketStatus, int] = {
    LabourMarketStatus.INACTIVE: 0,
    LabourMarketStatus.LONG_TERM_UNEMPLOYED: 1,
    LabourMarketStatus.UNEMPLOYED: 1,
    LabourMarketStatus.EMPLOYED: 4,
}
_LADDER_AT_EXIT: dict[OutcomeStatus, int] = {
    OutcomeStatus.JOB_SEEKING: 1,
    OutcomeStatus.PRAKTIK: 2,
    OutcomeStatus.STUDIES: 3,
    OutcomeStatus.SUBSIDISED_WORK: 3,
    OutcomeStatus.UNSUBSIDISED_WORK: 4,
}


def distance_travelled(journey: Journey) -> int | None:
    """Steps along the ladder from entry to exit; None where either end is not known (an exit
    sick, on parental leave, moved, or without an answer has no place on it)."""
    entry = (
        _LADDER_AT_ENTRY.get(journey.labour_market_status) if journey.labour_market_status else None
    )
    status = journey.status_at_exit
    exit_ = _LADDER_AT_EXIT.get(status) if status else None
    if entry is None or exit_ is None:
        return None
    return exit_ - entry


@indicator(
    "ett_steg_narmare",
    1,
    title="Ett steg närmare egen försörjning",
    numerator="of the denominator, those whose status at exit stands higher on the ladder than "
    "their status at entry (outside the labour force < job seeking < praktik or arbetsträning "
    "< studies or subsidised work < unsubsidised work)",
    denominator="participants who exited in the period whose labour-market status at entry is "
    "known (an exit without a status on the ladder counts as no step)",
)
def ett_steg_narmare(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Distance travelled: a step closer to self-sufficiency, whether or not it is all the way,
    from the status the referral gave at entry to the status at exit."""
    base = [j for j in _exits(journeys, ctx) if j.labour_market_status is not None]
    return _share(base, (j for j in base if (distance_travelled(j) or 0) > 0))


@indicator(
    "steg_enligt_plan",
    1,
    title="Steg genomförda enligt plan",
    numerator="steps of their individual plans completed (a placement step whose placement "
    "ended completed or in work or studies; any other step the caseworker recorded genomfort)",
    denominator="steps planned in the latest revision of the plans of participants with a plan "
    "who exited in the period (a step struck out of the plan is not planned)",
)
def steg_enligt_plan(journeys: Sequence[Journey], ctx: Context, _: Scope) -> Value:
    """Steps completed against plan: how much of the path the caseworker and the participant
    set out was walked, over everyone who left with a plan."""
    base = [j for j in _exits(journeys, ctx) if j.plan_steps]
    done = sum(j.steps_against_plan[0] for j in base)
    planned = sum(j.steps_against_plan[1] for j in base)
    return Value(
        people=len(base),
        numerator=done,
        denominator=planned,
        value=done / planned if planned else None,
    )


# --- evaluation with breakdowns and suppression --------------------------------------------


@dataclass(frozen=True)
class Cell:
    group: str
    value: Value
    suppressed: bool


@dataclass(frozen=True)
class IndicatorResult:
    indicator: Indicator
    total: Cell
    goal: float | None
    breakdown: Mapping[Dimension, tuple[Cell, ...]]

    @property
    def goal_met(self) -> bool | None:
        value = self.total.value.value
        if self.total.suppressed or value is None or self.goal is None:
            return None
        return value >= self.goal if self.indicator.higher_is_better else value <= self.goal


def is_small(people: int) -> bool:
    return 0 < people < MIN_GROUP_SIZE


def protect_line(counts: Mapping[str, int], suppressed: set[str]) -> set[str]:
    """Secondary suppression along one line of figures that add up (groups and their total):
    while exactly one figure is hidden it could be derived from the others, so hide the next
    smallest non-zero one as well."""
    hidden = set(suppressed)
    while True:
        if len(hidden & {k for k, n in counts.items() if n > 0}) != 1:
            return hidden
        candidates = sorted((n, k) for k, n in counts.items() if n > 0 and k not in hidden)
        if not candidates:
            return hidden
        hidden.add(candidates[0][1])


def goal_of(definition: Indicator, programme: ProgrammeDefined) -> float | None:
    """The programme's goal on this indicator: set for this version, for the indicator, or the
    definition's own (sysselsättning's goal_sysselsattning, the plan)."""
    goals = programme.goals
    if definition.name in goals:
        return goals[definition.name]
    if definition.key in goals:
        return goals[definition.key]
    return definition.goal(programme)


def evaluate(
    definition: Indicator,
    journeys: Sequence[Journey],
    ctx: Context,
    dimensions: Iterable[Dimension] | None = None,
) -> IndicatorResult:
    """The indicator for the programme and each group of each dimension, small groups hidden."""
    enrolled = [
        j
        for j in journeys
        if j.enrolled
        and j.programme_id == ctx.programme.programme_id
        and not (j.exited and j.left_because in definition.excludes)
    ]
    total_value = definition.compute(enrolled, ctx, WHOLE)
    total = Cell("total", total_value, is_small(total_value.people))
    breakdown: dict[Dimension, tuple[Cell, ...]] = {}
    for dimension in dimensions if dimensions is not None else definition.dimensions:
        if dimension not in definition.dimensions or dimension is Dimension.PROGRAMME:
            continue
        members: dict[str, list[Journey]] = {}
        for journey in enrolled:
            for group in groups_of(journey, dimension, definition.dated(journey, ctx)):
                members.setdefault(group, []).append(journey)
        values = {
            group: definition.compute(people, ctx, Scope(dimension, group))
            for group, people in sorted(members.items())
        }
        if dimension is Dimension.PARTNER:
            for partner in sorted(set(ctx.places_by_partner) - set(values)):
                values[partner] = definition.compute([], ctx, Scope(dimension, partner))
        hidden = {group for group, value in values.items() if is_small(value.people)}
        if dimension in PARTITIONS:
            counts = {group: value.people for group, value in values.items()}
            hidden = protect_line({**counts, "total": total_value.people}, hidden) - {"total"}
        breakdown[dimension] = tuple(
            Cell(group, value, group in hidden) for group, value in values.items()
        )
    return IndicatorResult(
        indicator=definition,
        total=total,
        goal=goal_of(definition, ctx.programme),
        breakdown=breakdown,
    )


def evaluate_all(
    journeys: Sequence[Journey],
    ctx: Context,
    definitions: Iterable[Indicator] | None = None,
) -> list[IndicatorResult]:
    return [evaluate(d, journeys, ctx) for d in (definitions or current())]
