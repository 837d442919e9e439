"""A programme at a glance, for the terminal report, the funder export and the dashboard: the
indicators, the funnel, results over time, overdue follow-ups, the funder's participant tables
and the IOP evaluation per partner. Pure: everything is computed from what the store loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from services.outcomes.domain import FollowUp, Journey, Partner, add_months, is_overdue
from services.outcomes.esf_plus import EsfPlusRow, esf_plus_rows
from services.outcomes.indicators import (
    WORK_OR_STUDIES,
    Cell,
    Context,
    Dimension,
    Indicator,
    IndicatorResult,
    Value,
    evaluate,
    evaluate_all,
    is_small,
    lookup,
    protect_line,
)
from services.outcomes.money import Money, money
from shared.contracts.municipal import (
    AgreementSigned,
    Contribution,
    ContributionDelivered,
    CostReported,
    ProgrammeDefined,
)
from shared.contracts.vocabulary import FollowUpPoint, Gender

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("under 25", 0, 24),
    ("25-54", 25, 54),
    ("55+", 55, 200),
)
TOTAL = "totalt"


def age_band(age: int | None) -> str:
    if age is None:
        return "okand"
    return next(label for label, low, high in AGE_BANDS if low <= age <= high)


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int
    suppressed: bool


@dataclass(frozen=True)
class CountTable:
    """People by gender (rows) and age band (columns), with totals and hidden small cells."""

    title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    counts: Mapping[tuple[str, str], int]
    hidden: frozenset[tuple[str, str]]

    def shown(self, row: str, column: str) -> int | None:
        if (row, column) in self.hidden:
            return None
        return self.counts.get((row, column), 0)


@dataclass(frozen=True)
class PartnerEvaluation:
    partner: Partner
    agreements: tuple[AgreementSigned, ...]
    places_offered: int
    utilisation: Cell
    participants: Cell
    sysselsattning: Cell

    @property
    def contributions(self) -> tuple[Contribution, ...]:
        return tuple(c for a in self.agreements for c in a.contributions)


@dataclass(frozen=True)
class OverdueCount:
    point: FollowUpPoint
    count: int
    suppressed: bool


@dataclass(frozen=True)
class ProgrammeOverview:
    programme: ProgrammeDefined
    context: Context
    headline: IndicatorResult
    indicators: tuple[IndicatorResult, ...]
    funnel: tuple[FunnelStep, ...]
    over_time: tuple[tuple[str, Cell], ...]
    over_time_indicator: Indicator
    overdue: tuple[OverdueCount, ...]
    overdue_follow_ups: tuple[FollowUp, ...]
    started: CountTable
    exited: CountTable
    partners: tuple[PartnerEvaluation, ...]
    partner_names: Mapping[str, str] = field(default_factory=dict)
    esf_plus: tuple[EsfPlusRow, ...] = ()
    money: Money | None = None

    def result(self, name: str) -> IndicatorResult:
        """By `key@version`, or by `key` for the version this overview evaluated."""
        return next(r for r in self.indicators if name in {r.indicator.name, r.indicator.key})


def places_by_partner(agreements: Sequence[AgreementSigned], programme_id: str) -> dict[str, int]:
    places: dict[str, int] = {}
    for agreement in agreements:
        if agreement.programme_id == programme_id:
            places[agreement.partner_id] = places.get(agreement.partner_id, 0) + agreement.places
    return places


def funnel(journeys: Sequence[Journey], rejected: int, ctx: Context) -> tuple[FunnelStep, ...]:
    """Referred -> enrolled -> placed -> exited -> in work or studies at exit. Referred counts
    every referral to the programme, rejected ones included, whatever their date."""
    enrolled = [
        j
        for j in journeys
        if j.enrolled
        and j.referral_date is not None
        and ctx.period_start <= j.referral_date <= ctx.last_day
    ]
    placed = [j for j in enrolled if j.first_placement is not None]
    exited = [j for j in placed if j.exited and j.exit_date and j.exit_date <= ctx.last_day]
    working = [j for j in exited if j.status_at_exit in WORK_OR_STUDIES]
    steps = (
        ("referred", "remitterade", len(enrolled) + rejected),
        ("enrolled", "inskrivna", len(enrolled)),
        ("placed", "placerade", len(placed)),
        ("exited", "avslutade", len(exited)),
        ("work_or_studies", "i arbete eller studier vid avslut", len(working)),
    )
    return tuple(FunnelStep(key, label, n, is_small(n)) for key, label, n in steps)


def months_between(first: date, last: date) -> list[tuple[date, date]]:
    months = []
    start = first.replace(day=1)
    while start <= last:
        end = add_months(start, 1).replace(day=1)
        months.append((max(start, first), min(date.fromordinal(end.toordinal() - 1), last)))
        start = end
    return months


def over_time(
    definition: Indicator, journeys: Sequence[Journey], ctx: Context
) -> tuple[tuple[str, Cell], ...]:
    """The indicator month by month over the period (each month its own period)."""
    points = []
    for first, last in months_between(ctx.period_start, ctx.last_day):
        month = replace(ctx, period_start=first, period_end=last)
        result = evaluate(definition, journeys, month, dimensions=())
        points.append((first.strftime("%Y-%m"), result.total))
    return tuple(points)


def protect_table(counts: Mapping[tuple[str, str], int]) -> frozenset[tuple[str, str]]:
    """Hide cells of 1-4 people, then more cells until no hidden one can be derived from its
    row or column and their totals."""
    hidden = {cell for cell, n in counts.items() if is_small(n)}
    rows = {r for r, _ in counts}
    columns = {c for _, c in counts}
    while True:
        before = set(hidden)
        for row in rows:
            line = {c: counts.get((row, c), 0) for c in columns}
            hidden |= {(row, c) for c in protect_line(line, {c for r, c in hidden if r == row})}
        for column in columns:
            line = {r: counts.get((r, column), 0) for r in rows}
            hidden |= {
                (r, column) for r in protect_line(line, {r for r, c in hidden if c == column})
            }
        if hidden == before:
            return frozenset(hidden)


def count_table(title: str, journeys: Sequence[Journey]) -> CountTable:
    genders = tuple(g.value for g in Gender)
    bands = tuple(label for label, _, _ in AGE_BANDS)
    counts: dict[tuple[str, str], int] = {}
    for journey in journeys:
        gender = journey.gender.value if journey.gender else Gender.UNKNOWN.value
        band = age_band(journey.age_at_referral)
        for cell in ((gender, band), (gender, TOTAL), (TOTAL, band), (TOTAL, TOTAL)):
            counts[cell] = counts.get(cell, 0) + 1
    rows = (*genders, TOTAL)
    columns = (*bands, TOTAL)
    full = {(r, c): counts.get((r, c), 0) for r in rows for c in columns}
    return CountTable(title, rows, columns, full, protect_table(full))


def partner_evaluations(
    journeys: Sequence[Journey],
    ctx: Context,
    partners: Mapping[str, Partner],
    agreements: Sequence[AgreementSigned],
) -> tuple[PartnerEvaluation, ...]:
    """What an IOP's parties evaluate together: places offered and used, what each party put
    in, and how its participants did. Never broken down by target group: special-category data
    does not go to partners."""
    mine = [a for a in agreements if a.programme_id == ctx.programme.programme_id]
    utilisation = evaluate(lookup("platsutnyttjande"), journeys, ctx, [Dimension.PARTNER])
    syss = evaluate(lookup("sysselsattning_vid_avslut"), journeys, ctx, [Dimension.PARTNER])
    reached = evaluate(lookup("deltagare_mot_plan"), journeys, ctx, [Dimension.PARTNER])
    evaluations = []
    for partner_id in sorted({a.partner_id for a in mine}):

        def cell(result: IndicatorResult, partner: str = partner_id) -> Cell:
            cells = result.breakdown.get(Dimension.PARTNER, ())
            return next((c for c in cells if c.group == partner), Cell(partner, Value(0), False))

        evaluations.append(
            PartnerEvaluation(
                partner=partners.get(partner_id, Partner(partner_id, partner_id)),
                agreements=tuple(a for a in mine if a.partner_id == partner_id),
                places_offered=sum(a.places for a in mine if a.partner_id == partner_id),
                utilisation=cell(utilisation),
                participants=cell(reached),
                sysselsattning=cell(syss),
            )
        )
    return tuple(evaluations)


def overview(
    programme: ProgrammeDefined,
    journeys: Sequence[Journey],
    *,
    rejected: int,
    follow_ups: Sequence[FollowUp],
    partners: Mapping[str, Partner],
    agreements: Sequence[AgreementSigned],
    as_of: date,
    period: tuple[date, date] | None = None,
    definitions: Sequence[Indicator] | None = None,
    costs: Sequence[CostReported] = (),
    deliveries: Sequence[ContributionDelivered] = (),
) -> ProgrammeOverview:
    ctx = Context.for_programme(
        programme, as_of, places_by_partner(agreements, programme.programme_id), period
    )
    mine = [j for j in journeys if j.programme_id == programme.programme_id and j.enrolled]
    late = tuple(
        sorted(
            (f for f in follow_ups if is_overdue(f, as_of, programme.follow_ups)),
            key=lambda f: (f.due_date or as_of, f.participant_id),
        )
    )
    overdue = tuple(
        OverdueCount(point, n, is_small(n))
        for point in programme.follow_ups
        for n in [sum(1 for f in late if f.point is point)]
    )
    started = [
        j
        for j in mine
        if j.referral_date is not None and ctx.period_start <= j.referral_date <= ctx.last_day
    ]
    left = [
        j
        for j in mine
        if j.exited and j.exit_date is not None and ctx.period_start <= j.exit_date <= ctx.last_day
    ]
    headline = lookup("sysselsattning_vid_avslut")
    return ProgrammeOverview(
        programme=programme,
        context=ctx,
        headline=evaluate(headline, mine, ctx),
        indicators=tuple(evaluate_all(mine, ctx, definitions)),
        funnel=funnel(mine, rejected, ctx),
        over_time=over_time(headline, mine, ctx),
        over_time_indicator=headline,
        overdue=overdue,
        overdue_follow_ups=late,
        started=count_table("Deltagare som påbörjat", started),
        exited=count_table("Deltagare som avslutat", left),
        partners=partner_evaluations(mine, ctx, partners, agreements),
        partner_names={pid: p.name for pid, p in partners.items()},
        esf_plus=esf_plus_rows(mine, ctx),
        money=money(ctx, mine, agreements, costs, deliveries),
    )
