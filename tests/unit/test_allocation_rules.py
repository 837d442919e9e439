"""Priority that holds under contention: places go down the whole queue in priority order, never
in arrival order; rounds at set times; places held for income-support recipients; and every
offer says why. Pure rules: the same on the real stack in tests/integration/test_allocation.py."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.placement.domain import (
    ProgrammeBook,
    WaitingEntry,
    iop_eligibility,
    latest_round,
)
from shared.contracts.municipal import (
    AgreementKind,
    Allocation,
    AllocationMode,
    PriorityRule,
    Reservation,
    Weekday,
)
from tests.unit.factories import agreement, programme

DAY = date(2026, 11, 20)


def _book(capacity: int, **programme_changes: object) -> ProgrammeBook:
    book = ProgrammeBook(
        "kungsbacka-iop",
        programme(
            programme_id="kungsbacka-iop",
            capacity=capacity,
            priority=PriorityRule.INCOME_SUPPORT_FIRST,
            **programme_changes,
        ),
        {},
        0,
        [],
        0,
    )
    book.sign(
        agreement(programme_id="kungsbacka-iop", places=capacity, kind=AgreementKind.SOCIAL_CLAUSE),
        "1384",
        iop_eligibility(AgreementKind.SOCIAL_CLAUSE, {}, [], []),
    )
    return book


def _person(pid: str, income_support: bool, referred: date, arrival: int = 0) -> WaitingEntry:
    return WaitingEntry(
        participant_id=pid,
        programme_id="kungsbacka-iop",
        municipality="1384",
        income_support=income_support,
        referral_date=referred,
        enrolled_at=datetime(2026, 11, 20, 9, tzinfo=UTC) + timedelta(milliseconds=arrival),
    )


def _the_burst() -> list[WaitingEntry]:
    """The issue's case: 20 without income support (referred 1-20 October), 10 with it
    (referred 1-10 November)."""
    without = [_person(f"o{n:02d}", False, date(2026, 10, n)) for n in range(1, 21)]
    with_support = [_person(f"f{n:02d}", True, date(2026, 11, n)) for n in range(1, 11)]
    return without + with_support


def test_a_burst_in_one_batch_gives_the_places_to_income_support_recipients_by_date() -> None:
    for seed in range(20):
        arrivals = _the_burst()
        random.Random(seed).shuffle(arrivals)
        book = _book(10)
        for entry in arrivals:
            book.enqueue(entry)
        offers = book.allocate(DAY, "burst")
        assert [o.participant_id for o in offers] == [f"f{n:02d}" for n in range(1, 11)]
        assert [o.queue_position for o in offers] == list(range(1, 11))
        assert {o.priority_class for o in offers} == {"forsorjningsstod"}
        assert {o.ranked_by for o in offers} == {"forsorjningsstod_forst"}


def _pure_ranking(entries: list[WaitingEntry], places: int) -> list[str]:
    ranked = sorted(entries, key=lambda e: e.rank(PriorityRule.INCOME_SUPPORT_FIRST))
    return [e.participant_id for e in ranked[:places]]


people = st.lists(
    st.tuples(st.booleans(), st.dates(date(2026, 8, 1), date(2026, 11, 19))),
    min_size=1,
    max_size=40,
)


@given(people=people, places=st.integers(0, 15), seed=st.integers(0, 10_000), data=st.data())
def test_offers_equal_a_pure_ranking_whatever_the_arrival_order_and_batch_split(
    people: list[tuple[bool, date]], places: int, seed: int, data: st.DataObject
) -> None:
    entries = [
        _person(f"p{n:02d}", support, referred, arrival=n)
        for n, (support, referred) in enumerate(people)
    ]
    arrivals = entries[:]
    random.Random(seed).shuffle(arrivals)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrivals)), max_size=5)))
    batches = [arrivals[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrivals)], strict=True)]
    # Allocation once everyone of the burst has arrived (a round, or a settled burst): the
    # offers are what ranking the whole queue gives.
    book = _book(places)
    for batch in batches:
        for entry in batch:
            book.enqueue(entry)
    offered = [o.participant_id for o in book.allocate(DAY, "round")]
    assert offered == _pure_ranking(entries, places)
    # Allocation after every batch: each batch's offers are the ranking of who waits then.
    book = _book(places)
    waiting: list[WaitingEntry] = []
    for batch in batches:
        for entry in batch:
            book.enqueue(entry)
        waiting += batch
        free = places - book.occupied
        expected = _pure_ranking(waiting, free)
        got = [o.participant_id for o in book.allocate(DAY, f"batch{len(waiting)}")]
        assert got == expected
        waiting = [w for w in waiting if w.participant_id not in got]


def test_held_places_wait_for_the_group_until_their_days_are_over() -> None:
    book = _book(12, reserved=Reservation(places=8, days=14))
    for n in range(1, 8):
        book.enqueue(_person(f"o{n}", False, date(2026, 10, n)))
    day = date(2026, 11, 2)
    offered = book.allocate(day, "first")
    # 12 places, 8 held for income-support recipients: four go to the others at once.
    assert [o.participant_id for o in offered] == ["o1", "o2", "o3", "o4"]
    assert book.allocate(day + timedelta(days=13), "not yet") == []
    book.enqueue(_person("f1", True, date(2026, 11, 10)))
    [held] = book.allocate(day + timedelta(days=13), "one of the group")
    assert (held.participant_id, held.reserved_place) == ("f1", True)
    # After 14 days free, the held places open to everyone.
    later = [o.participant_id for o in book.allocate(day + timedelta(days=14), "open")]
    assert later == ["o5", "o6", "o7"]


def test_a_place_freed_by_the_group_is_held_for_the_group_again() -> None:
    book = _book(2, reserved=Reservation(places=1, days=30))
    book.enqueue(_person("f1", True, date(2026, 10, 1)))
    book.enqueue(_person("o1", False, date(2026, 10, 2)))
    assert [o.participant_id for o in book.allocate(DAY, "a")] == ["f1", "o1"]
    book.release("a-1", in_group=True)  # f1's placement ends
    book.enqueue(_person("o2", False, date(2026, 10, 3)))
    assert book.allocate(DAY + timedelta(days=1), "b") == []
    book.enqueue(_person("f2", True, date(2026, 11, 1)))
    assert [o.participant_id for o in book.allocate(DAY + timedelta(days=2), "c")] == ["f2"]


def test_rounds_are_held_at_their_time_on_their_days_in_swedish_time() -> None:
    weekdays = Allocation(
        mode=AllocationMode.ROUNDS,
        weekdays=[
            Weekday.MONDAY,
            Weekday.TUESDAY,
            Weekday.WEDNESDAY,
            Weekday.THURSDAY,
            Weekday.FRIDAY,
        ],
        at="08:00",
    )
    # Friday 20 November 2026, 06:59 UTC is 07:59 in Sweden: Thursday's round is the latest.
    before = latest_round(weekdays, datetime(2026, 11, 20, 6, 59, tzinfo=UTC))
    after = latest_round(weekdays, datetime(2026, 11, 20, 7, 0, tzinfo=UTC))
    assert before is not None and after is not None
    assert before.date() == date(2026, 11, 19)
    assert after.date() == date(2026, 11, 20)
    # On a Sunday the latest is Friday's.
    sunday = latest_round(weekdays, datetime(2026, 11, 22, 12, tzinfo=UTC))
    assert sunday is not None and sunday.date() == date(2026, 11, 20)
    weekly = Allocation(mode=AllocationMode.ROUNDS, weekdays=[Weekday.MONDAY], at="09:30")
    monday = latest_round(weekly, datetime(2026, 11, 25, tzinfo=UTC))
    assert monday is not None and (monday.date(), monday.hour, monday.minute) == (
        date(2026, 11, 23),
        9,
        30,
    )
    assert latest_round(Allocation(), datetime(2026, 11, 25, tzinfo=UTC)) is None


def test_each_offer_says_why_this_person_now() -> None:
    book = _book(1)
    book.enqueue(_person("o1", False, date(2026, 10, 1)))
    [offer] = book.allocate(DAY, "why", round_id="kungsbacka-iop@2026-11-20T08:00:00+01:00")
    assert offer.priority_class == "ovriga"
    assert offer.waited_days == (DAY - date(2026, 10, 1)).days
    assert offer.round_id == "kungsbacka-iop@2026-11-20T08:00:00+01:00"
    assert "i mån av plats" in offer.decision
