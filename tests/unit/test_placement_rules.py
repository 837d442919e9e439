from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.placement.domain import (
    AgreementPlaces,
    Changed,
    Placement,
    ProgrammeBook,
    Refusal,
    WaitingEntry,
    attendance_recorded,
    attendance_risk,
    change,
    end,
    expired,
    iop_eligibility,
    organisationsnummer_problem,
    support_check_ins,
    support_task,
    withdraw_on_exit,
)
from shared.contracts.intake import ParticipationExited
from shared.contracts.municipal import (
    AgreementKind,
    Contribution,
    ContributionKind,
    Preferences,
    PriorityRule,
    SupportPolicy,
)
from shared.contracts.partner import (
    Absence,
    AttendanceReported,
    PlacementChangeReported,
    PlacementEndReported,
)
from shared.contracts.placement import PlacementEnded
from shared.contracts.vocabulary import (
    AbsenceReason,
    ActivityType,
    EndReason,
    ExitReason,
    IopCriterion,
    PlacementAction,
    PlacementStatus,
    SupportTaskReason,
)
from shared.luhn import organisationsnummer
from tests.unit.factories import agreement, programme

DAY = date(2026, 3, 2)
ALL_MET = dict.fromkeys(IopCriterion, True)
CO_FINANCED = [
    Contribution(party="Kungsbacka kommun", kind=ContributionKind.STAFF_HOURS, amount=400),
    Contribution(
        party="Erikshjälpen", kind=ContributionKind.PREMISES, amount=120, description="butiken"
    ),
]
PARTIES = ["Kungsbacka kommun", "Erikshjälpen"]


def book(
    capacity: int = 2, places: int = 2, rule: PriorityRule = PriorityRule.INCOME_SUPPORT_FIRST
) -> ProgrammeBook:
    result = ProgrammeBook(
        "halmstad-150", programme(capacity=capacity, priority=rule), {}, 0, [], 0
    )
    result.sign(
        agreement(places=places, kind=AgreementKind.SOCIAL_CLAUSE),
        "1380",
        iop_eligibility(AgreementKind.SOCIAL_CLAUSE, {}, [], []),
    )
    return result


def entry(
    pid: str,
    *,
    income_support: bool = True,
    referred: date = DAY,
    minute: int = 0,
    prefs: Preferences | None = None,
) -> WaitingEntry:
    return WaitingEntry(
        participant_id=pid,
        programme_id="halmstad-150",
        municipality="1380",
        income_support=income_support,
        referral_date=referred,
        enrolled_at=datetime(2026, 3, 1, 9, minute, tzinfo=UTC),
        preferences=prefs or Preferences(),
    )


# --- priority and capacity -------------------------------------------------------------------


def test_income_support_recipients_are_placed_first() -> None:
    b = book(capacity=1, places=1)
    b.enqueue(entry("early-without", income_support=False, referred=date(2026, 1, 5)))
    b.enqueue(entry("later-with", income_support=True, referred=date(2026, 2, 20)))
    offers = b.allocate(DAY, "cause")
    assert [o.participant_id for o in offers] == ["later-with"]
    assert "income-support" in offers[0].decision


def test_without_the_priority_rule_the_earliest_referral_goes_first() -> None:
    b = book(capacity=1, places=1, rule=PriorityRule.REFERRAL_DATE)
    b.enqueue(entry("later-with", income_support=True, referred=date(2026, 2, 20)))
    b.enqueue(entry("early-without", income_support=False, referred=date(2026, 1, 5)))
    assert [o.participant_id for o in b.allocate(DAY, "c")] == ["early-without"]


def test_equal_priority_and_date_go_in_the_order_they_were_enrolled() -> None:
    b = book(capacity=1, places=1)
    b.enqueue(entry("second", minute=5))
    b.enqueue(entry("first", minute=1))
    assert [o.participant_id for o in b.allocate(DAY, "c")] == ["first"]


def test_a_full_programme_offers_nothing_and_keeps_the_queue() -> None:
    b = book(capacity=2, places=5)
    for n in range(4):
        b.enqueue(entry(f"p{n}", minute=n))
    assert len(b.allocate(DAY, "c")) == 2
    assert b.allocate(DAY, "again") == []
    assert (b.waiting_total, b.occupied) == (2, 2)


def test_places_are_bounded_by_the_partners_agreements_as_well_as_capacity() -> None:
    b = book(capacity=10, places=1)
    for n in range(3):
        b.enqueue(entry(f"p{n}", minute=n))
    assert len(b.allocate(DAY, "c")) == 1


def test_people_referred_before_the_programme_opens_are_offered_its_first_day() -> None:
    b = book()
    b.define(programme(capacity=2, period_start=date(2026, 4, 1)))
    b.enqueue(entry("p"))
    [offer] = b.allocate(DAY, "c")
    assert (offer.offered_on, offer.waited_days) == (date(2026, 4, 1), 30)


def test_offer_ids_are_the_same_when_the_same_input_is_handled_again() -> None:
    one, two = book(), book()
    for b in (one, two):
        b.enqueue(entry("p"))
    assert one.allocate(DAY, "same")[0].placement_id == two.allocate(DAY, "same")[0].placement_id


# --- matching --------------------------------------------------------------------------------


def _two_partners() -> ProgrammeBook:
    b = book(capacity=5, places=0)
    b.agreements.clear()
    for agreement_id, activities, municipality in (
        ("shop", [ActivityType.ARBETSTRANING], "1384"),
        ("hotel", [ActivityType.PRAKTIK], "0883"),
    ):
        b.agreements[agreement_id] = AgreementPlaces(
            agreement_id=agreement_id,
            partner_id=agreement_id,
            places=1,
            activities=activities,
            period_start=date(2026, 1, 1),
            period_end=date(2027, 1, 1),
            workplace_municipality=municipality,
            hours_per_week=30,
        )
    return b


def test_a_place_goes_to_the_first_in_line_it_suits() -> None:
    b = _two_partners()
    b.enqueue(
        entry("wants-praktik", minute=1, prefs=Preferences(activities=[ActivityType.PRAKTIK]))
    )
    b.enqueue(
        entry(
            "wants-training", minute=2, prefs=Preferences(activities=[ActivityType.ARBETSTRANING])
        )
    )
    offers = {o.participant_id: o for o in b.allocate(DAY, "c")}
    assert offers["wants-praktik"].agreement_id == "hotel"
    assert offers["wants-training"].agreement_id == "shop"


def test_someone_no_free_place_suits_keeps_their_position_while_others_are_placed() -> None:
    b = _two_partners()
    b.enqueue(
        entry("wants-coaching", minute=1, prefs=Preferences(activities=[ActivityType.COACHING]))
    )
    b.enqueue(entry("anything", minute=2))
    [offer] = [o for o in b.allocate(DAY, "c") if o.participant_id == "anything"]
    assert "1 ahead in the queue had no suitable free place" in offer.decision
    assert b.waiting[0].participant_id == "wants-coaching"


def test_a_workplace_out_of_reach_is_not_offered() -> None:
    b = _two_partners()
    b.enqueue(entry("stays-home", prefs=Preferences(municipalities=["1384"])))
    [offer] = b.allocate(DAY, "c")
    assert offer.agreement_id == "shop"


def test_hours_offered_respect_the_participants_limit() -> None:
    b = _two_partners()
    b.enqueue(entry("p", prefs=Preferences(max_hours_per_week=10)))
    assert b.allocate(DAY, "c")[0].hours_per_week == 10


def test_a_declined_agreement_is_not_offered_again() -> None:
    b = _two_partners()
    declined = replace(
        entry("p", prefs=Preferences(activities=[ActivityType.PRAKTIK])),
        declined=frozenset({"hotel"}),
    )
    b.enqueue(declined)
    assert b.allocate(DAY, "c") == []


# --- IOP partners ----------------------------------------------------------------------------


def test_an_iop_partner_meeting_every_criterion_and_co_financed_is_eligible() -> None:
    assert iop_eligibility(AgreementKind.IOP, ALL_MET, PARTIES, CO_FINANCED).ok


def test_an_unvetted_iop_partner_is_refused_naming_every_missing_criterion() -> None:
    verdict = iop_eligibility(
        AgreementKind.IOP, {IopCriterion.NON_PROFIT: True}, PARTIES, CO_FINANCED
    )
    assert not verdict.ok
    assert set(verdict.missing) == set(IopCriterion) - {IopCriterion.NON_PROFIT}


def test_a_failed_criterion_is_named_as_failed() -> None:
    vetting = {**ALL_MET, IopCriterion.NO_TAX_DEBTS: False}
    verdict = iop_eligibility(AgreementKind.IOP, vetting, PARTIES, CO_FINANCED)
    assert verdict.failed == (IopCriterion.NO_TAX_DEBTS,)


def test_a_zero_or_missing_amount_is_no_contribution() -> None:
    nothing = [
        Contribution(party="Kungsbacka kommun", kind=ContributionKind.MONEY, amount=0),
        Contribution(party="Erikshjälpen", kind=ContributionKind.PREMISES, description="butiken"),
    ]
    verdict = iop_eligibility(AgreementKind.IOP, ALL_MET, PARTIES, nothing)
    assert verdict.parties_without_contribution == ("Kungsbacka kommun", "Erikshjälpen")


def test_co_financing_goes_by_organisationsnummer_where_the_parties_are_named_by_it() -> None:
    kommun, butik = organisationsnummer("212000130"), organisationsnummer("802400111")
    paid = [
        # Spelled otherwise than in `parties`: the number is what counts.
        Contribution(
            party="Kungsbacka", party_id=kommun, kind=ContributionKind.MONEY, amount=50_000
        ),
        Contribution(
            party="Erikshjälpen Second Hand",
            party_id=butik.replace("-", ""),
            kind=ContributionKind.STAFF_HOURS,
            amount=400,
        ),
    ]
    assert iop_eligibility(AgreementKind.IOP, ALL_MET, PARTIES, paid, [kommun, butik]).ok
    # A name that matches is not enough when the numbers are given.
    by_name_only = [c.model_copy(update={"party_id": None}) for c in paid]
    verdict = iop_eligibility(AgreementKind.IOP, ALL_MET, PARTIES, by_name_only, [kommun, butik])
    assert verdict.parties_without_contribution == (kommun, butik)


def test_an_iop_without_every_partys_contribution_is_not_co_financed() -> None:
    verdict = iop_eligibility(AgreementKind.IOP, ALL_MET, PARTIES, CO_FINANCED[:1])
    assert verdict.parties_without_contribution == ("Erikshjälpen",)


def test_social_clause_contracts_need_no_iop_vetting() -> None:
    assert iop_eligibility(AgreementKind.SOCIAL_CLAUSE, {}, [], []).ok


def test_an_ineligible_agreement_offers_no_places() -> None:
    b = book()
    b.sign(
        agreement(kind=AgreementKind.IOP),
        "1384",
        iop_eligibility(AgreementKind.IOP, {}, PARTIES, CO_FINANCED),
    )
    b.enqueue(entry("p"))
    assert b.allocate(DAY, "c") == []


def test_organisationsnummer_are_checked_by_their_check_digit() -> None:
    valid = organisationsnummer("802011111")
    assert organisationsnummer_problem(valid) is None
    assert organisationsnummer_problem(valid[:-1] + str((int(valid[-1]) + 1) % 10)) is not None


# --- the lifecycle ---------------------------------------------------------------------------


def _placement(status: PlacementStatus = PlacementStatus.OFFERED, **changes: object) -> Placement:
    values: dict[str, object] = {
        "placement_id": "pl-1",
        "participant_id": "p",
        "programme_id": "halmstad-150",
        "partner_id": "erikshjalpen",
        "agreement_id": "a-1",
        "municipality": "1380",
        "activity": ActivityType.ARBETSTRANING,
        "status": status,
        "offered_on": DAY,
        "entry": entry("p"),
        "hours_per_week": 8,
    }
    values.update(changes)
    return Placement(**values)  # type: ignore[arg-type]


def _report(action: PlacementAction, on: date = DAY, **changes: object) -> PlacementChangeReported:
    return PlacementChangeReported(
        placement_id="pl-1", participant_id="p", action=action, on=on, **changes
    )


def test_an_offer_is_accepted_started_paused_resumed_and_stepped_up() -> None:
    placement: Placement = _placement()
    for action, expected in (
        (PlacementAction.ACCEPT, PlacementStatus.ACCEPTED),
        (PlacementAction.START, PlacementStatus.STARTED),
        (PlacementAction.PAUSE, PlacementStatus.PAUSED),
        (PlacementAction.RESUME, PlacementStatus.STARTED),
    ):
        result = change(placement, _report(action))
        assert isinstance(result, Changed)
        placement = result.placement
        assert placement.status is expected
    # Helsingborg: from a few hours of occupation towards arbetsträning and OSA.
    stepped = change(placement, _report(PlacementAction.CHANGE_HOURS, hours_per_week=20))
    assert isinstance(stepped, Changed)
    assert stepped.placement.hours_per_week == 20
    assert stepped.placement.start_date == DAY


def test_illegal_transitions_are_refused_with_a_reason_and_never_applied() -> None:
    offered = _placement()
    for action in (PlacementAction.START, PlacementAction.PAUSE, PlacementAction.RESUME):
        refusal = change(offered, _report(action))
        assert isinstance(refusal, Refusal)
        assert "erbjuden" in refusal.reason
    assert offered.status is PlacementStatus.OFFERED


def test_a_declined_offer_frees_its_place() -> None:
    result = change(_placement(), _report(PlacementAction.DECLINE))
    assert isinstance(result, Changed)
    assert result.frees_place


def test_only_a_started_or_paused_placement_can_end() -> None:
    report = PlacementEndReported(
        placement_id="pl-1",
        participant_id="p",
        reason=EndReason.MOVED_TO_WORK,
        end_date=date(2026, 6, 1),
    )
    assert isinstance(end(_placement(), report), Refusal)
    started = _placement(PlacementStatus.STARTED, start_date=DAY)
    assert isinstance(end(started, report), PlacementEnded)
    assert isinstance(end(_placement(PlacementStatus.ENDED, start_date=DAY), report), Refusal)


def test_an_end_before_the_start_or_for_someone_else_is_refused() -> None:
    started = _placement(PlacementStatus.STARTED, start_date=DAY)
    early = PlacementEndReported(
        placement_id="pl-1",
        participant_id="p",
        reason=EndReason.COMPLETED,
        end_date=date(2026, 1, 1),
    )
    other = PlacementEndReported(
        placement_id="pl-1",
        participant_id="q",
        reason=EndReason.COMPLETED,
        end_date=date(2026, 6, 1),
    )
    assert isinstance(end(started, early), Refusal)
    assert isinstance(end(started, other), Refusal)
    assert isinstance(end(None, other), Refusal)


# --- attendance and support ------------------------------------------------------------------


def _week(start: date, expected: float, attended: float) -> AttendanceReported:
    return AttendanceReported(
        placement_id="pl-1",
        participant_id="p",
        period_start=start,
        period_end=start + timedelta(days=6),
        expected_hours=expected,
        attended_hours=attended,
    )


def test_missed_attendance_over_the_threshold_is_a_risk() -> None:
    weeks = [_week(DAY + timedelta(days=7 * n), 20, 8) for n in range(2)]
    risk = attendance_risk(weeks, threshold=0.3)
    assert risk is not None
    assert risk.missed_share == 0.6  # hand-computed: 16 of 40 hours attended


def test_attendance_under_the_threshold_is_no_risk_and_old_weeks_do_not_count() -> None:
    old_bad = _week(DAY - timedelta(days=60), 20, 0)
    recent_good = [_week(DAY + timedelta(days=7 * n), 20, 18) for n in range(2)]
    assert attendance_risk([old_bad, *recent_good], threshold=0.3) is None


def _week_with(start: date, attended: float, *absences: tuple[AbsenceReason, float]) -> Any:
    return AttendanceReported.model_validate(
        {
            **_week(start, 20, attended).model_dump(),
            "absences": [Absence(reason=r, hours=h) for r, h in absences],
        }
    )


def test_hours_missed_sick_caring_for_a_child_or_excused_are_no_risk() -> None:
    weeks = [
        _week_with(DAY, 4, (AbsenceReason.SICK, 16)),
        _week_with(
            DAY + timedelta(days=7), 8, (AbsenceReason.CARE_OF_CHILD, 8), (AbsenceReason.EXCUSED, 4)
        ),
    ]
    assert attendance_risk(weeks, threshold=0.3) is None


def test_unexcused_absence_and_hours_given_no_reason_count_against_the_threshold() -> None:
    # Hand-computed: 28 of 40 hours missed; 8 sick, so 20 unexcused (8 given as such, 12 given
    # no reason) = 50 %, over 30 %.
    weeks = [
        _week_with(DAY, 4, (AbsenceReason.SICK, 8), (AbsenceReason.UNEXCUSED, 8)),
        _week(DAY + timedelta(days=7), 20, 8),
    ]
    risk = attendance_risk(weeks, threshold=0.3)
    assert risk is not None
    assert (risk.missed_share, risk.unexcused_share) == (0.7, 0.5)


def test_absences_for_more_hours_than_were_missed_are_refused() -> None:
    with pytest.raises(ValidationError, match="more hours than were missed"):
        _week_with(DAY, 16, (AbsenceReason.SICK, 5))


def test_the_municipality_sees_hours_by_reason_and_the_participants_confirmation() -> None:
    report = _week_with(DAY, 10, (AbsenceReason.CARE_OF_CHILD, 6)).model_copy(
        update={"participant_confirmed_on": DAY + timedelta(days=7)}
    )
    placement = _placement()
    recorded = attendance_recorded(report, placement)
    assert (recorded.care_of_child_hours, recorded.unexcused_hours, recorded.sick_hours) == (
        6,
        4,
        0,
    )
    assert recorded.participant_confirmed_on == DAY + timedelta(days=7)
    assert recorded.participant_id == placement.participant_id


def _ended_on_1_june(reason: EndReason) -> PlacementEnded:
    return PlacementEnded(
        placement_id="pl-1",
        participant_id="p",
        programme_id="x",
        partner_id="y",
        municipality="1283",
        start_date=DAY,
        end_date=date(2026, 6, 1),
        reason=reason,
        exits_programme=True,
    )


def test_leaving_for_work_or_studies_schedules_support_check_ins() -> None:
    ended = _ended_on_1_june(EndReason.MOVED_TO_WORK)
    assert [due for _, due in support_check_ins(ended)] == [
        date(2026, 6, 15),
        date(2026, 7, 1),
        date(2026, 8, 31),
    ]
    assert support_check_ins(ended.model_copy(update={"reason": EndReason.DROPPED_OUT})) == []


def test_a_programme_sets_its_check_in_days_and_which_ends_they_follow() -> None:
    ended = _ended_on_1_june(EndReason.COMPLETED)
    # A completed placement is followed up too, by default.
    assert len(support_check_ins(ended)) == 3
    helsingborg = SupportPolicy(check_in_days=[7, 90, 180], after=[EndReason.MOVED_TO_WORK])
    assert support_check_ins(ended, helsingborg) == []
    to_work = ended.model_copy(update={"reason": EndReason.MOVED_TO_WORK})
    assert support_check_ins(to_work, helsingborg) == [
        ("pl-1:stod:1", date(2026, 6, 8)),
        ("pl-1:stod:2", date(2026, 8, 30)),
        ("pl-1:stod:3", date(2026, 11, 28)),
    ]


def test_a_support_task_is_the_agreements_contacts_and_due_in_the_programmes_days() -> None:
    placement = _placement(municipal_contact="Arbetsmarknadsenheten, jobbcoach Sara")
    task = support_task(
        placement,
        SupportTaskReason.NEEDS_SUPPORT,
        "pl-1:stod:1:uppgift",
        DAY,
        SupportPolicy(task_due_days=3),
    )
    assert (task.owner, task.due_date, task.reason) == (
        "Arbetsmarknadsenheten, jobbcoach Sara",
        DAY + timedelta(days=3),
        SupportTaskReason.NEEDS_SUPPORT,
    )
    # An agreement naming no contact: the participant's caseworker owns it.
    unnamed = support_task(_placement(), SupportTaskReason.ATTENDANCE_RISK, "t", DAY)
    assert (unnamed.owner, unnamed.due_date) == ("Kommunens handläggare", DAY + timedelta(days=7))


def test_an_offer_unanswered_past_its_response_days_expires_as_declined() -> None:
    offer = _placement()
    # Seven days to answer: the seventh day after the offer is still in time.
    assert expired(offer, 7, DAY + timedelta(days=7)) is None
    result = expired(offer, 7, DAY + timedelta(days=8))
    assert result is not None
    assert (result.placement.status, result.change) == (PlacementStatus.DECLINED, "expired")
    assert result.frees_place


def test_an_offer_made_weeks_after_its_referral_date_has_its_whole_time_to_answer() -> None:
    # A referral's first offer counts its dates from the referral; the person heard of it only
    # when it was made.
    late = _placement(made_on=DAY + timedelta(days=30))
    assert expired(late, 7, DAY + timedelta(days=37)) is None
    assert expired(late, 7, DAY + timedelta(days=38)) is not None


def test_answered_offers_and_programmes_without_a_response_time_never_expire() -> None:
    late = DAY + timedelta(days=365)
    assert expired(_placement(), None, late) is None
    for status in (PlacementStatus.ACCEPTED, PlacementStatus.STARTED, PlacementStatus.DECLINED):
        assert expired(_placement(status), 7, late) is None


# --- exits from the programme ----------------------------------------------------------------


def _exit(
    reason: ExitReason, on: date = DAY, programme_id: str = "halmstad-150"
) -> ParticipationExited:
    return ParticipationExited(
        participant_id="p",
        programme_id=programme_id,
        referral_id="r-1",
        municipality="1380",
        reason=reason,
        exited_on=on,
    )


def test_an_exit_withdraws_an_offer_answered_or_not() -> None:
    for status in (PlacementStatus.OFFERED, PlacementStatus.ACCEPTED):
        result = withdraw_on_exit(_placement(status), _exit(ExitReason.WITHDRAWN))
        assert result is not None
        assert (result.placement.status, result.change, result.ended) == (
            PlacementStatus.DECLINED,
            "withdrawn",
            None,
        )


def test_an_exit_during_a_placement_ends_it_with_the_programme_and_a_matching_reason() -> None:
    started = _placement(PlacementStatus.STARTED, start_date=DAY)
    result = withdraw_on_exit(started, _exit(ExitReason.FOUND_WORK, DAY + timedelta(days=30)))
    assert result is not None and result.ended is not None
    assert result.ended.reason is EndReason.MOVED_TO_WORK
    assert result.ended.exits_programme is True
    assert result.ended.end_date == DAY + timedelta(days=30)
    assert result.placement.status is PlacementStatus.ENDED
    # Support continues after a move to work, as after any placement that ends in work.
    assert len(support_check_ins(result.ended)) == 3
    # Death or an erroneous registration tells the partner nothing more than that it ended.
    paused = replace(started, status=PlacementStatus.PAUSED)
    for reason in (ExitReason.DECEASED, ExitReason.ERRONEOUS_REGISTRATION, ExitReason.UNAVAILABLE):
        other = withdraw_on_exit(paused, _exit(reason))
        assert other is not None and other.ended is not None
        assert other.ended.reason is EndReason.OTHER


def test_an_exit_dated_before_the_start_ends_the_placement_the_day_it_began() -> None:
    started = _placement(PlacementStatus.STARTED, start_date=DAY)
    result = withdraw_on_exit(started, _exit(ExitReason.NO_CONTACT, DAY - timedelta(days=5)))
    assert result is not None and result.ended is not None
    assert result.ended.end_date == DAY
    assert result.ended.reason is EndReason.DROPPED_OUT


def test_an_exit_leaves_other_programmes_and_finished_placements_alone() -> None:
    assert withdraw_on_exit(_placement(), _exit(ExitReason.WITHDRAWN, programme_id="other")) is None
    for status in (PlacementStatus.DECLINED, PlacementStatus.ENDED):
        assert withdraw_on_exit(_placement(status), _exit(ExitReason.WITHDRAWN)) is None


def test_a_person_leaves_the_queue_wherever_they_stand_in_it() -> None:
    programme_book = book()
    programme_book.waiting_total = 40  # most of the queue was not loaded
    far_back = entry("p-far")
    programme_book.withdraw(far_back)
    assert programme_book.removed_from_queue == [far_back]
    assert programme_book.waiting_total == 39
    near = entry("p-near")
    programme_book.enqueue(near)
    programme_book.withdraw(near)
    assert programme_book.waiting == []
    assert programme_book.waiting_total == 39
