from datetime import date

from services.outcomes.domain import Journey, Outcome, programme_report
from shared.contracts.vocabulary import FollowUpPoint, OutcomeStatus
from tests.unit.factories import programme

EXIT = FollowUpPoint.AT_EXIT


def journey(
    pid: str, *, exited: bool = False, status: OutcomeStatus | None = None, placed: bool = True
) -> Journey:
    return Journey(
        programme_id="kalmar",
        participant_id=pid,
        enrolled=True,
        first_placement=date(2026, 2, 1) if placed else None,
        exited=exited,
        outcomes={EXIT: Outcome(status)} if status else {},
    )


def test_sysselsattning_at_exit_counts_work_studies_and_praktik_against_all_exits() -> None:
    journeys = [
        journey("a", exited=True, status=OutcomeStatus.UNSUBSIDISED_WORK),
        journey("b", exited=True, status=OutcomeStatus.SUBSIDISED_WORK),
        journey("c", exited=True, status=OutcomeStatus.STUDIES),
        journey("d", exited=True, status=OutcomeStatus.PRAKTIK),
        journey("e", exited=True, status=OutcomeStatus.JOB_SEEKING),
        journey("f", exited=True, status=None),  # no answer yet: not counted as a success
        journey("g"),  # still in the programme
        journey("h", placed=False),
    ]
    report = programme_report(
        programme(programme_id="kalmar", planned_participants=418, goal_sysselsattning=0.6),
        journeys,
        rejected_referrals=2,
    )
    # Hand-computed: 4 of 6 exits in sysselsättning = 66.7 %, above the 60 % goal.
    assert report.exited == 6
    assert report.in_sysselsattning_at_exit == 4
    assert report.sysselsattning_share == 4 / 6
    assert report.goal_met is True
    assert report.reached == 8
    assert report.referred == 10
    assert report.placed == 7
    assert report.reached_share_of_planned == 8 / 418


def test_a_programme_without_exits_has_no_share_and_no_verdict() -> None:
    report = programme_report(programme(), [journey("a")], rejected_referrals=0)
    assert report.sysselsattning_share is None
    assert report.goal_met is None


def test_a_share_below_the_goal_is_not_met() -> None:
    journeys = [
        journey("a", exited=True, status=OutcomeStatus.STUDIES),
        journey("b", exited=True, status=OutcomeStatus.JOB_SEEKING),
    ]
    report = programme_report(programme(goal_sysselsattning=0.6), journeys, 0)
    assert report.goal_met is False
