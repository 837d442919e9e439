from datetime import date

import pytest

from services.outcomes.domain import (
    FollowUp,
    add_months,
    due_date,
    falls_due,
    follow_up_schedule,
    is_business_day,
    is_overdue,
    next_business_day,
)
from shared.contracts.vocabulary import FollowUpPoint

ALL = list(FollowUpPoint)


def test_a_friday_exit_before_easter_is_followed_up_after_the_easter_holidays() -> None:
    # 6 March 2026 is a Friday. Four weeks on is Good Friday (3 April); then the weekend and
    # Easter Monday (6 April): the first business day is Tuesday 7 April.
    schedule = follow_up_schedule(date(2026, 3, 6))
    assert schedule == {
        FollowUpPoint.AT_EXIT: date(2026, 3, 6),
        FollowUpPoint.WEEKS_4: date(2026, 4, 7),
        # 6 June is Saturday and the National Day: Monday 8 June.
        FollowUpPoint.MONTHS_3: date(2026, 6, 8),
        # 6 September 2026 is a Sunday.
        FollowUpPoint.MONTHS_6: date(2026, 9, 7),
        # 6 March 2027 is a Saturday.
        FollowUpPoint.MONTHS_12: date(2027, 3, 8),
    }


def test_months_are_counted_to_the_same_day_or_the_last_day_of_a_shorter_month() -> None:
    assert add_months(date(2026, 8, 31), 3) == date(2026, 11, 30)
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 11, 15), 2) == date(2027, 1, 15)
    # 28 February 2027 is a Sunday: the 6-month follow-up falls due on Monday 1 March.
    assert due_date(date(2026, 8, 31), FollowUpPoint.MONTHS_6) == date(2027, 3, 1)


def test_christmas_and_the_eves_are_not_business_days() -> None:
    # 27 November + 4 weeks = Christmas Day (Friday) -> Monday 28 December.
    assert due_date(date(2026, 11, 27), FollowUpPoint.WEEKS_4) == date(2026, 12, 28)
    assert not is_business_day(date(2026, 12, 24))
    assert not is_business_day(date(2026, 12, 31))
    assert not is_business_day(date(2026, 6, 19))  # midsummer eve 2026
    assert not is_business_day(date(2026, 5, 14))  # Ascension Day 2026
    assert is_business_day(date(2026, 6, 18))
    assert next_business_day(date(2026, 12, 31)) == date(2027, 1, 4)


def _follow_up(point: FollowUpPoint, due: date, **flags: bool) -> FollowUp:
    return FollowUp(
        programme_id="kalmar",
        participant_id="p1",
        point=point,
        municipality="0880",
        exit_date=date(2026, 3, 6),
        due_date=due,
        **flags,
    )


def test_a_follow_up_falls_due_on_its_due_date_and_only_once() -> None:
    due = _follow_up(FollowUpPoint.MONTHS_3, date(2026, 6, 8))
    assert not falls_due(due, date(2026, 6, 7), ALL)
    assert falls_due(due, date(2026, 6, 8), ALL)
    announced = _follow_up(FollowUpPoint.MONTHS_3, date(2026, 6, 8), emitted=True)
    assert not falls_due(announced, date(2026, 7, 1), ALL)


def test_an_answered_follow_up_never_falls_due_nor_is_overdue() -> None:
    answered = _follow_up(FollowUpPoint.MONTHS_3, date(2026, 6, 8), answered=True)
    assert not falls_due(answered, date(2026, 7, 1), ALL)
    assert not is_overdue(answered, date(2026, 7, 1), ALL)


def test_a_follow_up_is_overdue_once_its_due_date_has_passed_without_an_answer() -> None:
    announced = _follow_up(FollowUpPoint.MONTHS_3, date(2026, 6, 8), emitted=True)
    assert not is_overdue(announced, date(2026, 6, 8), ALL)
    assert is_overdue(announced, date(2026, 6, 9), ALL)


@pytest.mark.parametrize("check", [falls_due, is_overdue])
def test_points_the_programme_does_not_ask_for_are_neither_due_nor_overdue(check: object) -> None:
    follow_up = _follow_up(FollowUpPoint.MONTHS_12, date(2027, 3, 8))
    asked = [FollowUpPoint.AT_EXIT, FollowUpPoint.MONTHS_6]
    assert callable(check)
    assert not check(follow_up, date(2027, 4, 1), asked)
    assert check(follow_up, date(2027, 4, 1), ALL)
