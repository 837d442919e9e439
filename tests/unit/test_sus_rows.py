"""SUS registrations in and out, per enrolment: repeated and concurrent participations, the
occupation, income and education before and after, and the reason for leaving."""

from datetime import date

from services.outcomes.domain import Journey, Outcome
from services.outcomes.sus import sus_rows
from shared.contracts.vocabulary import (
    EducationLevel,
    ExitReason,
    FollowUpPoint,
    Gender,
    LabourMarketStatus,
    OutcomeStatus,
)

YEAR = (date(2026, 1, 1), date(2026, 12, 31))


def enrolment(programme: str, start: date, end: date | None = None, **more: object) -> Journey:
    values: dict[str, object] = {
        "programme_id": programme,
        "participant_id": "a",
        "enrolled": True,
        "gender": Gender.FEMALE,
        "age_at_referral": 34,
        "income_support": True,
        "referral_date": start,
        "exited": end is not None,
        "exit_date": end,
        "labour_market_status": LabourMarketStatus.LONG_TERM_UNEMPLOYED,
        "education_level": EducationLevel.ISCED_0_2,
    }
    values.update(more)
    return Journey(**values)  # type: ignore[arg-type]


def test_each_enrolment_is_a_registration_with_the_other_insatser_at_the_same_time() -> None:
    journeys = [
        enrolment(
            "steg",
            date(2026, 2, 1),
            date(2026, 4, 30),
            exit_reason=ExitReason.NO_CONTACT,
        ),
        enrolment(
            "steg",
            date(2026, 6, 1),
            date(2026, 9, 30),
            participation=2,
            exit_reason=ExitReason.FOUND_WORK,
            outcomes={
                FollowUpPoint.AT_EXIT: Outcome(
                    OutcomeStatus.UNSUBSIDISED_WORK, income_support=False
                )
            },
        ),
        enrolment("sfi", date(2026, 3, 15), date(2026, 7, 1)),  # alongside both
        enrolment("steg", date(2025, 1, 1), date(2025, 6, 1), participant_id="b"),  # last year
    ]
    rows = sus_rows(journeys, "steg", YEAR)
    assert [(r.participation, r.registered_in, r.registered_out, r.concurrent) for r in rows] == [
        (1, date(2026, 2, 1), date(2026, 4, 30), ("sfi",)),
        (2, date(2026, 6, 1), date(2026, 9, 30), ("sfi",)),
    ]
    first, second = rows
    assert (first.occupation_before, first.income_before, first.education_before) == (
        "aktivt_arbetssokande",
        "forsorjningsstod",
        "forgymnasial",
    )
    assert (first.occupation_after, first.income_after, first.reason) == ("", "", "ingen_kontakt")
    assert (second.occupation_after, second.income_after, second.reason) == (
        "forvarvsarbete",
        "lon",
        "fatt_arbete",
    )
