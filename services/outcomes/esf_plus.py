"""The ESF+ common indicators for participants (Regulation (EU) 2021/1057, Annex I), as counts by
gender: women, men, non-binary persons, and those whose gender is not known.

Output indicators count the participants who entered the programme in the period; result
indicators those who left it in the period. A person who left and returned to the same
programme is one participant (the Commission's guidance: counted once, with the entry facts of
the first participation and the results of the final exit). "Upon leaving" is the situation
within four weeks of leaving: the answer at four weeks where there is one, else at exit.

Two of the Annex's result indicators need facts Insats does not hold, and are listed as not
computed rather than as zero: a qualification gained upon leaving, and an improved labour-market
situation (for those employed at entry) six months after leaving.

Every count of 1-4 people is hidden, and where one hidden count of a row could be derived from
the row's total, the next smallest is hidden too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.outcomes.domain import WORK, Journey
from services.outcomes.indicators import Context, is_small, protect_line
from shared.contracts.vocabulary import (
    EducationLevel,
    FollowUpPoint,
    Gender,
    LabourMarketStatus,
    OutcomeStatus,
)

TOTAL = "totalt"
GENDERS: tuple[str, ...] = tuple(g.value for g in Gender)
COLUMNS: tuple[str, ...] = (*GENDERS, TOTAL)
UNEMPLOYED = frozenset({LabourMarketStatus.UNEMPLOYED, LabourMarketStatus.LONG_TERM_UNEMPLOYED})


@dataclass(frozen=True)
class EsfPlusRow:
    kind: str  # "utfall" (output) or "resultat" (result)
    indicator: str
    counts: Mapping[str, int] | None  # by COLUMNS; None: not computed
    hidden: frozenset[str] = frozenset()
    note: str = ""


Test = Callable[[Journey], bool]


def _upon_leaving(journey: Journey) -> OutcomeStatus | None:
    for point in (FollowUpPoint.WEEKS_4, FollowUpPoint.AT_EXIT):
        if (outcome := journey.outcomes.get(point)) is not None:
            return outcome.status
    return None


def _six_months_after(journey: Journey) -> OutcomeStatus | None:
    outcome = journey.outcomes.get(FollowUpPoint.MONTHS_6)
    return outcome.status if outcome else None


OUTPUTS: tuple[tuple[str, Test], ...] = (
    ("deltagare totalt", lambda j: True),
    (
        "arbetslösa, inklusive långtidsarbetslösa",
        lambda j: j.labour_market_status in UNEMPLOYED,
    ),
    (
        "långtidsarbetslösa",
        lambda j: j.labour_market_status is LabourMarketStatus.LONG_TERM_UNEMPLOYED,
    ),
    ("utanför arbetskraften", lambda j: j.labour_market_status is LabourMarketStatus.INACTIVE),
    (
        "sysselsatta, inklusive egenföretagare",
        lambda j: j.labour_market_status is LabourMarketStatus.EMPLOYED,
    ),
    ("arbetsmarknadsstatus ej uppgiven", lambda j: j.labour_market_status is None),
    ("under 18 år", lambda j: j.age_at_referral is not None and j.age_at_referral < 18),
    (
        "18-29 år",
        lambda j: j.age_at_referral is not None and 18 <= j.age_at_referral <= 29,
    ),
    ("55 år och äldre", lambda j: j.age_at_referral is not None and j.age_at_referral >= 55),
    (
        "högst förgymnasial utbildning (ISCED 0-2)",
        lambda j: j.education_level is EducationLevel.ISCED_0_2,
    ),
    (
        "gymnasial eller eftergymnasial icke-tertiär utbildning (ISCED 3-4)",
        lambda j: j.education_level is EducationLevel.ISCED_3_4,
    ),
    ("tertiär utbildning (ISCED 5-8)", lambda j: j.education_level is EducationLevel.ISCED_5_8),
    ("utbildningsnivå ej uppgiven", lambda j: j.education_level is None),
)

RESULTS: tuple[tuple[str, Test], ...] = (
    ("avslutade deltagare totalt", lambda j: True),
    (
        "arbetssökande vid avslut",
        lambda j: _upon_leaving(j) is OutcomeStatus.JOB_SEEKING,
    ),
    ("i utbildning vid avslut", lambda j: _upon_leaving(j) is OutcomeStatus.STUDIES),
    (
        "i arbete, inklusive egenföretagande, vid avslut",
        lambda j: _upon_leaving(j) in WORK,
    ),
    (
        "i arbete, inklusive egenföretagande, sex månader efter avslut",
        lambda j: _six_months_after(j) in WORK,
    ),
)

NOT_COMPUTED: tuple[tuple[str, str], ...] = (
    (
        "fått en kvalifikation vid avslut",
        "ej beräknat: Insats tar inte emot uppgift om kvalifikation",
    ),
    (
        "förbättrad arbetsmarknadssituation sex månader efter avslut",
        "ej beräknat: Insats tar inte emot uppgift om anställningens art före och efter",
    ),
)


def _first_entries(journeys: Sequence[Journey]) -> list[Journey]:
    """One journey per person: their first participation in the programme."""
    first: dict[str, Journey] = {}
    for journey in sorted(journeys, key=lambda j: j.participation):
        first.setdefault(journey.participant_id, journey)
    return list(first.values())


def _final_exits(journeys: Sequence[Journey]) -> list[Journey]:
    """One journey per person: their last participation, if it has ended."""
    last: dict[str, Journey] = {}
    for journey in sorted(journeys, key=lambda j: j.participation):
        last[journey.participant_id] = journey
    return [j for j in last.values() if j.exited]


def _row(kind: str, indicator: str, people: Iterable[Journey]) -> EsfPlusRow:
    counts = dict.fromkeys(COLUMNS, 0)
    for journey in people:
        counts[(journey.gender or Gender.UNKNOWN).value] += 1
        counts[TOTAL] += 1
    hidden = {column for column, n in counts.items() if is_small(n)}
    return EsfPlusRow(kind, indicator, counts, frozenset(protect_line(counts, hidden)))


def esf_plus_rows(journeys: Sequence[Journey], ctx: Context) -> tuple[EsfPlusRow, ...]:
    """The programme's ESF+ participant indicators for the period of `ctx`, up to its last day."""
    mine = [j for j in journeys if j.enrolled and j.programme_id == ctx.programme.programme_id]
    entered = [
        j
        for j in _first_entries(mine)
        if j.referral_date is not None and ctx.period_start <= j.referral_date <= ctx.last_day
    ]
    left = [
        j
        for j in _final_exits(mine)
        if j.exit_date is not None and ctx.period_start <= j.exit_date <= ctx.last_day
    ]
    rows = [_row("utfall", name, filter(test, entered)) for name, test in OUTPUTS]
    rows += [_row("resultat", name, filter(test, left)) for name, test in RESULTS]
    rows += [EsfPlusRow("resultat", name, None, note=note) for name, note in NOT_COMPUTED]
    return tuple(rows)
