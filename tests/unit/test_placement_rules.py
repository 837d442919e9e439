from datetime import UTC, date, datetime

from services.placement.domain import (
    ActivePlacement,
    ProgrammeBook,
    Refusal,
    WaitingEntry,
    end_placement,
)
from shared.contracts.municipal import PriorityRule
from shared.contracts.partner import PlacementEndReported
from shared.contracts.placement import PlacementEnded
from shared.contracts.vocabulary import ActivityType, EndReason
from tests.unit.factories import agreement, programme

DAY = date(2026, 3, 2)


def book(
    capacity: int = 2, places: int = 2, rule: PriorityRule = PriorityRule.INCOME_SUPPORT_FIRST
) -> ProgrammeBook:
    result = ProgrammeBook(
        programme_id="halmstad-150",
        definition=programme(capacity=capacity, priority=rule),
        agreements={},
        active=0,
        waiting=[],
        waiting_total=0,
    )
    result.sign(agreement(places=places))
    return result


def entry(pid: str, *, income_support: bool, referred: date, minute: int = 0) -> WaitingEntry:
    return WaitingEntry(
        participant_id=pid,
        programme_id="halmstad-150",
        municipality="1380",
        income_support=income_support,
        referral_date=referred,
        enrolled_at=datetime(2026, 3, 1, 9, minute, tzinfo=UTC),
    )


def test_income_support_recipients_are_placed_first() -> None:
    programme_book = book(capacity=1, places=1)
    programme_book.enqueue(entry("early-without", income_support=False, referred=date(2026, 1, 5)))
    programme_book.enqueue(entry("later-with", income_support=True, referred=date(2026, 2, 20)))
    started = programme_book.allocate(DAY, "cause")
    assert [p.participant_id for p in started] == ["later-with"]
    assert "income-support" in started[0].decision


def test_without_the_priority_rule_the_earliest_referral_goes_first() -> None:
    programme_book = book(capacity=1, places=1, rule=PriorityRule.REFERRAL_DATE)
    programme_book.enqueue(entry("later-with", income_support=True, referred=date(2026, 2, 20)))
    programme_book.enqueue(entry("early-without", income_support=False, referred=date(2026, 1, 5)))
    assert [p.participant_id for p in programme_book.allocate(DAY, "c")] == ["early-without"]


def test_equal_priority_and_date_go_in_the_order_they_were_enrolled() -> None:
    programme_book = book(capacity=1, places=1)
    programme_book.enqueue(entry("second", income_support=True, referred=DAY, minute=5))
    programme_book.enqueue(entry("first", income_support=True, referred=DAY, minute=1))
    assert [p.participant_id for p in programme_book.allocate(DAY, "c")] == ["first"]


def test_a_full_programme_places_no_one_and_keeps_the_queue() -> None:
    programme_book = book(capacity=2, places=5)
    for n in range(4):
        programme_book.enqueue(entry(f"p{n}", income_support=True, referred=DAY, minute=n))
    assert len(programme_book.allocate(DAY, "c")) == 2
    assert programme_book.allocate(DAY, "again") == []
    assert programme_book.waiting_total == 2
    assert programme_book.active == 2


def test_places_are_bounded_by_the_partners_agreements_as_well_as_capacity() -> None:
    programme_book = book(capacity=10, places=1)
    for n in range(3):
        programme_book.enqueue(entry(f"p{n}", income_support=True, referred=DAY, minute=n))
    assert len(programme_book.allocate(DAY, "c")) == 1


def test_a_programme_without_agreements_has_no_place_to_offer() -> None:
    programme_book = book()
    programme_book.agreements.clear()
    programme_book.enqueue(entry("p", income_support=True, referred=DAY))
    assert programme_book.allocate(DAY, "c") == []


def test_people_referred_before_the_programme_opens_start_on_its_first_day() -> None:
    programme_book = book()
    programme_book.define(programme(capacity=2, period_start=date(2026, 4, 1)))
    programme_book.enqueue(entry("p", income_support=True, referred=DAY))
    [started] = programme_book.allocate(DAY, "c")
    assert started.start_date == date(2026, 4, 1)
    assert started.waited_days == 30


def test_an_ended_placement_frees_its_place_for_the_next_in_line() -> None:
    programme_book = book(capacity=1, places=1)
    programme_book.enqueue(entry("first", income_support=True, referred=DAY, minute=1))
    programme_book.enqueue(entry("second", income_support=True, referred=DAY, minute=2))
    [first] = programme_book.allocate(DAY, "c1")
    placement = ActivePlacement(
        placement_id=first.placement_id,
        participant_id="first",
        programme_id="halmstad-150",
        partner_id=first.partner_id,
        agreement_id=first.agreement_id,
        municipality="1380",
        activity=ActivityType.ARBETSTRANING,
        start_date=first.start_date,
    )
    programme_book.release(placement)
    [second] = programme_book.allocate(date(2026, 5, 1), "c2")
    assert second.participant_id == "second"
    assert second.waited_days == (date(2026, 5, 1) - DAY).days


def test_placement_ids_are_the_same_when_the_same_input_is_handled_again() -> None:
    one, two = book(), book()
    for b in (one, two):
        b.enqueue(entry("p", income_support=True, referred=DAY))
    assert one.allocate(DAY, "same")[0].placement_id == two.allocate(DAY, "same")[0].placement_id


def _active(**changes: object) -> ActivePlacement:
    values: dict[str, object] = {
        "placement_id": "pl-1",
        "participant_id": "p",
        "programme_id": "halmstad-150",
        "partner_id": "erikshjalpen",
        "agreement_id": "a-1",
        "municipality": "1380",
        "activity": ActivityType.ARBETSTRANING,
        "start_date": DAY,
    }
    values.update(changes)
    return ActivePlacement(**values)  # type: ignore[arg-type]


def _report(**changes: object) -> PlacementEndReported:
    values: dict[str, object] = {
        "placement_id": "pl-1",
        "participant_id": "p",
        "reason": EndReason.MOVED_TO_WORK,
        "end_date": date(2026, 6, 1),
    }
    values.update(changes)
    return PlacementEndReported(**values)


def test_a_reported_end_ends_an_active_placement() -> None:
    result = end_placement(_active(), _report())
    assert isinstance(result, PlacementEnded)
    assert result.reason is EndReason.MOVED_TO_WORK


def test_ending_an_unknown_or_ended_placement_is_refused_with_a_reason() -> None:
    assert isinstance(end_placement(None, _report()), Refusal)
    refusal = end_placement(_active(status="ended"), _report())
    assert isinstance(refusal, Refusal)
    assert "already ended" in refusal.reason


def test_an_end_before_the_start_is_refused() -> None:
    refusal = end_placement(_active(), _report(end_date=date(2026, 1, 1)))
    assert isinstance(refusal, Refusal)
    assert "before the start" in refusal.reason


def test_an_end_reported_for_someone_else_is_refused() -> None:
    assert isinstance(end_placement(_active(), _report(participant_id="other")), Refusal)
