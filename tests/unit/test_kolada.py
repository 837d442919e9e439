"""Kolada's municipal "resultat vid avslut": one figure a year per municipality across its
programmes, people counted once, beside each programme's, against values computed by hand."""

from dataclasses import replace
from datetime import date

from services.outcomes.domain import Journey, Outcome
from services.outcomes.kolada import ALL_PROGRAMMES, municipal_results
from shared.contracts.vocabulary import FollowUpPoint, OutcomeStatus

JOB = Outcome(
    OutcomeStatus.UNSUBSIDISED_WORK, employment_months=6, municipal_labour_market_job=False
)
CSN = Outcome(OutcomeStatus.STUDIES, studies_with_student_aid=True)
OSA = Outcome(OutcomeStatus.SUBSIDISED_WORK, employment_months=12, municipal_labour_market_job=True)


def left(pid: str, programme: str, on: date, outcome: Outcome | None, n: int = 1) -> Journey:
    return Journey(
        programme_id=programme,
        participant_id=pid,
        enrolled=True,
        participation=n,
        municipality="0880",
        exited=True,
        exit_date=on,
        outcomes={FollowUpPoint.AT_EXIT: outcome} if outcome else {},
    )


def test_each_person_counts_once_a_year_by_their_last_exit_where_they_lived_then() -> None:
    journeys = [
        left("a", "x", date(2026, 3, 1), JOB),
        left("a", "x", date(2026, 10, 1), None, n=2),  # returned, left again: no result
        left("b", "x", date(2026, 4, 1), CSN),
        left("c", "y", date(2026, 5, 1), None),
        left("d", "x", date(2026, 5, 1), OSA),  # a municipal labour-market job: not a result
        left("d", "y", date(2026, 11, 1), JOB),
        left("e", "x", date(2025, 12, 31), JOB),  # another year
        replace(
            left("f", "x", date(2026, 8, 1), JOB),
            municipality="0881",
            moves=((date(2026, 6, 1), "0880", "0881"),),
        ),
        replace(left("g", "x", date(2026, 2, 1), JOB), enrolled=False),
    ]
    rows = {
        (r.municipality, r.scope): (r.exited, r.results) for r in municipal_results(journeys, 2026)
    }
    assert rows == {
        ("0880", ALL_PROGRAMMES): (4, 2),  # a (last: none), b, c (none), d (last: job)
        ("0880", "x"): (4, 2),  # a twice (one result), b, d (OSA)
        ("0880", "y"): (2, 1),
        ("0881", ALL_PROGRAMMES): (1, 1),
        ("0881", "x"): (1, 1),
    }
    kalmar = next(r for r in municipal_results(journeys, 2026) if r.scope == ALL_PROGRAMMES)
    assert (kalmar.share, kalmar.suppressed) == (0.5, True)  # four people: hidden
