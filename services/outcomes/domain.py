"""Outcomes' rules: journeys, when follow-ups fall due, and how a programme does against its goals.

A journey is one participant's way through one programme, assembled from intake's, placement's
and the follow-ups' events. Indicators (indicators.py) are computed from journeys. Pure: no I/O,
no clock; "today" is always an argument.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from shared.contracts.plans import EmploymentKind, StepKind, StepStatus, placement_step_status
from shared.contracts.vocabulary import (
    SYSSELSATTNING,
    ActivityType,
    EducationLevel,
    EndReason,
    ExitReason,
    FollowUpPoint,
    Gender,
    LabourMarketStatus,
    OutcomeSource,
    OutcomeStatus,
    TargetGroup,
)

WORK: frozenset[OutcomeStatus] = frozenset(
    {OutcomeStatus.UNSUBSIDISED_WORK, OutcomeStatus.SUBSIDISED_WORK}
)
# Exits no one is followed up after.
NO_FOLLOW_UP: frozenset[ExitReason] = frozenset(
    {ExitReason.DECEASED, ExitReason.ERRONEOUS_REGISTRATION}
)
_EXIT_BY_END: dict[EndReason, ExitReason] = {
    EndReason.MOVED_AWAY: ExitReason.MOVED_AWAY,
    EndReason.SICK: ExitReason.UNAVAILABLE,
    EndReason.MOVED_TO_WORK: ExitReason.FOUND_WORK,
    EndReason.MOVED_TO_STUDIES: ExitReason.STARTED_STUDIES,
}


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str
    kind: str | None = None
    municipality: str | None = None


@dataclass(frozen=True)
class Placement:
    placement_id: str
    partner_id: str | None
    activity: ActivityType | None
    start_date: date | None
    end_date: date | None = None
    end_reason: EndReason | None = None
    plan_step_id: str | None = None


@dataclass(frozen=True)
class PlannedStep:
    """A step of the participant's plan, as its latest revision has it."""

    step_id: str
    kind: StepKind
    status: StepStatus
    employment: EmploymentKind | None = None
    started_on: date | None = None
    # A subsidised employment's decision, employer (a partner, if one) and the share of the wage
    # the subsidy pays: what a funder asks of an OSA or a lönebidrag, and no person's data.
    decided_on: date | None = None
    employer_id: str | None = None
    wage_share: float | None = None


@dataclass(frozen=True)
class Outcome:
    """One follow-up answer, with the details some indicators need."""

    status: OutcomeStatus
    income_support: bool | None = None
    observed_on: date | None = None
    source: OutcomeSource | None = None
    employment_months: float | None = None
    municipal_labour_market_job: bool | None = None
    studies_with_student_aid: bool | None = None


@dataclass(frozen=True)
class Journey:
    programme_id: str
    participant_id: str
    enrolled: bool
    # A person who left and was referred again has a journey per enrolment: 1, 2, ...
    participation: int = 1
    municipality: str | None = None
    gender: Gender | None = None
    age_at_referral: int | None = None
    income_support: bool | None = None
    target_groups: frozenset[TargetGroup] = frozenset()
    referral_date: date | None = None
    first_placement: date | None = None
    exited: bool = False
    exit_date: date | None = None
    # Why the journey ended: as the caseworker recorded it, or, for an exit with a placement's
    # end, that end's reason.
    exit_reason: ExitReason | None = None
    exit_end_reason: EndReason | None = None
    placements: tuple[Placement, ...] = ()
    outcomes: Mapping[FollowUpPoint, Outcome] = field(default_factory=dict)
    # Moves between municipalities of the programme: (first day in the new one, from, to), in
    # date order. `municipality` is the home municipality after the last of them.
    moves: tuple[tuple[date, str, str], ...] = ()
    # At entry, for ESF+: where the person stood on the labour market, and their education.
    labour_market_status: LabourMarketStatus | None = None
    education_level: EducationLevel | None = None
    # The days support tasks were opened for the participant (placement's
    # insats.support-task.opened.v1), in date order.
    support_tasks: tuple[date, ...] = ()
    # Weekly hours as they were set: at each placement's start and each change, in date order.
    hours: tuple[tuple[date, int], ...] = ()
    # The steps of the individual plan's latest revision, in the plan's order.
    plan_steps: tuple[PlannedStep, ...] = ()

    def step_status(self, step: PlannedStep) -> StepStatus:
        """A placement step stands as its placement ended (the plan's revisions do not say);
        any other step as the caseworker recorded it."""
        if step.kind is StepKind.PLACEMENT and step.status is not StepStatus.CANCELLED:
            ended = [
                p.end_reason
                for p in self.placements
                if p.plan_step_id == step.step_id and p.end_reason is not None
            ]
            started = any(p.plan_step_id == step.step_id for p in self.placements)
            if ended:
                return placement_step_status(ended[-1])
            return StepStatus.ONGOING if started else StepStatus.PLANNED
        return step.status

    @property
    def steps_against_plan(self) -> tuple[int, int]:
        """Steps completed, of the steps planned (those struck out are not planned)."""
        planned = [s for s in self.plan_steps if s.status is not StepStatus.CANCELLED]
        done = sum(self.step_status(s) is StepStatus.COMPLETED for s in planned)
        return done, len(planned)

    @property
    def subsidised_employments(self) -> tuple[PlannedStep, ...]:
        """The plan's employments (OSA, lönebidrag ...) that have begun."""
        return tuple(
            s
            for s in self.plan_steps
            if s.kind is StepKind.EMPLOYMENT
            and s.status in {StepStatus.ONGOING, StepStatus.COMPLETED, StepStatus.INTERRUPTED}
        )

    @property
    def supported_after_exit(self) -> bool:
        """Whether someone acted on a need for support after the person left: a support task
        opened on or after the exit (a check-in answered behover_stod)."""
        return self.exit_date is not None and any(d >= self.exit_date for d in self.support_tasks)

    @property
    def left_for_work(self) -> bool:
        return self.status_at_exit in WORK or self.exit_end_reason is EndReason.MOVED_TO_WORK

    def home_on(self, day: date) -> str | None:
        """The home municipality on `day`: before a move, the one moved from."""
        for moved_on, moved_from, _ in self.moves:
            if day < moved_on:
                return moved_from
        return self.municipality

    @property
    def home_for_figures(self) -> str | None:
        """Whose figure the journey is in: its home municipality at exit, or today's while it
        goes on. A person who moved counts where they were when they left."""
        return self.home_on(self.exit_date) if self.exit_date else self.municipality

    @property
    def left_because(self) -> ExitReason | None:
        """Why the person left, in the caseworker's terms: the exit's reason, or for a journey
        that ended with a placement, the reason that placement's end implies where it implies
        one the definitions exclude (moved away, sickness)."""
        if self.exit_reason is not None:
            return self.exit_reason
        return _EXIT_BY_END.get(self.exit_end_reason) if self.exit_end_reason else None

    @property
    def status_at_exit(self) -> OutcomeStatus | None:
        outcome = self.outcomes.get(FollowUpPoint.AT_EXIT)
        return outcome.status if outcome else None

    def in_placement_on(self, day: date) -> bool:
        return any(
            p.start_date is not None
            and p.start_date <= day
            and (p.end_date is None or day < p.end_date)
            for p in self.placements
        )


def in_sysselsattning(status: OutcomeStatus) -> bool:
    return status in SYSSELSATTNING


# --- follow-ups ----------------------------------------------------------------------------


def _easter_sunday(year: int) -> date:
    """The Gregorian computus (the anonymous algorithm of Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * weekday_shift) // 433
    month = (h + weekday_shift - 7 * m + 90) // 25
    day = (h + weekday_shift - 7 * m + 33 * month + 19) % 32
    return date(year, month, day)


@functools.cache
def swedish_non_working_days(year: int) -> frozenset[date]:
    """Public holidays on weekdays, and the eves (midsummer, Christmas, New Year) on which
    municipal offices are closed, so no one is followed up on them."""
    easter = _easter_sunday(year)
    midsummer_eve = next(
        date(year, 6, d) for d in range(19, 26) if date(year, 6, d).weekday() == calendar.FRIDAY
    )
    return frozenset(
        {
            date(year, 1, 1),
            date(year, 1, 6),
            easter - timedelta(days=2),
            easter + timedelta(days=1),
            date(year, 5, 1),
            easter + timedelta(days=39),
            date(year, 6, 6),
            midsummer_eve,
            date(year, 12, 24),
            date(year, 12, 25),
            date(year, 12, 26),
            date(year, 12, 31),
        }
    )


def is_business_day(day: date) -> bool:
    return day.weekday() < calendar.SATURDAY and day not in swedish_non_working_days(day.year)


def next_business_day(day: date) -> date:
    """`day` itself if it is a business day, else the first one after it."""
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, or that month's last day if it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_date(exit_date: date, point: FollowUpPoint) -> date:
    """When a follow-up falls due: the interval from the exit date, moved to a business day."""
    raw = {
        FollowUpPoint.AT_EXIT: exit_date,
        FollowUpPoint.WEEKS_4: exit_date + timedelta(weeks=4),
        FollowUpPoint.MONTHS_3: add_months(exit_date, 3),
        FollowUpPoint.MONTHS_6: add_months(exit_date, 6),
        FollowUpPoint.MONTHS_12: add_months(exit_date, 12),
    }[point]
    return next_business_day(raw)


def follow_up_schedule(exit_date: date) -> dict[FollowUpPoint, date]:
    """Every point is scheduled at exit; the programme's choice of points is applied when they
    fall due, so a programme defined (or redefined) after the exit still decides."""
    return {point: due_date(exit_date, point) for point in FollowUpPoint}


@dataclass(frozen=True)
class FollowUp:
    programme_id: str
    participant_id: str
    point: FollowUpPoint
    municipality: str | None
    exit_date: date | None
    due_date: date | None
    emitted: bool = False
    answered: bool = False
    participation: int = 1

    @property
    def follow_up_id(self) -> str:
        return follow_up_id(self.programme_id, self.participant_id, self.point, self.participation)


def participation_key(participant_id: str, participation: int) -> str:
    """The participant's part of a journey's or follow-up's id: a first enrolment keeps the id
    it had before returns were possible, so nothing stored or announced earlier changes."""
    return participant_id if participation == 1 else f"{participant_id}#{participation}"


def follow_up_id(
    programme_id: str, participant_id: str, point: FollowUpPoint, participation: int = 1
) -> str:
    return f"{programme_id}:{participation_key(participant_id, participation)}:{point.value}"


def falls_due(follow_up: FollowUp, today: date, points: Iterable[FollowUpPoint]) -> bool:
    """A scheduled follow-up the programme asks for, not yet answered or announced, and due."""
    return (
        follow_up.due_date is not None
        and follow_up.due_date <= today
        and follow_up.point in set(points)
        and not follow_up.answered
        and not follow_up.emitted
    )


def is_overdue(follow_up: FollowUp, today: date, points: Iterable[FollowUpPoint]) -> bool:
    """Its due date has passed and no answer has come."""
    return (
        follow_up.due_date is not None
        and follow_up.due_date < today
        and follow_up.point in set(points)
        and not follow_up.answered
    )
